"""Results and progress back to a WhatsApp chat, within what the Cloud API accepts.

The Cloud API shows images without transparency (JPEG/PNG up to 5 MB) and takes documents only
of a fixed list of types (PDF, Office, text), not ZIP. So a result goes out as a private,
expiring link to the PNG or ZIP served by our own web process, with a preview on white for a
single image. Free-form messages are allowed only within 24 hours of the person's last
message: outside that window nothing is attempted; results are held for when they write again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bot.chat import redo_label
from bot.messages import text
from bot.whatsapp.graph import (
    OUTSIDE_WINDOW,
    PAIR_RATE_LIMIT,
    GraphClient,
    GraphError,
    ReplyButton,
    send_paced,
)
from db.uow import UnitOfWork
from services.clock import utcnow
from services.downloads import result_link_token
from services.imaging.preview import white_preview
from services.settings import Settings
from services.whatsapp import claim_progress_slot, hold_message, window_open
from workers.delivery import Chat, DeliveryError
from workers.payment_actors import Template

log = logging.getLogger(__name__)

# WhatsApp's pair rate limit: about one message every 6 seconds to the same person. Every
# progress text to one number, whatever its batch, keeps that pace (claimed in the database,
# so it holds across worker processes); one batch speaks every 20 seconds at most, since each
# update is a new message in the chat rather than an edit.
PAIR_INTERVAL = timedelta(seconds=6)
PROGRESS_INTERVAL = timedelta(seconds=20)
DOWNLOAD_PATH = "/d/"
BUTTON_BODY_LIMIT = 1024  # the Cloud API's limit on the body of a reply-button message


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    api_url: str
    token: str = field(repr=False)
    phone_number_id: str
    public_base_url: str
    data_dir: Path
    link_secret: bytes = field(repr=False)
    link_ttl: timedelta  # the retention period: a link lives as long as its file


def whatsapp_config(settings: Settings) -> WhatsAppConfig:
    """The channel's settings, for the web process and the workers alike."""
    assert settings.whatsapp_access_token is not None
    assert settings.whatsapp_phone_number_id is not None
    return WhatsAppConfig(
        api_url=settings.whatsapp_api_url,
        token=settings.whatsapp_access_token.get_secret_value(),
        phone_number_id=settings.whatsapp_phone_number_id,
        public_base_url=settings.public_base_url,
        data_dir=settings.data_dir,
        link_secret=settings.download_link_secret(),
        link_ttl=timedelta(days=settings.retention_days),
    )


def download_url(config: WhatsAppConfig, token: str, filename: str) -> str:
    base = config.public_base_url.rstrip("/")
    return f"{base}{DOWNLOAD_PATH}{token}?{urlencode({'name': filename})}"


