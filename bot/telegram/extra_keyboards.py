"""Buttons of a batch in progress and of a delivered one: Cancel the rest, Redo."""

from __future__ import annotations

from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat import next_tier, redo_label
from bot.messages import text
from bot.telegram.keyboards import callback
from services.history import BatchView

CANCEL_BATCH = "bc"
REDO_BATCH = "rd"


def batch_cancel_keyboard(batch_id: int, language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text("batch.cancel", language), callback_data=callback(CANCEL_BATCH, batch_id)
                )
            ]
        ]
    )


def redo_keyboard(batch_id: int, tier: str, language: str) -> InlineKeyboardMarkup | None:
    """One button: quote the same inputs again, to pick a higher tier (priced as new)."""
    label = redo_label(tier, language)
    if label is None:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=callback(REDO_BATCH, batch_id))]]
    )


def history_redo_buttons(batches: Iterable[BatchView], language: str) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text("redo.history_button", language, batch=batch.batch_id),
            callback_data=callback(REDO_BATCH, batch.batch_id),
        )
        for batch in batches
        if next_tier(batch.tier) is not None
    ]
