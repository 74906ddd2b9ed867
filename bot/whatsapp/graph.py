"""A small client of the WhatsApp Cloud API (Graph API) over aiohttp: the six calls we use.

pywa's async client was considered: it pins its base URL to graph.facebook.com inside its
constructor (so a test fake needs a private attribute patched), and brings httpx as a second HTTP
stack beside aiohttp. Five calls with their real request and response shapes are less code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
# Graph API error codes the channel reacts to.
PAIR_RATE_LIMIT = 131056  # too many messages to the same number in a short time
OUTSIDE_WINDOW = 131047  # more than 24 hours since the person last wrote


class GraphError(Exception):
    """The Graph API refused a call; `code` is its error code (0 when the reply had none)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"Graph API {status} error {code}: {message}")
        self.status = status
        self.code = code


class MediaTooLarge(Exception):
    """A media file above the size we accept; nothing of it is kept."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"media of {size} bytes exceeds {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class MediaInfo:
    media_id: str
    url: str
    mime_type: str
    file_size: int | None


@dataclass(frozen=True, slots=True)
class ListRow:
    row_id: str  # up to 200 characters, comes back in the list_reply
    title: str  # up to 24 characters
    description: str = ""  # up to 72 characters


@dataclass(frozen=True, slots=True)
class ReplyButton:
    button_id: str  # up to 256 characters, comes back in the button_reply
    title: str  # up to 20 characters


async def _check(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body: dict[str, Any] = await response.json(content_type=None)
    except (json.JSONDecodeError, aiohttp.ContentTypeError):
        body = {}
    if response.status >= 400 or "error" in body:
        error = body.get("error") or {}
        raise GraphError(response.status, int(error.get("code", 0)), str(error.get("message", "")))
    return body


class GraphClient:
    """The Cloud API calls of one business phone number, over a session the caller owns."""

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, token: str, phone_number_id: str
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.phone_number_id = phone_number_id
        self._auth = {"Authorization": f"Bearer {token}"}

    async def media_info(self, media_id: str) -> MediaInfo:
        """Step one of a media download: the media id gives a short-lived URL (about 5 min)."""
        async with self.session.get(
            f"{self.base_url}/{media_id}", headers=self._auth, timeout=TIMEOUT
        ) as response:
            body = await _check(response)
        size = body.get("file_size")
        return MediaInfo(
            media_id=str(body.get("id", media_id)),
            url=str(body["url"]),
            mime_type=str(body.get("mime_type", "")),
            file_size=int(size) if size is not None else None,
        )

    async def download(self, info: MediaInfo, destination: Path, *, max_bytes: int) -> int:
        """Step two: fetch the URL with the same bearer token, streaming and capped.

        Raises:
            MediaTooLarge: when the declared or the actual size is above `max_bytes`.
        """
        if info.file_size is not None and info.file_size > max_bytes:
            raise MediaTooLarge(info.file_size, max_bytes)
        written = 0
        async with self.session.get(info.url, headers=self._auth, timeout=TIMEOUT) as response:
            if response.status >= 400:
                await _check(response)
            # File writes go to a thread: the loop also serves every other chat.
            sink = await asyncio.to_thread(destination.open, "wb")
            try:
                async for chunk in response.content.iter_chunked(256 * 1024):
                    written += len(chunk)
                    if written > max_bytes:
                        raise MediaTooLarge(written, max_bytes)
                    await asyncio.to_thread(sink.write, chunk)
            except BaseException:
                await asyncio.to_thread(sink.close)
                await asyncio.to_thread(destination.unlink, missing_ok=True)
                raise
            await asyncio.to_thread(sink.close)
        return written

    async def upload(self, data: bytes, *, mime_type: str, filename: str) -> str:
        """Upload media for a later message; returns its media id."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename=filename, content_type=mime_type)
        async with self.session.post(
            f"{self.base_url}/{self.phone_number_id}/media",
            data=form,
            headers=self._auth,
            timeout=TIMEOUT,
        ) as response:
            body = await _check(response)
        return str(body["id"])

    async def _send(self, to: str, kind: str, content: dict[str, Any]) -> str:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": kind,
            kind: content,
        }
        async with self.session.post(
            f"{self.base_url}/{self.phone_number_id}/messages",
            json=payload,
            headers=self._auth,
            timeout=TIMEOUT,
        ) as response:
            body = await _check(response)
        return str(body["messages"][0]["id"])

    async def send_text(self, to: str, body: str) -> str:
        """Send a text; links in it get a preview. Returns the message id (wamid)."""
        return await self._send(to, "text", {"preview_url": "http" in body, "body": body[:4096]})

    async def send_image(self, to: str, media_id: str, caption: str | None = None) -> str:
        content: dict[str, Any] = {"id": media_id}
        if caption:
            content["caption"] = caption[:1024]
        return await self._send(to, "image", content)

    async def send_list(
        self,
        to: str,
        *,
        body: str,
        button: str,
        section: str,
        rows: Sequence[ListRow],
        footer: str | None = None,
    ) -> str:
        """Send an interactive list (at most 10 rows; titles up to 24 characters)."""
        if not 1 <= len(rows) <= 10:
            raise ValueError("a list message holds 1 to 10 rows")
        interactive: dict[str, Any] = {
            "type": "list",
            "body": {"text": body[:4096]},
            "action": {
                "button": button[:20],
                "sections": [
                    {
                        "title": section[:24],
                        "rows": [
                            {
                                "id": row.row_id[:200],
                                "title": row.title[:24],
                                **(
                                    {"description": row.description[:72]} if row.description else {}
                                ),
                            }
                            for row in rows
                        ],
                    }
                ],
            },
        }
        if footer:
            interactive["footer"] = {"text": footer[:60]}
        return await self._send(to, "interactive", interactive)

    async def send_buttons(self, to: str, *, body: str, buttons: Sequence[ReplyButton]) -> str:
        """Send a message with up to 3 reply buttons (titles up to 20 characters)."""
        if not 1 <= len(buttons) <= 3:
            raise ValueError("a message holds 1 to 3 reply buttons")
        interactive = {
            "type": "button",
            "body": {"text": body[:1024]},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.button_id[:256], "title": b.title[:20]}}
                    for b in buttons
                ]
            },
        }
        return await self._send(to, "interactive", interactive)

    async def send_template(
        self, to: str, name: str, language: str, parameters: Sequence[str]
    ) -> str:
        """Send an approved template (allowed outside the 24-hour window) with body values."""
        content: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters:
            content["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": value} for value in parameters],
                }
            ]
        return await self._send(to, "template", content)


async def send_paced(send: Callable[[], Awaitable[object]], waits: Sequence[float]) -> None:
    """Send; when WhatsApp says we write to this person too fast, wait and try again."""
    for wait in (*waits, None):
        try:
            await send()
            return
        except GraphError as error:
            if error.code != PAIR_RATE_LIMIT or wait is None:
                raise
            await asyncio.sleep(wait)
