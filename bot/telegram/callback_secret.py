"""The callback signing secret in `/apikey`: ask, confirm, and show the new secret once.

The same service function as `POST /callback-secret` makes it. The confirmation button names
the secret it replaces (a tag, never the secret), so a double tap rotates once.
"""

from __future__ import annotations

import asyncio

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.chat import error_text
from bot.messages import text
from bot.telegram.context import BotContext
from bot.telegram.keyboards import callback
from bot.telegram.session import person
from services.api_keys import (
    CallbackSecretChanged,
    callback_secret_version,
    callback_signing_key,
    rotate_callback_secret,
)
from services.clock import utcnow
from services.errors import ServiceError

CALLBACK_SECRET = "cs"


def callback_secret_keyboard(language: str) -> InlineKeyboardMarkup:
    """The `/apikey` button that leads to a new callback signing secret."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text("chat.apikey.secret_button", language),
                    callback_data=callback(CALLBACK_SECRET),
                )
            ]
        ]
    )


async def ask_callback_secret(update: Update, context: BotContext) -> None:
    """Warn that a new secret replaces the old one at once, and ask to confirm."""
    query = update.callback_query
    message = update.effective_message
    assert query is not None and message is not None
    account = await person(update, context)
    language = account.language
    # Callback queries must be answered or the client shows a spinner.
    await query.answer()
    version = await callback_secret_version(context.deps.uow(), account.id)
    await message.reply_text(
        text("chat.apikey.secret_warning", language),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        text("chat.apikey.secret_confirm", language),
                        callback_data=callback(CALLBACK_SECRET, version),
                    )
                ]
            ]
        ),
    )


async def rotate_secret(update: Update, context: BotContext) -> None:
    """Make the new callback signing secret and show it once, in place of the warning."""
    query = update.callback_query
    message = update.effective_message
    assert query is not None and query.data is not None and message is not None
    account = await person(update, context)
    language = account.language
    settings = context.deps.settings
    configured = settings.callback_signing_key
    # The key file is read (or made) on disk: not on the event loop.
    server_key = await asyncio.to_thread(
        callback_signing_key,
        configured.get_secret_value() if configured is not None else None,
        settings.data_dir,
    )
    try:
        secret = await rotate_callback_secret(
            context.deps.uow(),
            account.id,
            server_key,
            now=utcnow(),
            replacing=query.data.split(":", 1)[1],
        )
    except CallbackSecretChanged:
        await query.answer(text("chat.apikey.secret_stale", language), show_alert=True)
        return
    except ServiceError as error:
        await query.answer(error_text(error, language), show_alert=True)
        return
    await query.answer()
    await message.edit_text(text("chat.apikey.secret_new", language, secret=secret))
