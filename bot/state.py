"""State that every web process must see alike: kept in Redis when `REDIS_URL` is set.

One web process keeps it in memory, as it always did. Several web processes behind a proxy
(or one webhook URL) receive the updates of one person in any order, so what spans updates
lives in Redis: the files of an album or a series waiting for their quote (`bot.gathering`)
and the HTTP API's per-account request window (`bot.rate_limit`). Everything else that spans
updates is in the database already: quotes, WhatsApp message ids and held messages, and the
pace of progress messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis

from bot.gathering import Gatherer, Gathering, OnReady, RedisGatherer
from bot.rate_limit import AccountRateLimit
from services.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SharedState:
    """Where this process keeps what other processes must see: Redis, or nowhere else."""

    settings: Settings
    redis: aioredis.Redis | None

    def gathering(
        self,
        name: str,
        on_ready: OnReady[T],
        *,
        encode: Callable[[T], str],
        decode: Callable[[str], T],
    ) -> Gathering[T]:
        """The gathering of one channel's files, quoted after GATHER_SECONDS of quiet."""
        delay = self.settings.gather_seconds
        if self.redis is None:
            return Gatherer(on_ready, delay=delay)
        return RedisGatherer(
            on_ready,
            client=self.redis,
            namespace=self.settings.redis_namespace,
            name=name,
            encode=encode,
            decode=decode,
            delay=delay,
            orphan_grace=self.settings.gather_orphan_seconds,
        )

    def api_rate_limit(self) -> AccountRateLimit:
        per_minute = self.settings.api_requests_per_minute
        if self.settings.redis_url is None:
            return AccountRateLimit.in_process(per_minute)
        return AccountRateLimit.on_redis(
            self.settings.redis_url, self.settings.redis_namespace, per_minute
        )


@asynccontextmanager
async def open_shared_state(settings: Settings) -> AsyncIterator[SharedState]:
    """Open the Redis client of this event loop (when configured) and close it after."""
    client = (
        aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
        if settings.redis_url
        else None
    )
    try:
        yield SharedState(settings, client)
    finally:
        if client is not None:
            await client.aclose()
