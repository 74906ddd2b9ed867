"""The WhatsApp webhook and the result download route, in the web process's aiohttp app.

Meta delivers a notification again when the webhook is slow to answer, so the webhook does
only what is quick and must come first: it checks the signature, records each new message
(repeated deliveries stop here) and queues the job that handles it (`workers.whatsapp`), then
answers 200. Fetching media and answering the person happen in that job.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
from aiohttp import web
from redis.exceptions import RedisError

from bot.whatsapp.delivery import DOWNLOAD_PATH
from bot.whatsapp.updates import SIGNATURE_HEADER, messages_of, signature_valid
from db.uow import UnitOfWork
from services.clock import utcnow
from services.downloads import open_result_link
from services.links import InvalidLink
from services.settings import Settings
from services.whatsapp import take_in_message

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/whatsapp/webhook"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

UnitOfWorkFactory = Callable[[], UnitOfWork]
# Sends the job of one message id to the queue (blocking: it is called in a thread).
QueueMessage = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class DownloadContext:
    settings: Settings
    uow: UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class WebhookContext:
    settings: Settings
    uow: UnitOfWorkFactory
    queue_message: QueueMessage


SETTINGS = web.AppKey("whatsapp_settings", Settings)
WEBHOOK = web.AppKey("whatsapp_webhook", WebhookContext)
DOWNLOADS = web.AppKey("downloads", DownloadContext)


async def verify(request: web.Request) -> web.Response:
    """Answer Meta's subscription check: echo hub.challenge when the verify token matches."""
    settings: Settings = request.app[SETTINGS]
    assert settings.whatsapp_verify_token is not None
    query = request.query
    expected = settings.whatsapp_verify_token.get_secret_value().encode()
    token_ok = hmac.compare_digest(query.get("hub.verify_token", "").encode(), expected)
    if query.get("hub.mode") == "subscribe" and token_ok:
        return web.Response(text=query.get("hub.challenge", ""))
    raise web.HTTPForbidden()


async def receive(request: web.Request) -> web.Response:
    """Check the signature of a notification, then take each new message in for its job."""
    settings: Settings = request.app[SETTINGS]
    assert settings.whatsapp_app_secret is not None
    body = await request.read()
    header = request.headers.get(SIGNATURE_HEADER)
    if header is None:
        raise web.HTTPUnauthorized(text="missing signature")
    if not signature_valid(settings.whatsapp_app_secret.get_secret_value().encode(), body, header):
        raise web.HTTPForbidden(text="bad signature")
    try:
        payload = json.loads(body)
    except ValueError:
        raise web.HTTPBadRequest(text="not JSON") from None
    context = request.app[WEBHOOK]
    for inbound in messages_of(payload):

        async def queue(message_id: str = inbound.message_id) -> None:
            await asyncio.to_thread(context.queue_message, message_id)

        try:
            taken = await take_in_message(
                context.uow(),
                inbound.message_id,
                inbound.number,
                inbound.to_payload(),
                queue=queue,
                now=utcnow(),
            )
        except (RedisError, dramatiq.errors.BrokerConnectionError) as error:
            # Nothing was kept: Meta delivers the notification again, and it is taken in then.
            log.warning("WhatsApp message %s not queued: %s", inbound.message_id, error)
            raise web.HTTPServiceUnavailable() from None
        if not taken:
            log.info("repeated delivery of %s ignored", inbound.message_id)
    return web.Response(text="ok")


def add_whatsapp_routes(
    app: web.Application,
    settings: Settings,
    uow: UnitOfWorkFactory,
    queue_message: Callable[[], QueueMessage],
) -> None:
    """Serve the webhook at /whatsapp/webhook.

    `queue_message` gives the queueing function once the queue is open (at start-up).
    """
    app[SETTINGS] = settings

    async def open_webhook(app: web.Application) -> AsyncIterator[None]:
        app[WEBHOOK] = WebhookContext(settings, uow, queue_message())
        yield

    app.cleanup_ctx.append(open_webhook)
    app.router.add_get(WEBHOOK_PATH, verify)
    app.router.add_post(WEBHOOK_PATH, receive)


def _download_name(requested: str, path: Path) -> str:
    """The file name shown to the person: theirs when given, made safe, with the true suffix."""
    stem = _UNSAFE_NAME.sub("_", Path(requested).stem).strip("._")[:80]
    return f"{stem}{path.suffix}" if stem else path.name


async def download(request: web.Request) -> web.StreamResponse:
    """Serve a result file behind a signed, expiring link; anything else is not found."""
    context = request.app[DOWNLOADS]
    try:
        secret = context.settings.download_link_secret()
        path = await open_result_link(
            context.uow(),
            secret,
            context.settings.data_dir,
            request.match_info["token"],
            now=utcnow(),
        )
    except (InvalidLink, ValueError):
        raise web.HTTPNotFound() from None
    return web.FileResponse(
        path,
        headers={
            "Content-Disposition": (
                f'attachment; filename="{_download_name(request.query.get("name", ""), path)}"'
            ),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def add_download_route(app: web.Application, settings: Settings, uow: UnitOfWorkFactory) -> None:
    """Serve result links at /d/{token} (they work without WhatsApp when LINK_SECRET is set)."""
    app[DOWNLOADS] = DownloadContext(settings, uow)
    app.router.add_get(DOWNLOAD_PATH + "{token}", download)
