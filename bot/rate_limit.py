"""Per-account request limits of the HTTP API, shared by every web process through Redis.

The `limits` library's moving window: each request is noted with its time, and one is refused
when the account already made `per_minute` requests in the last minute. Its Redis storage keeps
the window in Redis with atomic scripts, so several web processes count together; without
Redis the window lives in this process.
"""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


class AccountRateLimit:
    """At most `per_minute` requests of one account in any minute."""

    def __init__(self, storage: Storage, per_minute: int) -> None:
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerMinute(per_minute)

    @classmethod
    def in_process(cls, per_minute: int) -> AccountRateLimit:
        return cls(MemoryStorage(), per_minute)

    @classmethod
    def on_redis(cls, url: str, namespace: str, per_minute: int) -> AccountRateLimit:
        # redis-py, which the service already uses, rather than the library's default client.
        storage = RedisStorage(
            url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1),
            implementation="redispy",
            key_prefix=f"{namespace}:api-limit",
        )
        return cls(storage, per_minute)

    async def hit(self, account_id: int) -> bool:
        """Count one request of the account; False when it is over the limit (not counted)."""
        return await self._limiter.hit(self._item, "account", str(account_id))
