"""A recording chat channel and helpers to run batches through a real Dramatiq worker."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq

from db.models import BatchStatus
from db.uow import UnitOfWork
from services.billing import AcceptedBatch, QuoteFile, accept_quote, create_quote
from services.pipeline import JobWork
from services.pricing import Tier
from tests.integration.helpers import JAKARTA, NOON
from workers.actors import Actors, PipelineConfig, Runtime, TransientFailure, declare_actors
from workers.broker import build_broker
from workers.delivery import Chat


@dataclass
class RecordingDelivery:
    """A chat channel that remembers what the workers asked it to show."""

    progress_interval: timedelta = timedelta(0)
    texts: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    documents: list[tuple[str, bytes, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def send_text(self, chat: Chat, message: str) -> None:
        with self.lock:
            self.texts.append((chat, message))

    async def edit_status(self, chat: Chat, message: str) -> None:
        with self.lock:
            self.statuses.append(message)

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None:
        content = await asyncio.to_thread(path.read_bytes)
        with self.lock:
            self.documents.append((filename, content, caption))


@dataclass
class Pipeline:
    broker: dramatiq.Broker
    actors: Actors
    runtime: Runtime
    delivery: RecordingDelivery

    def worker(self, threads: int = 2, queues: set[str] | None = None) -> dramatiq.Worker:
        # A short poll makes stopping a worker quick; tests start and stop many.
        worker = dramatiq.Worker(
            self.broker, worker_threads=threads, queues=queues, worker_timeout=100
        )
        worker.start()
        return worker


def build_test_pipeline(
    *,
    redis_url: str | None,
    namespace: str,
    database_url: str,
    data_dir: Path,
    cutter: Any,
    packager: Any,
    **config: Any,
) -> Pipeline:
    broker = build_broker(redis_url, namespace=namespace, heartbeat_timeout_ms=2_000)
    delivery = RecordingDelivery()
    runtime = Runtime(
        PipelineConfig(
            data_dir=data_dir,
            database_url=database_url,
            min_backoff_ms=50,
            max_backoff_ms=200,
            **config,
        ),
        cutter=cutter,
        packager=packager,
        channels={"test": delivery},
    )
    return Pipeline(broker, declare_actors(broker, runtime), runtime, delivery)


async def accept_images(
    uow: UnitOfWork,
    account_id: int,
    files: list[QuoteFile],
    *,
    tier: Tier = Tier.BASIC,
    rejected: list[dict[str, Any]] | None = None,
    now: datetime = NOON,
) -> AcceptedBatch:
    offer = await create_quote(
        uow,
        account_id,
        files,
        channel="test",
        chat={"chat_id": 5, "language": "en"},
        ttl=timedelta(days=3650),
        zone=JAKARTA,
        now=now,
        rejected=rejected or [],
    )
    return await accept_quote(uow, offer.quote_id, account_id, tier, zone=JAKARTA, now=now)


async def wait_for(
    condition: Callable[[], Any], *, seconds: float = 120, message: str = "condition"
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = await condition()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


async def delivered(uow: UnitOfWork, batch_id: int) -> bool:
    async with uow:
        batch = await uow.batches.get(batch_id)
        return batch is not None and batch.status == BatchStatus.DELIVERED


def files_under(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below `folder` with its size and modification time, to see what changed."""
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass
class FlakyCutter:
    """A cutter whose engine is unavailable a given number of times per input file."""

    cutter: Any
    outages: dict[str, int]
    calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, work: JobWork, source: Path, results_dir: Path) -> Path:
        with self.lock:
            self.calls[work.input_name] = self.calls.get(work.input_name, 0) + 1
            left = self.outages.get(work.input_name, 0)
            self.outages[work.input_name] = max(left - 1, 0)
        if left:
            raise TransientFailure("engine unavailable")
        path: Path = self.cutter(work, source, results_dir)
        return path
