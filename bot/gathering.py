"""Gather files that arrive in quick succession from one chat into one upload.

Chat platforms deliver an album as separate messages with no "last item" marker, and people
send several photos one after another: both become one quote once the chat has been quiet
for a short delay.

Two kinds, one interface (`Gathering`):
- `Gatherer` keeps the pending files in this process: one web process, no Redis.
- `RedisGatherer` keeps them in Redis, so the messages of one album may reach different web
  processes and still make one quote. Every arrival notes itself as the chat's last one; the
  timer of each arrival looks again after the quiet delay, and only the timer of the arrival
  that is still the last takes the files, in one atomic script. A process that dies while it
  owns the last timer leaves the files in Redis: any other process takes them over once they
  are overdue by `orphan_grace` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

DEFAULT_DELAY_SECONDS = 1.5

OnReady = Callable[[Hashable, list[T]], Awaitable[None]]


class Gathering(Protocol[T_contra]):
    """Collect items per key and hand them over together after a quiet delay."""

    def start(self) -> None:
        """Begin the background work (the Redis kind looks for gatherings left by others)."""

    async def add(self, key: Hashable, item: T_contra) -> int:
        """Add an item to the key's gathering and restart its quiet timer; return its size."""

    async def flush(self) -> None:
        """Hand over every gathering this process waits on now, and wait until handled."""

    async def close(self) -> None:
        """Stop the timers and wait for the gatherings being handled (at shutdown)."""


class _Handovers(Generic[T]):
    """The hand-over tasks of a gatherer: each logged on failure, awaited at shutdown."""

    def __init__(self, on_ready: OnReady[T]) -> None:
        self.on_ready = on_ready
        self.running: set[asyncio.Task[None]] = set()

    def start(self, key: Hashable, items: list[T]) -> None:
        task = asyncio.create_task(self._hand_over(key, items))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _hand_over(self, key: Hashable, items: list[T]) -> None:
        try:
            await self.on_ready(key, items)
        except Exception:
            log.exception("a gathered upload of %d files could not be handled", len(items))

    async def wait(self) -> None:
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)


