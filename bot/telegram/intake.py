"""From photos, image files, albums and ZIPs to a quote with one button per tier."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Hashable
from datetime import timedelta
from pathlib import Path, PurePath

from telegram import Bot, Message, Update
from telegram.constants import FileSizeLimit
from telegram.error import TelegramError

from bot.chat import error_text, file_too_large_text, quote_text
from bot.messages import text, text_count
from bot.telegram.context import BotContext, IncomingFile, TelegramDeps
from bot.telegram.extras import send_preview
from bot.telegram.keyboards import quote_keyboard
from bot.telegram.session import person
from services.clock import utcnow
from services.errors import ServiceError
from services.settings import Settings
from services.uploads import ReceivedFile, quote_upload

log = logging.getLogger(__name__)


def download_limit_bytes(settings: Settings) -> int:
    """The largest file the bot may fetch: 20 MB from the public Bot API, else our own limit."""
    own = settings.max_upload_mb * 2**20
    return own if settings.telegram_local_mode else min(own, FileSizeLimit.FILESIZE_DOWNLOAD)


def _incoming(message: Message, account_id: int, language: str) -> IncomingFile | None:
    if message.photo:
        # The largest rendition Telegram kept; the original is gone (recompressed JPEG).
        photo = message.photo[-1]
        return IncomingFile(
            file_id=photo.file_id,
            name=f"photo-{message.message_id}.jpg",
            size=photo.file_size,
            compressed=True,
            account_id=account_id,
            language=language,
            chat_id=message.chat_id,
        )
    document = message.document
    if document is None:
        return None
    return IncomingFile(
        file_id=document.file_id,
        name=PurePath(document.file_name or "").name or f"file-{message.message_id}",
        size=document.file_size,
        compressed=False,
        account_id=account_id,
        language=language,
        chat_id=message.chat_id,
    )


async def receive_file(update: Update, context: BotContext) -> None:
    """Take a photo, image file or ZIP into the chat's gathering, refusing what is too big."""
    message = update.effective_message
    assert message is not None
    account = await person(update, context)
    incoming = _incoming(message, account.id, account.language)
    if incoming is None:
        return
    limit = download_limit_bytes(context.deps.settings)
    if incoming.size is not None and incoming.size > limit:
        await message.reply_text(file_too_large_text(limit // 10**6, account.language))
        return
    gatherer = context.deps.gatherer
    assert gatherer is not None
    await gatherer.add(message.chat_id, incoming)


async def _download(bot: Bot, items: list[IncomingFile], directory: Path) -> list[ReceivedFile]:
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    received = []
    for number, item in enumerate(items):
        # Numbered on disk: an album may hold several files of the same name.
        target = directory / f"{number:03d}-{secrets.token_hex(4)}{PurePath(item.name).suffix}"
        telegram_file = await bot.get_file(item.file_id)
        await telegram_file.download_to_drive(target)
        received.append(ReceivedFile(item.name, target))
    return received


async def quote_gathered(
    bot: Bot, deps: TelegramDeps, key: Hashable, items: list[IncomingFile]
) -> None:
    """Download a gathered upload, quote it, and turn the status message into the quote."""
    first = items[0]
    language = first.language
    settings = deps.settings
    status = await bot.send_message(
        chat_id=first.chat_id, text=text_count("chat.checking", language, len(items))
    )
    directory = settings.data_dir / "inbox" / str(first.account_id) / secrets.token_hex(8)
    try:
        received = await _download(bot, items, directory)
        offer = await quote_upload(
            deps.uow(),
            first.account_id,
            received,
            data_dir=settings.data_dir,
            limits=settings.intake_limits(),
            archive_limits=settings.archive_limits(),
            channel="telegram",
            # What the workers get back with the batch: where to show progress and results.
            chat={"chat_id": first.chat_id, "message_id": status.message_id, "language": language},
            ttl=timedelta(minutes=settings.quote_ttl_minutes),
            zone=settings.zone,
            now=utcnow(),
            available=settings.available_tiers(),
        )
    except ServiceError as error:
        await status.edit_text(error_text(error, language))
        return
    except TelegramError:
        log.warning("download of %d files failed", len(items), exc_info=True)
        await status.edit_text(text("chat.error.generic", language))
        return
    await status.edit_text(
        quote_text(
            offer,
            language,
            credit_price_rp=settings.credit_price_rp,
            compressed_photos=any(item.compressed for item in items),
        ),
        reply_markup=quote_keyboard(offer, language),
    )
    if deps.previews is not None and offer.first_input:
        # After the quote, in the background: the preview never delays it.
        deps.previews.start(
            send_preview(
                bot,
                deps,
                first.chat_id,
                account_id=first.account_id,
                input_path=offer.first_input,
                language=language,
            )
        )