class WhatsAppDelivery:
    """The WhatsApp channel as the workers see it (see `workers.delivery.Delivery`)."""

    progress_interval = PROGRESS_INTERVAL

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        config: WhatsAppConfig,
        *,
        rate_limit_waits: tuple[float, ...] = (6.0, 12.0, 24.0),
    ) -> None:
        self.uow = uow
        self.config = config
        self.rate_limit_waits = rate_limit_waits

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[GraphClient]:
        # One session per delivery call: deliveries run on the workers' loops, a few calls
        # per batch, and a session must not outlive the loop it was made on.
        async with aiohttp.ClientSession() as session:
            yield GraphClient(
                session,
                base_url=self.config.api_url,
                token=self.config.token,
                phone_number_id=self.config.phone_number_id,
            )

    async def _send_or_hold(
        self, number: str, body: str, send: Callable[[], Awaitable[object]]
    ) -> None:
        if not await window_open(self.uow(), number, now=utcnow()):
            await hold_message(self.uow(), number, body, now=utcnow())
            return
        try:
            await send_paced(send, self.rate_limit_waits)
        except GraphError as error:
            if error.code == OUTSIDE_WINDOW:
                await hold_message(self.uow(), number, body, now=utcnow())
                return
            raise DeliveryError(str(error)) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryError(f"WhatsApp unreachable: {error}") from error

    async def send_text(self, chat: Chat, message: str) -> None:
        """Send a text now, or hold it until the person writes again."""
        number = str(chat["number"])
        async with self._client() as client:
            await self._send_or_hold(number, message, lambda: client.send_text(number, message))

    async def send_summary(self, chat: Chat, message: str) -> None:
        """The summary, with a reply button to redo the batch at a higher tier."""
        language = str(chat.get("language", "en"))
        label = redo_label(str(chat.get("tier", "")), language)
        if chat.get("batch_id") is None or label is None:
            await self.send_text(chat, message)
            return
        number = str(chat["number"])
        button = ReplyButton(f"rd:{chat['batch_id']}", label.removeprefix("🔁 ")[:20])
        body = message
        if len(message) > BUTTON_BODY_LIMIT:
            # A long summary goes as text; the button follows under a short line of its own.
            await self.send_text(chat, message)
            body = text("redo.offer", language)
        async with self._client() as client:
            await self._send_or_hold(
                number, body, lambda: client.send_buttons(number, body=body, buttons=[button])
            )

    async def send_notice(self, chat: Chat, message: str, template: Template) -> None:
        """Send a payment notice: a text inside the 24-hour window, the approved template
        outside it (a receipt or a renewal link should not wait for the person to write)."""
        number = str(chat["number"])
        async with self._client() as client:

            async def as_template() -> None:
                await send_paced(
                    lambda: client.send_template(
                        number, template.name, template.language, template.parameters
                    ),
                    self.rate_limit_waits,
                )

            try:
                if await window_open(self.uow(), number, now=utcnow()):
                    try:
                        await send_paced(
                            lambda: client.send_text(number, message), self.rate_limit_waits
                        )
                    except GraphError as error:
                        if error.code != OUTSIDE_WINDOW:
                            raise
                        await as_template()
                else:
                    await as_template()
            except GraphError as error:
                raise DeliveryError(str(error)) from error
            except (aiohttp.ClientError, TimeoutError) as error:
                raise DeliveryError(f"WhatsApp unreachable: {error}") from error

    async def edit_status(self, chat: Chat, message: str) -> None:
        """Send progress as a short new text (WhatsApp cannot edit); dropped outside the window."""
        number = str(chat["number"])
        if not await window_open(self.uow(), number, now=utcnow()):
            return
        if not await claim_progress_slot(self.uow(), number, now=utcnow(), interval=PAIR_INTERVAL):
            return
        try:
            async with self._client() as client:
                await client.send_text(number, message)
        except GraphError as error:
            # Progress is a courtesy: a rate-limited one is skipped, the next one will come.
            if error.code not in (PAIR_RATE_LIMIT, OUTSIDE_WINDOW):
                raise DeliveryError(str(error)) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryError(f"WhatsApp unreachable: {error}") from error

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None:
        """Send a private link to the file, over a preview on white when it is one image."""
        number = str(chat["number"])
        language = str(chat.get("language", "en"))
        token = result_link_token(
            self.config.link_secret,
            self.config.data_dir,
            int(chat["account_id"]),
            path,
            now=utcnow(),
            ttl=self.config.link_ttl,
        )
        lines = [
            text(
                "wa.result.link",
                language,
                name=filename,
                url=download_url(self.config, token, filename),
                days=self.config.link_ttl.days,
            )
        ]
        if caption:
            lines.insert(0, caption)
        body = "\n".join(lines)
        async with self._client() as client:
            if path.suffix.lower() != ".png":
                await self._send_or_hold(number, body, lambda: client.send_text(number, body))
                return

            async def preview_with_link() -> None:
                preview = await asyncio.to_thread(white_preview, path)
                media_id = await client.upload(
                    preview, mime_type="image/jpeg", filename="preview.jpg"
                )
                image_caption = body + "\n" + text("wa.result.preview", language)
                await client.send_image(number, media_id, image_caption)

            await self._send_or_hold(number, body, preview_with_link)
