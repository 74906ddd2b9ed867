"""A fake Telegram Bot API server on loopback that speaks the real HTTP protocol.

The real python-telegram-bot client is pointed at it (`base_url`, `base_file_url`): it serves
getUpdates from a queue the test fills, file downloads, and the methods the bot calls, and it
keeps every call (multipart uploads parsed) for the test's assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijklmn"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Cutout", "username": "cutout_bot"}
# Fields whose form value is a JSON document in the Bot API's form encoding.
JSON_FIELDS = {"reply_markup", "prices", "commands", "allowed_updates", "reply_parameters"}


@dataclass
class Call:
    """One Bot API method call as the fake received it."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class ChatMessage:
    """A message the bot sent, as it looks now (after edits)."""

    chat_id: int
    message_id: int
    text: str | None
    reply_markup: dict[str, Any] | None = None
    document: tuple[str, bytes] | None = None
    caption: str | None = None
    edits: int = 0

    def buttons(self) -> list[dict[str, Any]]:
        if not self.reply_markup:
            return []
        return [button for row in self.reply_markup["inline_keyboard"] for button in row]


class FakeBotApi:
    """The fake server's state and routes; start it with `async with FakeBotApi() as api`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], ChatMessage] = {}
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.callback_queries: list[str] = []  # ids of the button taps pushed
        # Method name -> how many of its next calls fail as a gateway outage (502).
        self.failures: dict[str, int] = {}
        self.refunded: set[str] = set()  # Stars charge ids refunded
        self.cancelled_subscriptions: set[str] = set()  # Stars subscriptions not renewing
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self.server: TestServer | None = None

    # --- lifecycle ---

    async def __aenter__(self) -> FakeBotApi:
        app = web.Application(client_max_size=200 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self._new_update.set()
        await self.server.close()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/bot"))

    @property
    def base_file_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/file/bot"))

    # --- what the test does as a person ---

    def add_file(self, content: bytes, file_path: str) -> str:
        """Store a file a person sent; return its file_id."""
        file_id = f"file-{next(self._file_ids)}"
        self.files[file_id] = (file_path, content)
        return file_id

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; the update_id is assigned here unless given."""
        update.setdefault("update_id", next(self._update_ids))
        if "callback_query" in update:
            self.callback_queries.append(update["callback_query"]["id"])
        self._updates.append(update)
        self._new_update.set()
        return update

    # --- assertions ---

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def unanswered(self) -> list[str]:
        """Ids of button taps the bot has not answered (the client would show a spinner)."""
        answered = {c.params["callback_query_id"] for c in self.called("answerCallbackQuery")}
        return [query_id for query_id in self.callback_queries if query_id not in answered]

    def sent_to(self, chat_id: int) -> list[ChatMessage]:
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    async def wait_for(
        self, condition: Callable[[], Any], within: float = 60.0, what: str = "condition"
    ) -> Any:
        """Wait until `condition()` returns something truthy, and return it."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"timed out waiting for {what}; calls: {[c.method for c in self.calls]}"
        )

    # --- the protocol ---

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            body = await request.read()
            return (json.loads(body) if body else {}), files
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader)  # the Bot API never nests multiparts
                name = part.name or ""
                if part.filename:
                    files[name] = (part.filename, bytes(await part.read()))
                else:
                    params[name] = await part.text()
        else:
            params = dict(await request.post())
        for name in JSON_FIELDS & params.keys():
            if isinstance(params[name], str):
                params[name] = json.loads(params[name])
        return params, files

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params, files = await self._params(request)
        if method != "getUpdates":
            self.calls.append(Call(method, params, files))
        if self.failures.get(method):
            self.failures[method] -= 1
            return web.json_response(
                {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502
            )
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        try:
            result = await handler(params, files)
        except _BadRequest as error:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": f"Bad Request: {error}"},
                status=400,
            )
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for file_path, content in self.files.values():
            if file_path == request.match_info["path"]:
                return web.Response(body=content)
        return web.Response(status=404)

    async def _getMe(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return BOT_USER

    async def _getUpdates(self, params: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            # Long polling: hold the request a little while nothing is queued.
            self._new_update.clear()
            wait = min(float(params.get("timeout", 0) or 0), 0.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
        return list(self._updates)

    def _new_message(self, chat_id: int, **fields: Any) -> ChatMessage:
        message = ChatMessage(chat_id=chat_id, message_id=next(self._message_ids), text=None)
        for name, value in fields.items():
            setattr(message, name, value)
        self.messages[(chat_id, message.message_id)] = message
        return message

    def _render(self, message: ChatMessage) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": {"id": message.chat_id, "type": "private"},
            "from": BOT_USER,
        }
        if message.text is not None:
            rendered["text"] = message.text
        if message.reply_markup:
            rendered["reply_markup"] = message.reply_markup
        if message.document is not None:
            name, content = message.document
            rendered["document"] = {
                "file_id": f"sent-{message.message_id}",
                "file_unique_id": f"u-sent-{message.message_id}",
                "file_name": name,
                "file_size": len(content),
            }
        if message.caption:
            rendered["caption"] = message.caption
        return rendered

    async def _sendMessage(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        message = self._new_message(
            int(params["chat_id"]), text=params["text"], reply_markup=params.get("reply_markup")
        )
        return self._render(message)

    async def _editMessageText(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise _BadRequest("message to edit not found")
        markup = params.get("reply_markup")
        if message.text == params["text"] and message.reply_markup == markup:
            raise _BadRequest(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.text, message.reply_markup = params["text"], markup
        message.edits += 1
        return self._render(message)

    async def _sendDocument(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> dict[str, Any]:
        if "document" not in files:
            raise _BadRequest("there is no document in the request")
        message = self._new_message(
            int(params["chat_id"]), document=files["document"], caption=params.get("caption")
        )
        return self._render(message)

    async def _sendInvoice(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        if params.get("currency") == "XTR" and len(params.get("prices", [])) != 1:
            raise _BadRequest("exactly one price is allowed for Telegram Stars")
        message = self._new_message(int(params["chat_id"]), text=None)
        return self._render(message)

    async def _createInvoiceLink(self, params: dict[str, Any], files: Any) -> str:
        if params.get("currency") == "XTR" and len(params.get("prices", [])) != 1:
            raise _BadRequest("exactly one price is allowed for Telegram Stars")
        if "subscription_period" in params and params["subscription_period"] != "2592000":
            raise _BadRequest("SUBSCRIPTION_PERIOD_INVALID")
        return f"https://t.me/$invoice-{len(self.called('createInvoiceLink'))}"

    async def _getFile(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        file_id = params["file_id"]
        if file_id not in self.files:
            raise _BadRequest("invalid file_id")
        file_path, content = self.files[file_id]
        if len(content) > 20 * 10**6:
            raise _BadRequest("file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(content),
            "file_path": file_path,
        }

    async def _answerCallbackQuery(self, params: dict[str, Any], files: Any) -> bool:
        return True

    async def _answerPreCheckoutQuery(self, params: dict[str, Any], files: Any) -> bool:
        return True

    async def _refundStarPayment(self, params: dict[str, Any], files: Any) -> bool:
        charge_id = params["telegram_payment_charge_id"]
        if not params.get("user_id"):
            raise _BadRequest("USER_ID_INVALID")
        if charge_id in self.refunded:
            raise _BadRequest("CHARGE_ALREADY_REFUNDED")
        self.refunded.add(charge_id)
        return True

    async def _editUserStarSubscription(self, params: dict[str, Any], files: Any) -> bool:
        if not params.get("user_id") or not params.get("telegram_payment_charge_id"):
            raise _BadRequest("user_id and telegram_payment_charge_id are required")
        charge_id = params["telegram_payment_charge_id"]
        if params.get("is_canceled") in (True, "true", "True"):
            self.cancelled_subscriptions.add(charge_id)
        else:
            self.cancelled_subscriptions.discard(charge_id)
        return True


class _BadRequest(Exception):
    """A request the real Bot API answers with 400 Bad Request."""


# --- Update builders in the real Bot API JSON shapes ---


@dataclass
class Person:
    """A Telegram user chatting with the bot in a private chat."""

    user_id: int
    first_name: str = "Sari"
    language_code: str = "id"
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def user(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }

    def message(self, **content: Any) -> dict[str, Any]:
        return {
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": self.user_id, "type": "private", "first_name": self.first_name},
                "from": self.user,
                **content,
            }
        }

    def command(self, command: str) -> dict[str, Any]:
        name = command.split(maxsplit=1)[0]
        return self.message(
            text=command, entities=[{"type": "bot_command", "offset": 0, "length": len(name)}]
        )

    def photo(self, api: FakeBotApi, content: bytes, **extra: Any) -> dict[str, Any]:
        file_id = api.add_file(content, f"photos/{len(api.files)}.jpg")
        small = api.add_file(content[: len(content) // 4], f"thumbs/{len(api.files)}.jpg")
        sizes = [
            {"file_id": small, "file_unique_id": f"u-{small}", "width": 90, "height": 60},
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "width": 160,
                "height": 100,
                "file_size": len(content),
            },
        ]
        return self.message(photo=sizes, **extra)

    def document(
        self,
        api: FakeBotApi,
        content: bytes,
        file_name: str,
        mime_type: str,
        size: int | None = None,
    ) -> dict[str, Any]:
        file_id = api.add_file(content, f"documents/{len(api.files)}-{file_name}")
        return self.message(
            document={
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(content) if size is None else size,
            }
        )

    def tap(self, message: ChatMessage, data: str, query_id: str) -> dict[str, Any]:
        return {
            "callback_query": {
                "id": query_id,
                "from": self.user,
                "chat_instance": f"ci-{self.user_id}",
                "data": data,
                "message": {
                    "message_id": message.message_id,
                    "date": int(time.time()),
                    "chat": {"id": message.chat_id, "type": "private"},
                    "from": BOT_USER,
                    "text": message.text or "",
                },
            }
        }

    def pre_checkout(self, query_id: str, payload: str, stars: int) -> dict[str, Any]:
        return {
            "pre_checkout_query": {
                "id": query_id,
                "from": self.user,
                "currency": "XTR",
                "total_amount": stars,
                "invoice_payload": payload,
            }
        }

    def paid(
        self, payload: str, stars: int, charge_id: str, *, recurring: str | None = None
    ) -> dict[str, Any]:
        """A successful payment; `recurring` is "first" or "renewal" for subscriptions."""
        payment: dict[str, Any] = {
            "currency": "XTR",
            "total_amount": stars,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        if recurring is not None:
            payment["is_recurring"] = True
            payment["is_first_recurring"] = recurring == "first"
            payment["subscription_expiration_date"] = int(time.time()) + 30 * 86400
        return self.message(successful_payment=payment)