class Gatherer(Generic[T]):
    """The gathering of one process: pending items live in this instance.

    `on_ready(key, items)` runs once per gathering, in arrival order of the items, in its own
    task; an error it raises is logged, never lost silently.
    """

    def __init__(
        self,
        on_ready: OnReady[T],
        *,
        delay: float = DEFAULT_DELAY_SECONDS,
        max_items: int = 500,
    ) -> None:
        self.delay = delay
        self.max_items = max_items
        self._handovers = _Handovers(on_ready)
        self._pending: dict[Hashable, list[T]] = {}
        self._timers: dict[Hashable, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Nothing runs in the background: every gathering has a timer of this process."""

    async def add(self, key: Hashable, item: T) -> int:
        """Add an item to the key's gathering and restart its quiet timer; return its size."""
        items = self._pending.setdefault(key, [])
        items.append(item)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if len(items) >= self.max_items:
            # A full upload waits for nothing more: hand it over now.
            self._release(key)
        else:
            self._timers[key] = asyncio.create_task(self._wait_then_release(key))
        return len(items)

    def pending(self, key: Hashable) -> int:
        return len(self._pending.get(key, ()))

    async def _wait_then_release(self, key: Hashable) -> None:
        await asyncio.sleep(self.delay)
        self._timers.pop(key, None)
        self._release(key)

    def _release(self, key: Hashable) -> None:
        items = self._pending.pop(key, [])
        if items:
            self._handovers.start(key, items)

    async def flush(self) -> None:
        """Hand over every pending gathering now and wait until all are handled."""
        for key in list(self._timers):
            self._timers.pop(key).cancel()
        for key in list(self._pending):
            self._release(key)
        await self._handovers.wait()

    async def close(self) -> None:
        """Drop pending gatherings and wait for those being handled (at shutdown)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        await self._handovers.wait()


# Note an arrival: append the item, make its token the key's last arrival, and mark the key as
# due at the server's time plus the quiet delay. The server's clock, so that processes on
# machines whose clocks differ agree on what is overdue.
_ADD = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local size = redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5])
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[4]), ARGV[2])
return size
"""

# Take a key's items, once. With a token: only when that arrival is still the last one (the
# quiet delay has passed since it, or the gathering is full). Without: only when the key is
# overdue by the grace in ARGV[3] milliseconds (its owner's timer died with its process).
_TAKE = """
local last = redis.call('GET', KEYS[2])
if not last then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return false
end
if ARGV[1] ~= '' then
  if last ~= ARGV[1] then return false end
else
  local due = redis.call('ZSCORE', KEYS[3], ARGV[2])
  local now = redis.call('TIME')
  local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if due and tonumber(due) + tonumber(ARGV[3]) > now_ms then return false end
end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return items
"""

_OVERDUE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - tonumber(ARGV[1]), 'LIMIT', 0, 50)
"""


class RedisGatherer(Generic[T]):
    """The gathering of every web process together, kept in Redis.

    `encode` and `decode` turn an item into text and back (the files an item names must lie
    in the shared DATA_DIR). Keys are kept under `<namespace>:gather:<name>:`, and come back
    to `on_ready` as text.
    """

    def __init__(
        self,
        on_ready: OnReady[T],
        *,
        client: aioredis.Redis,
        namespace: str,
        name: str,
        encode: Callable[[T], str],
        decode: Callable[[str], T],
        delay: float = DEFAULT_DELAY_SECONDS,
        max_items: int = 500,
        orphan_grace: float = 10.0,
    ) -> None:
        self.delay = delay
        self.max_items = max_items
        self.orphan_grace = orphan_grace
        self._client = client
        self._prefix = f"{namespace}:gather:{name}"
        self._encode = encode
        self._decode = decode
        self._handovers = _Handovers(on_ready)
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._watcher: asyncio.Task[None] | None = None
        # The watcher stops on this rather than on cancellation alone: a cancel that lands
        # inside a Redis call can be absorbed by the client, and the loop would run on.
        self._closing = asyncio.Event()
        self._add = client.register_script(_ADD)
        self._take = client.register_script(_TAKE)
        self._overdue = client.register_script(_OVERDUE)

    def _keys(self, member: str) -> list[str]:
        return [f"{self._prefix}:items:{member}", f"{self._prefix}:last:{member}", self._due]

    @property
    def _due(self) -> str:
        return f"{self._prefix}:due"

    def start(self) -> None:
        """Look now and then for gatherings whose owner died before handing them over."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_orphans())

    async def add(self, key: Hashable, item: T) -> int:
        """Add an item to the key's gathering and restart its quiet timer; return its size."""
        member = str(key)
        token = secrets.token_hex(8)
        # Kept long enough for any owner or watcher to take them, then dropped by Redis.
        ttl_ms = int((self.delay + self.orphan_grace) * 1000) + 3_600_000
        size = int(
            await self._add(
                keys=self._keys(member),
                args=[token, member, self._encode(item), int(self.delay * 1000), ttl_ms],
            )
        )
        previous = self._timers.pop(member, None)
        if previous is not None:
            previous.cancel()  # its arrival is no longer the last one
        if size >= self.max_items:
            await self._take_and_hand_over(member, token)
        else:
            self._timers[member] = asyncio.create_task(self._wait_then_take(member, token))
        return size

    async def _wait_then_take(self, member: str, token: str) -> None:
        await asyncio.sleep(self.delay)
        self._timers.pop(member, None)
        try:
            await self._take_and_hand_over(member, token)
        except RedisError:
            # The watcher of some process takes the gathering over once Redis answers again.
            log.warning("gathering of %s not taken: Redis unreachable", member, exc_info=True)

    async def _take_and_hand_over(self, member: str, token: str, grace_ms: int = 0) -> bool:
        taken: list[Any] | None = await self._take(
            keys=self._keys(member), args=[token, member, grace_ms]
        )
        if not taken:
            return False
        items = [self._decode(raw.decode() if isinstance(raw, bytes) else raw) for raw in taken]
        self._handovers.start(member, items)
        return True

    async def take_overdue(self) -> int:
        """Hand over the gatherings overdue by the grace period; return how many."""
        grace_ms = int(self.orphan_grace * 1000)
        members = await self._overdue(keys=[self._due], args=[grace_ms])
        taken = 0
        for raw in members:
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            if await self._take_and_hand_over(member, "", grace_ms):
                log.info("took over the gathering of %s left by another process", member)
                taken += 1
        return taken

    async def _watch_orphans(self) -> None:
        interval = max(self.orphan_grace / 2, 0.5)
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), interval)
            if self._closing.is_set():
                return
            try:
                await self.take_overdue()
            except RedisError:
                log.warning("could not look for left gatherings: Redis unreachable")

    async def flush(self) -> None:
        """Hand over the gatherings whose last arrival came to this process, now."""
        timers, self._timers = self._timers, {}
        for timer in timers.values():
            timer.cancel()
        for member, timer in timers.items():
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            # The token is gone with the timer; take whatever the key holds.
            await self._take_and_hand_over(member, "", -(10**9))
        await self._handovers.wait()

    async def close(self) -> None:
        """Stop this process's timers; their gatherings stay in Redis for another process."""
        self._closing.set()
        timers = list(self._timers.values())
        self._timers.clear()
        for timer in timers:
            timer.cancel()
        # The watcher is not cancelled: it sees `_closing` and ends after its current look.
        watcher, self._watcher = self._watcher, None
        await asyncio.gather(*timers, *([watcher] if watcher else []), return_exceptions=True)
        await self._handovers.wait()
