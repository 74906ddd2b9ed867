"""Gather files that arrive in quick succession from one chat into one upload.

Chat platforms deliver an album as separate messages with no "last item" marker, and people
send several photos one after another: both become one quote once the chat has been quiet
for a short delay. One `Gatherer` belongs to the composition root of a process; it keeps the
pending files of each chat in its own instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DELAY_SECONDS = 1.5


class Gatherer(Generic[T]):
    """Collect items per key and hand them over together after `delay` seconds of quiet.

    `on_ready(key, items)` runs once per gathering, in arrival order of the items, in its own
    task; an error it raises is logged, never lost silently.
    """

    def __init__(
        self,
        on_ready: Callable[[Hashable, list[T]], Awaitable[None]],
        *,
        delay: float = DEFAULT_DELAY_SECONDS,
        max_items: int = 500,
    ) -> None:
        self.on_ready = on_ready
        self.delay = delay
        self.max_items = max_items
        self._pending: dict[Hashable, list[T]] = {}
        self._timers: dict[Hashable, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    def add(self, key: Hashable, item: T) -> int:
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
        if not items:
            return
        task = asyncio.create_task(self._hand_over(key, items))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _hand_over(self, key: Hashable, items: list[T]) -> None:
        try:
            await self.on_ready(key, items)
        except Exception:
            log.exception("a gathered upload of %d files could not be handled", len(items))

    async def flush(self) -> None:
        """Hand over every pending gathering now and wait until all are handled."""
        for key in list(self._timers):
            self._timers.pop(key).cancel()
        for key in list(self._pending):
            self._release(key)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        """Drop pending gatherings and wait for those being handled (at shutdown)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
