"""Results and progress to Telegram chats, from any process that runs the workers."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup, InputFile
from telegram.constants import FileSizeLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot.messages import text
from bot.telegram.extra_keyboards import batch_cancel_keyboard, redo_keyboard
from services.settings import Settings
from workers.delivery import Chat, DeliveryError

log = logging.getLogger(__name__)


def make_bot(settings: Settings) -> ExtBot[Any]:
    """A bot client pointed at the configured Bot API server, paced by the rate limiter."""
    assert settings.telegram_bot_token is not None
    return ExtBot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_url,
        base_file_url=settings.telegram_file_url,
        local_mode=settings.telegram_local_mode,
        rate_limiter=AIORateLimiter(max_retries=3),
    )


def is_not_modified(error: BadRequest) -> bool:
    """Telegram refuses an edit that changes nothing; that is not a failure."""
    return "not modified" in error.message.lower()


class TelegramDelivery:
    """Delivery through a bare bot client, made lazily on the event loop that uses it.

    Workers run their own event loop (in the web process too, on Dramatiq's loop thread), and
    an HTTP client belongs to the loop that opened it: one client per loop.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.progress_interval = timedelta(seconds=settings.telegram_progress_seconds)
        # A local Bot API server takes uploads up to 2000 MB; the public one up to 50 MB.
        self.upload_limit: int = (
            FileSizeLimit.FILESIZE_UPLOAD_LOCAL_MODE
            if settings.telegram_local_mode
            else FileSizeLimit.FILESIZE_UPLOAD
        )
        self._bots: dict[asyncio.AbstractEventLoop, ExtBot[Any]] = {}

    async def _bot(self) -> ExtBot[Any]:
        loop = asyncio.get_running_loop()
        bot = self._bots.get(loop)
        if bot is None:
            bot = make_bot(self.settings)
            try:
                await bot.initialize()
            except TelegramError as error:
                raise DeliveryError(f"Telegram is unreachable: {error}") from error
            self._bots[loop] = bot
        return bot

    async def send_text(self, chat: Chat, message: str) -> None:
        await self._send(chat, message, None)

    async def send_summary(self, chat: Chat, message: str) -> None:
        """The summary, with a button to redo the batch at a higher tier."""
        markup = None
        if "batch_id" in chat and "tier" in chat:
            language = str(chat.get("language", "en"))
            markup = redo_keyboard(
                int(chat["batch_id"]), str(chat["tier"]), language, int(chat.get("images", 1))
            )
        await self._send(chat, message, markup)

    async def _send(self, chat: Chat, message: str, markup: InlineKeyboardMarkup | None) -> None:
        bot = await self._bot()
        if "message_id" in chat:
            # The workers' last word is the summary, and the status message would otherwise
            # stay at its last progress: it takes the summary's first line (and loses Cancel).
            await self._settle_status(bot, chat, message.split("\n", 1)[0])
        try:
            await bot.send_message(chat_id=int(chat["chat_id"]), text=message, reply_markup=markup)
        except TelegramError as error:
            raise DeliveryError(f"message not sent: {error}") from error

    async def _settle_status(self, bot: ExtBot[Any], chat: Chat, line: str) -> None:
        try:
            await bot.edit_message_text(
                chat_id=int(chat["chat_id"]), message_id=int(chat["message_id"]), text=line
            )
        except TelegramError:
            log.info("status message of chat %s not settled", chat["chat_id"], exc_info=True)

    async def edit_status(self, chat: Chat, message: str) -> None:
        if "message_id" not in chat:
            return
        bot = await self._bot()
        # An edit without the keyboard would remove the Cancel button of the batch in progress.
        markup = (
            batch_cancel_keyboard(int(chat["batch_id"]), str(chat.get("language", "en")))
            if "batch_id" in chat
            else None
        )
        try:
            await bot.edit_message_text(
                chat_id=int(chat["chat_id"]),
                message_id=int(chat["message_id"]),
                text=message,
                reply_markup=markup,
            )
        except BadRequest as error:
            if not is_not_modified(error):
                raise DeliveryError(f"status not edited: {error}") from error
        except TelegramError as error:
            raise DeliveryError(f"status not edited: {error}") from error

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        if size > self.upload_limit:
            # Telegram would refuse it on every retry: say so instead of failing the delivery.
            language = str(chat.get("language", "en"))
            await self.send_text(
                chat,
                text(
                    "tg.upload_too_large",
                    language,
                    name=filename,
                    size_mb=round(size / 10**6),
                    limit_mb=round(self.upload_limit / 10**6),
                ),
            )
            return
        bot = await self._bot()
        # Uploaded as bytes even in local mode, where a path would only work on the machine
        # that runs the Bot API server.
        content = await asyncio.to_thread(path.read_bytes)
        try:
            await bot.send_document(
                chat_id=int(chat["chat_id"]),
                document=InputFile(content, filename=filename),
                caption=caption,
                # Telegram would otherwise show a PNG as a flattened photo preview.
                disable_content_type_detection=True,
                write_timeout=120,
            )
        except TelegramError as error:
            raise DeliveryError(f"{filename} not sent: {error}") from error

    async def close(self) -> None:
        """Close the clients made on the running loop."""
        bot = self._bots.pop(asyncio.get_running_loop(), None)
        if bot is not None:
            await bot.shutdown()
