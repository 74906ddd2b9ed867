"""Free previews in the bot process: the basic tier's engine, on a thread of its own.

The quote goes out first; the preview follows when it is ready, so it never delays a quote,
and when the engine is unavailable the quote works all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from db.uow import UnitOfWork
from services.clock import utcnow
from services.engines.base import EngineError, SegmentationEngine
from services.imaging.intake import ImageRejected
from services.previews import (
    give_back_preview_allowance,
    render_preview,
    take_preview_allowance,
)
from services.settings import Settings

log = logging.getLogger(__name__)

EngineFactory = Callable[[], SegmentationEngine]


def basic_engine_factory(settings: Settings) -> EngineFactory:
    """The engine catalog's entry for the basic tier, built on first use (in the pool)."""

    def build() -> SegmentationEngine:
        from services.engines.registry import EngineCatalog
        from services.pricing import Tier
        from workers.cutout import engine_config

        return EngineCatalog(engine_config(settings)).for_tier(Tier.BASIC)

    return build


@dataclass(frozen=True, slots=True)
class Preview:
    png: bytes
    left_today: int


class Previewer:
    """Makes previews for one process; `close` stops what is in flight."""

    def __init__(
        self,
        settings: Settings,
        uow: Callable[[], UnitOfWork],
        engine: EngineFactory | None = None,
    ) -> None:
        self.settings = settings
        self.uow = uow
        self._build_engine = engine or basic_engine_factory(settings)
        self._engine: SegmentationEngine | None = None
        # One thread: previews wait for each other rather than take the cores paying work needs.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="preview")
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = 0  # previews asked for since the start, shown or not

    def _render(self, source: Path, background: str | None) -> bytes:
        if self._engine is None:
            self._engine = self._build_engine()  # loads a model: in the pool, never the loop
        return render_preview(
            source,
            self._engine,
            self.settings.intake_limits(),
            max_side=self.settings.preview_max_side,
            background=background,
        )

    async def make(
        self, account_id: int, input_path: str, *, background: str | None = None
    ) -> Preview | None:
        """A preview of one input, counted against today's allowance; None when none is due."""
        settings = self.settings
        allowance = await take_preview_allowance(
            self.uow(),
            account_id,
            per_day=settings.previews_per_day,
            zone=settings.zone,
            now=utcnow(),
        )
        if allowance is None:
            return None
        loop = asyncio.get_running_loop()
        source = settings.data_dir / input_path
        try:
            png = await loop.run_in_executor(self._pool, self._render, source, background)
        except (EngineError, ImageRejected, OSError):
            log.warning("no preview of %s", input_path, exc_info=True)
            await give_back_preview_allowance(self.uow(), account_id, allowance.day)
            return None
        except BaseException:
            # Anything else (a bug, a cancelled task at shutdown) still returns the allowance.
            await asyncio.shield(give_back_preview_allowance(self.uow(), account_id, allowance.day))
            raise
        return Preview(png, allowance.left)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a preview's sending in the background, kept until done or closed."""
        task = asyncio.get_running_loop().create_task(work)
        self.started += 1
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("preview failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait for the previews in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)
