"""Buttons of a batch in progress and of a delivered one: Cancel the rest, Redo."""

from __future__ import annotations

from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import text
from bot.telegram.keyboards import callback
from services.history import BatchView
from services.pricing import Tier

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


def can_redo_higher(tier: str) -> bool:
    """Industry is the best tier: a batch at any other tier can be redone higher."""
    return tier in {t.value for t in Tier} and Tier(tier) is not Tier.INDUSTRY


def redo_keyboard(batch_id: int, tier: str, language: str) -> InlineKeyboardMarkup | None:
    """One button: quote the same inputs again, to pick a higher tier (priced as new)."""
    if not can_redo_higher(tier):
        return None
    higher = [t for t in Tier if list(Tier).index(t) > list(Tier).index(Tier(tier))]
    label = text("redo.button", language, tier=text(f"tier.{higher[0].value}", language) + "+")
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
        if can_redo_higher(batch.tier)
    ]
