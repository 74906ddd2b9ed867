"""A fake of the WhatsApp Cloud API (Graph API) on 127.0.0.1, speaking its HTTP protocol.

It serves the calls the channel makes, with the Cloud API's request checks and response
shapes: `GET /{media-id}` (a short-lived URL), the media download behind the bearer token,
`POST /{phone-number-id}/media` (multipart upload; JPEG or PNG up to 5 MB) and
`POST /{phone-number-id}/messages` (recorded for the test to read; template messages are
checked against the approved templates a test registers).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

VERSION = "v21.0"
IMAGE_UPLOAD_TYPES = ("image/jpeg", "image/png")
IMAGE_UPLOAD_LIMIT = 5 * 2**20


def graph_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": secrets.token_hex(8),
            }
        },
        status=status,
    )


@dataclass
class Media:
    data: bytes
    mime_type: str
    filename: str = ""


@dataclass
class FakeGraphApi:
    token: str
    phone_number_id: str
    media: dict[str, Media] = field(default_factory=dict)
    uploads: dict[str, Media] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    # Error codes the next message sends answer with, in order (e.g. 131056, 131047).
    refuse_next: list[int] = field(default_factory=list)
    # Approved message templates: (name, language code) to the number of body parameters.
    templates: dict[tuple[str, str], int] = field(default_factory=dict)
    downloads: int = 0
    # Media lookups: how many there were, how many of the next answer 500, and a slow answer.
    media_lookups: int = 0
    media_failures: int = 0
    media_delay: float = 0.0
    server: TestServer | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/{VERSION}"))

    def add_media(self, data: bytes, mime_type: str, filename: str = "") -> str:
        media_id = str(1_000_000 + next(self._ids))
        self.media[media_id] = Media(data, mime_type, filename)
        return media_id

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def media_info(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token.")
        self.media_lookups += 1
        await asyncio.sleep(self.media_delay)
        if self.media_failures > 0:
            self.media_failures -= 1
            return graph_error(500, 2, "Service temporarily unavailable")
        media_id = request.match_info["media_id"]
        media = self.media.get(media_id)
        if media is None:
            return graph_error(400, 100, "Unsupported get request.")
        assert self.server is not None
        url = self.server.make_url(f"/whatsapp_business/attachments/?mid={media_id}&ext=1")
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": str(url),
                "mime_type": media.mime_type,
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": len(media.data),
                "id": media_id,
            }
        )

    async def media_download(self, request: web.Request) -> web.Response:
        # The URL alone is not enough: the download needs the same bearer token.
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token.")
        media = self.media.get(request.query.get("mid", ""))
        if media is None:
            return web.Response(status=404)
        self.downloads += 1
        return web.Response(body=media.data, content_type=media.mime_type)

    async def upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token.")
        if request.match_info["phone_id"] != self.phone_number_id:
            return graph_error(400, 100, "Unsupported post request.")
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(upload, web.FileField):
            return graph_error(400, 100, "(#100) The parameter messaging_product is required.")
        data = upload.file.read()
        mime_type = upload.content_type
        if mime_type not in IMAGE_UPLOAD_TYPES or len(data) > IMAGE_UPLOAD_LIMIT:
            return graph_error(400, 131053, "Media upload error")
        media_id = str(2_000_000 + next(self._ids))
        self.uploads[media_id] = Media(data, mime_type, upload.filename)
        return web.json_response({"id": media_id})

    def _invalid(self, message: dict[str, Any]) -> str | None:
        kind = message.get("type")
        if message.get("messaging_product") != "whatsapp" or not message.get("to"):
            return "messaging_product and to are required"
        if kind == "text":
            body = message["text"]["body"]
            return None if 0 < len(body) <= 4096 else "text body length"
        if kind == "image":
            image = message["image"]
            if image.get("id") not in self.uploads:
                return "unknown media id"
            return None if len(image.get("caption", "")) <= 1024 else "caption length"
        if kind == "interactive" and message["interactive"]["type"] == "list":
            interactive = message["interactive"]
            rows = [row for s in interactive["action"]["sections"] for row in s["rows"]]
            if not 1 <= len(rows) <= 10:
                return "a list holds 1 to 10 rows"
            if any(len(row["title"]) > 24 or len(row.get("description", "")) > 72 for row in rows):
                return "row title over 24 or description over 72 characters"
            if len(interactive["action"]["button"]) > 20:
                return "button over 20 characters"
            return None if len(interactive["body"]["text"]) <= 4096 else "body length"
        if kind == "interactive" and message["interactive"]["type"] == "button":
            interactive = message["interactive"]
            buttons = interactive["action"]["buttons"]
            if not 1 <= len(buttons) <= 3:
                return "a message holds 1 to 3 reply buttons"
            replies = [button["reply"] for button in buttons]
            if any(len(r["title"]) > 20 or len(r["id"]) > 256 for r in replies):
                return "button title over 20 or id over 256 characters"
            return None if len(interactive["body"]["text"]) <= 1024 else "body length"
        if kind == "template":
            return self._invalid_template(message["template"])
        return f"unsupported message type {kind}"

    def _invalid_template(self, template: dict[str, Any]) -> str | None:
        key = (template.get("name", ""), template.get("language", {}).get("code", ""))
        if key not in self.templates:
            return "template name does not exist in the translation"
        body = [c for c in template.get("components", []) if c.get("type") == "body"]
        values = body[0]["parameters"] if body else []
        if len(values) != self.templates[key]:
            return "number of parameters does not match the expected number of params"
        if any(p.get("type") != "text" or not p.get("text") for p in values):
            return "template parameters must be non-empty text"
        return None

    async def messages(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token.")
        if request.match_info["phone_id"] != self.phone_number_id:
            return graph_error(400, 100, "Unsupported post request.")
        message = await request.json()
        problem = self._invalid(message)
        if problem is not None and message.get("type") == "template":
            return graph_error(400, 132001, f"Template error: {problem}")
        if problem is not None:
            return graph_error(400, 131009, f"Parameter value is not valid: {problem}")
        if self.refuse_next:
            code = self.refuse_next.pop(0)
            return graph_error(400, code, "refused by the test")
        async with self._changed:
            self.sent.append(message)
            self._changed.notify_all()
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": message["to"], "wa_id": message["to"]}],
                "messages": [{"id": f"wamid.{secrets.token_hex(12)}"}],
            }
        )

    async def wait_for_sent(self, count: int, seconds: float = 120) -> list[dict[str, Any]]:
        """Wait until at least `count` messages were sent; return them all."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.sent) >= count), seconds)
        return list(self.sent)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/whatsapp_business/attachments/", self.media_download)
        app.router.add_get(f"/{VERSION}/{{media_id:[0-9]+}}", self.media_info)
        app.router.add_post(f"/{VERSION}/{{phone_id}}/media", self.upload)
        app.router.add_post(f"/{VERSION}/{{phone_id}}/messages", self.messages)
        return app

    async def start(self) -> None:
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
