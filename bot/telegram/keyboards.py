"""Inline keyboards and their callback data, which stays within Telegram's 64 bytes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat import cancel_label, tier_choices
from bot.messages import text
from services.billing import QuoteOffer
from services.history import BatchView
from services.imaging.compose import OutputOptions

# Telegram refuses a button whose callback data is longer than 64 bytes.
CALLBACK_DATA_LIMIT = 64
CANCEL = "cancel"


def callback(*parts: object) -> str:
    """Join the parts of a button's callback data, checking Telegram's size limit."""
    data = ":".join(str(part) for part in parts)
    if not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data must be 1 to 64 bytes: {data!r}")
    return data


def quote_keyboard(offer: QuoteOffer, language: str) -> InlineKeyboardMarkup:
    """One button per tier, two to a row, then Cancel; each names the quote."""
    buttons = [
        InlineKeyboardButton(choice.label, callback_data=callback("q", offer.quote_id, choice.tier))
        for choice in tier_choices(offer, language)
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(
        [
            InlineKeyboardButton(
                cancel_label(language), callback_data=callback("q", offer.quote_id, CANCEL)
            )
        ]
    )
    return InlineKeyboardMarkup(rows)


def packs_keyboard(packs: Mapping[int, int], language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text("tg.buy.button", language, credits=credits, stars=stars),
                    callback_data=callback("buy", credits),
                )
            ]
            for credits, stars in packs.items()
        ]
    )


def plans_keyboard(
    prices: Mapping[str, int], language: str, *, can_cancel: bool
) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text("tg.plan.button", language, plan=code.title(), stars=stars),
                callback_data=callback("plan", code),
            )
        ]
        for code, stars in prices.items()
    ]
    if can_cancel:
        rows.append(
            [
                InlineKeyboardButton(
                    text("tg.plan.cancel_button", language), callback_data=callback("plan", CANCEL)
                )
            ]
        )
    return InlineKeyboardMarkup(rows)


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🇮🇩 Bahasa Indonesia", callback_data=callback("lang", "id")),
                InlineKeyboardButton("🇬🇧 English", callback_data=callback("lang", "en")),
            ]
        ]
    )


def settings_keyboard(options: OutputOptions, language: str) -> InlineKeyboardMarkup:
    """Toggles for the output options; the current choice carries a tick."""

    def tick(label: str, chosen: bool) -> str:
        return f"✓ {label}" if chosen else label

    transparent = text("chat.settings.transparent", language).capitalize()
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tick(transparent, options.background is None),
                    callback_data=callback("set", "bg", "none"),
                ),
                InlineKeyboardButton(
                    tick("⬜", options.background in {"white", "#ffffff"}),
                    callback_data=callback("set", "bg", "white"),
                ),
            ],
            [
                InlineKeyboardButton(tick("Crop", options.crop), callback_data="set:crop"),
                InlineKeyboardButton(tick("Square", options.square), callback_data="set:square"),
                InlineKeyboardButton(
                    tick("Marketplace", options.marketplace), callback_data="set:marketplace"
                ),
            ],
            [
                InlineKeyboardButton(
                    tick(name.upper(), options.format == name),
                    callback_data=callback("set", "fmt", name),
                )
                for name in ("png", "jpeg", "webp")
            ],
        ]
    )


def history_keyboard(batches: Iterable[BatchView], language: str) -> InlineKeyboardMarkup | None:
    rows = [
        [
            InlineKeyboardButton(
                text("chat.history.resend", language, batch=batch.batch_id),
                callback_data=callback("h", batch.batch_id),
            )
        ]
        for batch in batches
        if batch.results
    ]
    return InlineKeyboardMarkup(rows) if rows else None
