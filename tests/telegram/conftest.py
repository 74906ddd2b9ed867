"""The whole web process with the Telegram bot, against a fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import io
import itertools
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.app import build_web_app
from db.uow import UnitOfWork
from services.settings import Settings
from tests.api.conftest import MODELS, service_settings
from tests.fakes.telegram_api import TOKEN, ChatMessage, FakeBotApi, Person


def photo_bytes(size: tuple[int, int] = (160, 100), fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (240, 240, 240))
    image.paste((200, 40, 40), (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4))
    image.save(buffer, fmt)
    return buffer.getvalue()


def zip_of(count: int, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    content = photo_bytes(size)
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"products/item-{index:02d}.jpg", content)
    return buffer.getvalue()


@dataclass
class Harness:
    """A running bot process, the fake Bot API it talks to, and the database behind it."""

    api: FakeBotApi
    settings: Settings
    make_uow: Any
    client: TestClient[Any, Any]
    _query_ids: itertools.count[int]

    def uow(self) -> UnitOfWork:
        return self.make_uow()  # type: ignore[no-any-return]

    def person(self, user_id: int = 5001, language: str = "id") -> Person:
        return Person(user_id=user_id, language_code=language)

    def tap(self, person: Person, message: ChatMessage, data: str) -> str:
        query_id = f"cq-{next(self._query_ids)}"
        self.api.push(person.tap(message, data, query_id))
        return query_id

    async def quote_for(self, person: Person, count_before: int = 0) -> ChatMessage:
        """Wait for the next quote message (one with tier buttons) sent to the person."""

        def quotes() -> list[ChatMessage]:
            return [
                m
                for m in self.api.sent_to(person.user_id)
                if any(b.get("callback_data", "").startswith("q:") for b in m.buttons())
            ]

        found = await self.api.wait_for(
            lambda: quotes()[count_before:], what="a quote with tier buttons"
        )
        return found[0]  # type: ignore[no-any-return]

    async def answered(self, query_id: str) -> dict[str, Any]:
        calls = await self.api.wait_for(
            lambda: [
                c
                for c in self.api.called("answerCallbackQuery")
                if c.params["callback_query_id"] == query_id
            ],
            what=f"the answer to callback query {query_id}",
        )
        return calls[0].params  # type: ignore[no-any-return]

    async def delivered(self, account_telegram_id: int) -> None:
        """Wait until every batch of the person is recorded as delivered."""

        async def all_delivered() -> bool:
            async with self.uow() as uow:
                account = await uow.accounts.by_telegram_id(account_telegram_id)
                assert account is not None
                batches = await uow.batches.for_account(account.id)
                return bool(batches) and all(b.delivered_at is not None for b in batches)

        for _ in range(500):
            if await all_delivered():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("batches not recorded as delivered")

    async def balance(self, account_telegram_id: int) -> int:
        async with self.uow() as uow:
            account = await uow.accounts.by_telegram_id(account_telegram_id)
            assert account is not None
            return account.balance


def button(message: ChatMessage, prefix: str) -> str:
    """The callback data of the message's first button whose data starts with `prefix`."""
    for candidate in message.buttons():
        if candidate.get("callback_data", "").startswith(prefix):
            return str(candidate["callback_data"])
    raise AssertionError(f"no button {prefix!r} in {message.buttons()}")


@asynccontextmanager
async def running_bot(tmp_path, database_url, make_uow, **extra) -> AsyncIterator[Harness]:
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    async with FakeBotApi() as api:
        values = {
            "telegram_bot_token": TOKEN,
            "telegram_api_url": api.base_url,
            "telegram_file_url": api.base_file_url,
            "gather_seconds": 0.3,
            "telegram_poll_seconds": 1,
            "telegram_progress_seconds": 0,
            "welcome_credits": 30,
            "admin_ids": "9001",
            # Previews are documents too: off unless a scenario is about them.
            "previews_per_day": 0,
            **extra,
        }
        settings = service_settings(tmp_path, database_url, **values)
        app = build_web_app(settings)
        async with TestClient(TestServer(app)) as client:
            yield Harness(api, settings, make_uow, client, itertools.count(1))


@pytest.fixture
async def telegram(tmp_path, database_url, make_uow) -> AsyncIterator[Harness]:
    """The bot polling the fake Bot API."""
    async with running_bot(tmp_path, database_url, make_uow) as harness:
        yield harness
        # Every button tap of every scenario must have been answered.
        await harness.api.wait_for(
            lambda: not harness.api.unanswered(), within=10, what="answers to every tap"
        )
