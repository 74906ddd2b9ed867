"""Rupiah offers beside the Stars ones (URL buttons to the service's pay links), and the
reminders switch under the output settings."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import text
from bot.rupiah_offers import Offer

CHANNEL = "telegram"
REMINDERS = "reminders"  # the settings button `set:reminders` turns reminders on or off


def with_rupiah_text(body: str, offers: Sequence[Offer], title_key: str, language: str) -> str:
    """The message with a short section on paying in rupiah, when rupiah payments exist."""
    if not offers:
        return body
    return "\n\n".join([body, text(title_key, language)])


def with_rupiah_buttons(
    keyboard: InlineKeyboardMarkup, offers: Sequence[Offer]
) -> InlineKeyboardMarkup:
    """The Stars keyboard with one URL button per rupiah offer under it."""
    rows = [list(row) for row in keyboard.inline_keyboard]
    rows.extend([InlineKeyboardButton(f"💳 {offer.label}", url=offer.url)] for offer in offers)
    return InlineKeyboardMarkup(rows)


def with_reminder_toggle(
    keyboard: InlineKeyboardMarkup, enabled: bool, language: str
) -> InlineKeyboardMarkup:
    """The settings keyboard with the reminders switch as its last row."""
    label = text("remind.toggle_on" if enabled else "remind.toggle_off", language)
    rows = [list(row) for row in keyboard.inline_keyboard]
    rows.append([InlineKeyboardButton(label, callback_data=f"set:{REMINDERS}")])
    return InlineKeyboardMarkup(rows)
