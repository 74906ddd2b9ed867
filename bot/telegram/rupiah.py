"""Rupiah offers beside the Stars ones (URL buttons to the service's pay links), and the
reminders switch under the output settings."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import text
from bot.rupiah_offers import Offer

log = logging.getLogger(__name__)

CHANNEL = "telegram"
REMINDERS = "reminders"  # the settings button `set:reminders` turns reminders on or off


def _public(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a domain name


def _buttonable(offers: Sequence[Offer]) -> list[Offer]:
    # Telegram refuses the whole message when a button links to a local address; without a
    # public PUBLIC_BASE_URL the rupiah offers are left out rather than breaking /buy.
    usable = [offer for offer in offers if _public(offer.url)]
    if len(usable) < len(offers):
        log.warning("rupiah pay links need a public PUBLIC_BASE_URL; not offered on Telegram")
    return usable


def with_rupiah_text(body: str, offers: Sequence[Offer], title_key: str, language: str) -> str:
    """The message with a short section on paying in rupiah, when rupiah payments exist."""
    if not _buttonable(offers):
        return body
    return "\n\n".join([body, text(title_key, language)])


def with_rupiah_buttons(
    keyboard: InlineKeyboardMarkup, offers: Sequence[Offer]
) -> InlineKeyboardMarkup:
    """The Stars keyboard with one URL button per rupiah offer under it."""
    rows = [list(row) for row in keyboard.inline_keyboard]
    rows.extend(
        [InlineKeyboardButton(f"💳 {offer.label}", url=offer.url)] for offer in _buttonable(offers)
    )
    return InlineKeyboardMarkup(rows)


def with_reminder_toggle(
    keyboard: InlineKeyboardMarkup, enabled: bool, language: str
) -> InlineKeyboardMarkup:
    """The settings keyboard with the reminders switch as its last row."""
    label = text("remind.toggle_on" if enabled else "remind.toggle_off", language)
    rows = [list(row) for row in keyboard.inline_keyboard]
    rows.append([InlineKeyboardButton(label, callback_data=f"set:{REMINDERS}")])
    return InlineKeyboardMarkup(rows)
