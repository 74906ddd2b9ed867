"""The WhatsApp webhook and the result download route, in the web process's aiohttp app."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.previews import Previewer
from bot.whatsapp.conversation import Conversation, Finish
from bot.whatsapp.delivery import DOWNLOAD_PATH, whatsapp_config
from bot.whatsapp.graph import GraphClient
from bot.whatsapp.updates import SIGNATURE_HEADER, messages_of, signature_valid
from db.uow import UnitOfWork
from services.billing import AcceptedBatch
from services.clock import utcnow
from services.downloads import open_result_link
from services.links import InvalidLink
from services.settings import Settings
from services.whatsapp import forget_inbound

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/whatsapp/webhook"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

UnitOfWorkFactory = Callable[[], UnitOfWork]
Submit = Callable[[AcceptedBatch], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class DownloadContext:
    settings: Settings
    uow: UnitOfWorkFactory


SETTINGS = web.AppKey("whatsapp_settings", Settings)
CONVERSATION = web.AppKey("whatsapp_conversation", Conversation)
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
    """Check the signature of a notification, then handle each message in it once."""
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
    conversation = request.app[CONVERSATION]
    for inbound in messages_of(payload):
        try:
            await conversation.handle(inbound)
        except Exception:
            # Let Meta's retry of this notification handle the message again.
            log.exception("WhatsApp message %s could not be handled", inbound.message_id)
            await forget_inbound(conversation.uow(), inbound.message_id)
            raise web.HTTPInternalServerError() from None
    return web.Response(text="ok")


def add_whatsapp_routes(
    app: web.Application,
    settings: Settings,
    uow: UnitOfWorkFactory,
    submit: Submit,
    *,
    finish: Finish | None = None,
    previews: Previewer | None = None,
) -> None:
    """Serve the webhook at /whatsapp/webhook; the Graph API session lives with the app."""
    app[SETTINGS] = settings

    async def conversation(app: web.Application) -> AsyncIterator[None]:
        config = whatsapp_config(settings)
        async with aiohttp.ClientSession() as session:
            graph = GraphClient(
                session,
                base_url=config.api_url,
                token=config.token,
                phone_number_id=config.phone_number_id,
            )
            app[CONVERSATION] = Conversation(
                settings, uow, graph, submit, finish=finish, previews=previews
            )
            yield
            await app[CONVERSATION].close()

    app.cleanup_ctx.append(conversation)
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
