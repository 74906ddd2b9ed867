"""Buttons of a batch in progress and of a delivered one: Cancel the rest, Redo."""

from __future__ import annotations

from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat import next_tier, redo_label, shown_name
from bot.messages import text
from bot.telegram.keyboards import callback
from services.history import BatchView
from services.redo import BatchImages

CANCEL_BATCH = "bc"
REDO_BATCH = "rd"
# `ri:<batch>:<offset>` lists a page of the batch's images; `rj:<job>` quotes one of them.
REDO_IMAGES = "ri"
REDO_IMAGE = "rj"
IMAGES_PER_PAGE = 8
BUTTON_NAME_CHARS = 32


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


def redo_keyboard(
    batch_id: int, tier: str, language: str, images: int = 1
) -> InlineKeyboardMarkup | None:
    """Quote the same inputs again, to pick a higher tier (priced as new); for a batch of
    several images, also one of them alone."""
    label = redo_label(tier, language)
    if label is None:
        return None
    row = [InlineKeyboardButton(label, callback_data=callback(REDO_BATCH, batch_id))]
    if images > 1:
        row.append(
            InlineKeyboardButton(
                text("redo.one_button", language),
                callback_data=callback(REDO_IMAGES, batch_id, 0),
            )
        )
    return InlineKeyboardMarkup([row])


def batch_images_keyboard(page: BatchImages, language: str) -> InlineKeyboardMarkup:
    """One button per image of the page, and the next page's button while there is one."""
    rows = [
        [
            InlineKeyboardButton(
                f"🔁 {shown_name(image.name)[:BUTTON_NAME_CHARS]}",
                callback_data=callback(REDO_IMAGE, image.job_id),
            )
        ]
        for image in page.images
    ]
    if page.next_offset is not None:
        rows.append(
            [
                InlineKeyboardButton(
                    text("redo.more", language),
                    callback_data=callback(REDO_IMAGES, page.batch_id, page.next_offset),
                )
            ]
        )
    return InlineKeyboardMarkup(rows)


def history_redo_buttons(batches: Iterable[BatchView], language: str) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text("redo.history_button", language, batch=batch.batch_id),
            callback_data=callback(REDO_BATCH, batch.batch_id),
        )
        for batch in batches
        if next_tier(batch.tier) is not None
    ] + [
        InlineKeyboardButton(
            text("redo.history_one_button", language, batch=batch.batch_id),
            callback_data=callback(REDO_IMAGES, batch.batch_id, 0),
        )
        for batch in batches
        if next_tier(batch.tier) is not None and batch.image_count > 1
    ]
