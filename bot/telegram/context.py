"""What the handlers share, reached through a typed callback context instead of globals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.gathering import Gathering
from bot.previews import Previewer
from db.uow import UnitOfWork
from services.billing import AcceptedBatch
from services.settings import Settings

DEPS_KEY = "deps"


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A file a person sent, not yet downloaded: what the gatherer collects."""

    file_id: str
    name: str
    size: int | None
    compressed: bool  # a photo Telegram recompressed, not a file sent as a document
    account_id: int
    language: str
    chat_id: int

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, encoded: str) -> IncomingFile:
        return cls(**json.loads(encoded))


@dataclass
class TelegramDeps:
    """The services of the process, as the Telegram handlers use them."""

    settings: Settings
    uow: Callable[[], UnitOfWork]
    submit: Callable[[AcceptedBatch], Awaitable[bool]]
    gatherer: Gathering[IncomingFile] | None = field(default=None)
    # One settling of Stars renewals and refunds at a time (a tap and the timer may meet).
    stars_settling: asyncio.Lock = field(default_factory=asyncio.Lock)
    previews: Previewer | None = field(default=None)
    # Asks the workers to settle and deliver a batch (after a Cancel left nothing running).
    finish: Callable[[int], Awaitable[None]] | None = field(default=None)


class BotContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The callback context of this bot, with typed access to its dependencies."""

    @property
    def deps(self) -> TelegramDeps:
        deps = self.bot_data[DEPS_KEY]
        assert isinstance(deps, TelegramDeps)
        return deps


BotApplication = Application[
    ExtBot[Any], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any
]
