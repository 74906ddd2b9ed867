"""Dramatiq actors of the job pipeline. They take ids, and running one twice changes nothing."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from db.engine import SessionFactory, create_engine, create_session_factory
from db.uow import UnitOfWork
from services.api_keys import callback_signing_key
from services.billing import settle_batch
from services.callbacks import (
    CallbackAttempt,
    claim_callback_attempt,
    lost_callbacks,
    record_callback_outcome,
)
from services.clock import utcnow
from services.errors import BatchNotFinished
from services.idempotency import purge_idempotency_records
from services.pipeline import (
    MAX_ATTEMPTS,
    BatchOutcome,
    JobWork,
    batch_progress,
    claim_delivery,
    claim_progress_report,
    complete_job,
    fail_job,
    find_lost_work,
    mark_delivered,
    mark_enqueued,
    release_delivery,
    release_for_retry,
    start_job,
)
from services.pricing import Tier
from services.retention import purge_expired
from services.uploads import expire_quotes
from workers.broker import (
    BATCHES,
    CALLBACKS,
    IMAGES,
    MAINTENANCE,
    PRIORITY_IMAGES,
    build_callback_broker,
    job_ids_on_queue,
)
from workers.delivery import (
    ClosesClients,
    Delivery,
    DeliveryError,
    Summary,
    UnknownChannel,
    deliver_results,
    progress_text,
)

log = logging.getLogger(__name__)

# Declared with the payment notices (workers.payment_actors), on their queue: telling the
# inviter of a reward is a chat message, never work for the image threads.
REFERRER_NOTICE_ACTOR = "notify_referrer"


class PermanentFailure(Exception):
    """An image that no retry will fix (corrupt, not an image); `code` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class TransientFailure(Exception):
    """An engine that may answer later (rate limited, unavailable, timed out)."""


class Cutter(Protocol):
    """Turns one input file into one result file; raises PermanentFailure or TransientFailure."""

    def __call__(self, work: JobWork, source: Path, results_dir: Path) -> Path: ...


class Packager(Protocol):
    """Turns a finished batch's results into the files to send: (path, file name) pairs."""

    def __call__(self, outcome: BatchOutcome, data_dir: Path) -> Sequence[tuple[Path, str]]: ...


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    data_dir: Path
    database_url: str
    stale_after: timedelta = timedelta(minutes=10)
    queued_grace: timedelta = timedelta(minutes=5)
    retention: timedelta = timedelta(days=7)
    local_threads: int = 2
    remote_threads: int = 16
    remote_tiers: frozenset[Tier] = frozenset()
    min_backoff_ms: int = 2_000
    max_backoff_ms: int = 60_000
    callback_schedule: tuple[float, ...] = (60.0, 600.0, 3600.0, 21600.0, 57600.0)
    callback_threads: int = 4
    callback_signing_key: str | None = field(default=None, repr=False)

    @property
    def message_threads(self) -> int:
        """Dramatiq worker threads that keep every engine pool of a process busy.

        The actors are coroutines that wait on the pools, so one thread per image in flight.
        """
        return self.local_threads + (self.remote_threads if self.remote_tiers else 0)


class Runtime:
    """What the actors of one process share: the database, the engines and the channels."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        cutter: Cutter,
        packager: Packager,
        channels: dict[str, Delivery],
    ) -> None:
        self.config = config
        self.cutter = cutter
        self.packager = packager
        self.channels = channels
        self._sessions: SessionFactory | None = None
        self._pools: dict[bool, ThreadPoolExecutor] = {}
        self._signing_key: bytes | None = None

    def _pool(self, remote: bool) -> ThreadPoolExecutor:
        # Decoding, inference and encoding are CPU work: never on the event loop. A local model
        # uses the cores, so its pool has one thread per core; a remote engine mostly waits on
        # the network, so its pool is wider and does not queue behind local work. Made on first
        # use, so a worker started after another one stopped gets fresh pools.
        if remote not in self._pools:
            size, name = (
                (self.config.remote_threads, "remote")
                if remote
                else (self.config.local_threads, "cutout")
            )
            self._pools[remote] = ThreadPoolExecutor(size, thread_name_prefix=name)
        return self._pools[remote]

    def signing_key(self) -> bytes:
        """The server-side key callback secrets derive from."""
        if self._signing_key is None:
            self._signing_key = callback_signing_key(
                self.config.callback_signing_key, self.config.data_dir
            )
        return self._signing_key

    def uow(self) -> UnitOfWork:
        # Made on first use, inside the event loop that Dramatiq's AsyncIO middleware runs.
        if self._sessions is None:
            self._sessions = create_session_factory(create_engine(self.config.database_url))
        return UnitOfWork(self._sessions)

    def channel(self, name: str) -> Delivery:
        try:
            return self.channels[name]
        except KeyError:
            raise UnknownChannel(f"no delivery for channel {name!r}") from None

    async def cut_out(self, work: JobWork, source: Path, results_dir: Path) -> Path:
        pool = self._pool(remote=work.tier in self.config.remote_tiers)
        loop = asyncio.get_running_loop()
        # run_in_executor, unlike to_thread, leaves the context behind: carry it, so that the
        # engine's log records name the request that started the job.
        in_context = functools.partial(
            contextvars.copy_context().run, self.cutter, work, source, results_dir
        )
        return await loop.run_in_executor(pool, in_context)

    async def package(self, outcome: BatchOutcome) -> Sequence[tuple[Path, str]]:
        # Zipping finished PNGs is file I/O: the default pool, not a slot of the engine pools.
        return await asyncio.to_thread(self.packager, outcome, self.config.data_dir)

    async def close(self) -> None:
        """Release the channels' clients and the database connections, on their loop."""
        for channel in self.channels.values():
            if isinstance(channel, ClosesClients):
                await channel.close()
        if self._sessions is not None:
            await self._sessions.kw["bind"].dispose()
            self._sessions = None

    def stop_pools(self) -> None:
        """Wait for the images in the engine pools to finish, then let their threads go."""
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.shutdown(wait=True)


@runtime_checkable
class CallsBack(Protocol):
    """A channel that calls integrators back when their batch is delivered."""

    async def call_back(self, attempt: CallbackAttempt) -> bool: ...


class CallbackWorker(dramatiq.Middleware):
    """Serve the callbacks broker with threads of its own while the pipeline's worker runs."""

    def __init__(self, callbacks: dramatiq.Broker, threads: int) -> None:
        self.callbacks = callbacks
        self.threads = threads
        self.worker: dramatiq.Worker | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.worker is None:
            self.worker = dramatiq.Worker(
                self.callbacks, worker_threads=self.threads, worker_timeout=100
            )
            self.worker.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


class CloseRuntime(dramatiq.Middleware):
    """Close the runtime's resources when the worker stops, before its event loop does."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.runtime.close())
        self.runtime.stop_pools()


@dataclass(frozen=True, slots=True)
class Actors:
    process_image: dramatiq.Actor[[int], None]
    process_image_priority: dramatiq.Actor[[int], None]
    finish_batch: dramatiq.Actor[[int], None]
    sweep: dramatiq.Actor[[], None]
    clean_up: dramatiq.Actor[[], None]
    deliver_callback: dramatiq.Actor[[int], None]

    def enqueue_jobs(self, job_ids: Sequence[int], *, priority: bool) -> None:
        """Put jobs on the queue; pro batches go to the queue served first."""
        actor = self.process_image_priority if priority else self.process_image
        for job_id in job_ids:
            actor.send(job_id)


def declare_actors(broker: dramatiq.Broker, runtime: Runtime) -> Actors:
    """Declare the pipeline's actors on `broker`, bound to this process's runtime."""
    config = runtime.config
    callback_broker = build_callback_broker(broker)
    # Before CloseRuntime: the callbacks stop before the database they record in closes.
    broker.add_middleware(CallbackWorker(callback_broker, config.callback_threads))
    broker.add_middleware(CloseRuntime(runtime))
    retries = {
        "max_retries": MAX_ATTEMPTS,
        "min_backoff": config.min_backoff_ms,
        "max_backoff": config.max_backoff_ms,
    }

    async def after_job(work: JobWork) -> None:
        progress = await batch_progress(runtime.uow(), work.batch_id)
        if progress.finished:
            # Sending is blocking network I/O on Redis: keep it off the shared event loop.
            await asyncio.to_thread(actors.finish_batch.send, work.batch_id)
            return
        batch_chat = await _chat_of(runtime, work.batch_id)
        delivery = runtime.channels.get(batch_chat.channel)
        if delivery is None:
            return  # a worker that serves images only; the batch's own channel shows progress
        if await claim_progress_report(
            runtime.uow(), work.batch_id, now=utcnow(), interval=delivery.progress_interval
        ):
            try:
                await delivery.edit_status(
                    batch_chat.chat, progress_text(progress, batch_chat.language)
                )
            except DeliveryError:
                log.warning("progress update of batch %s not shown", work.batch_id, exc_info=True)

    async def process_image(job_id: int) -> None:
        """Cut out one image of a batch."""
        uow = runtime.uow()
        work = await start_job(uow, job_id, now=utcnow(), stale_after=config.stale_after)
        if work is None:
            return
        if work.attempts > MAX_ATTEMPTS:
            # Claimed again and again: the worker holding it keeps dying on this image.
            await fail_job(uow, job_id, "worker_lost", now=utcnow())
        else:
            source = config.data_dir / work.input_path
            results_dir = config.data_dir / "results" / str(work.batch_id)
            started = time.monotonic()
            try:
                output = await runtime.cut_out(work, source, results_dir)
            except PermanentFailure as failure:
                log.info("job %s of batch %s refused: %s", job_id, work.batch_id, failure.code)
                await fail_job(uow, job_id, failure.code, now=utcnow())
            except TransientFailure:
                if work.attempts >= MAX_ATTEMPTS:
                    await fail_job(uow, job_id, "engine_unavailable", now=utcnow())
                else:
                    await release_for_retry(uow, job_id, now=utcnow())
                    raise
            else:
                relative = output.relative_to(config.data_dir).as_posix()
                elapsed_ms = round((time.monotonic() - started) * 1000)
                await complete_job(uow, job_id, relative, now=utcnow(), duration_ms=elapsed_ms)
                log.info(
                    "job %s of batch %s cut out at %s in %d ms",
                    job_id,
                    work.batch_id,
                    work.tier.value,
                    elapsed_ms,
                )
        await after_job(work)

    async def finish_batch(batch_id: int) -> None:
        """Refund what failed, package the results and deliver them, once."""
        try:
            settlement = await settle_batch(runtime.uow(), batch_id, now=utcnow())
        except BatchNotFinished:
            return
        if settlement.referral is not None and settlement.referral.referrer_credits:
            # The settlement has committed the reward's ledger entries: now the inviter may
            # hear of it. Only the winning settlement carries the reward, so this is sent once;
            # the notice's own claim keeps a repeat from reaching the person.
            try:
                notice = broker.get_actor(REFERRER_NOTICE_ACTOR)
            except dramatiq.errors.ActorNotFound:
                log.warning(
                    "no %s actor: the upkeep will announce the reward", REFERRER_NOTICE_ACTOR
                )
            else:
                await asyncio.to_thread(notice.send, settlement.referral.invitee_account_id)
        outcome = await claim_delivery(
            runtime.uow(), batch_id, now=utcnow(), stale_after=config.stale_after
        )
        if outcome is None:
            return
        batch = outcome.batch
        try:
            files = await runtime.package(outcome)
            summary = Summary(settlement, outcome.failures, batch.image_count)
            language = str(batch.chat.get("language", "en"))
            # Channels get the batch's own ids with the chat, for links and callbacks.
            chat = {
                **batch.chat,
                "batch_id": batch.id,
                "account_id": batch.account_id,
                "images": batch.image_count,  # a batch of several offers to redo one image
            }
            await deliver_results(runtime.channel(batch.channel), chat, files, summary, language)
        except BaseException:
            await release_delivery(runtime.uow(), batch_id)
            raise
        paths = [path.relative_to(config.data_dir).as_posix() for path, _ in files]
        if await mark_delivered(runtime.uow(), batch_id, paths, now=utcnow()):
            await asyncio.to_thread(actors.deliver_callback.send, batch_id)

    async def deliver_callback(batch_id: int) -> None:
        """Make the next attempt at a delivered batch's callback, and schedule the one after."""
        channel = runtime.channels.get("api")
        if not isinstance(channel, CallsBack):
            return
        schedule = config.callback_schedule
        attempt = await claim_callback_attempt(
            runtime.uow(),
            batch_id,
            server_key=runtime.signing_key(),
            schedule=schedule,
            now=utcnow(),
        )
        if attempt is None:
            return
        delivered = await channel.call_back(attempt)
        wait = await record_callback_outcome(
            runtime.uow(), attempt, delivered=delivered, schedule=schedule
        )
        if wait is not None:
            await asyncio.to_thread(
                actors.deliver_callback.send_with_options,
                args=(batch_id,),
                delay=int(wait * 1000),
            )

    async def sweep() -> None:
        """Re-queue work the queue lost and deliver finished batches nobody delivered."""
        candidates = await find_lost_work(
            runtime.uow(),
            now=utcnow(),
            queued_grace=config.queued_grace,
            running_grace=config.stale_after,
        )
        # Read the broker after the database: a job still queued there and absent here is lost.
        lost = candidates.not_on_queue(await asyncio.to_thread(job_ids_on_queue, broker))
        for priority in (True, False):
            job_ids = [job_id for job_id, urgent in lost.jobs if urgent is priority]
            await asyncio.to_thread(actors.enqueue_jobs, job_ids, priority=priority)
            await mark_enqueued(runtime.uow(), job_ids, now=utcnow())
        for batch_id in lost.batches:
            await asyncio.to_thread(actors.finish_batch.send, batch_id)
        overdue = await lost_callbacks(runtime.uow(), now=utcnow(), grace=config.queued_grace)
        for batch_id in overdue:
            await asyncio.to_thread(actors.deliver_callback.send, batch_id)
        expired = await expire_quotes(runtime.uow(), data_dir=config.data_dir, now=utcnow())
        if expired:
            log.info("sweep closed %d expired quotes and deleted their files", expired)
        if lost.jobs or lost.batches:
            log.info("sweep re-queued %d jobs and %d batches", len(lost.jobs), len(lost.batches))

    async def clean_up() -> None:
        """Delete files and records past the retention period."""
        purge = await purge_expired(
            runtime.uow(), config.data_dir, now=utcnow(), retention=config.retention
        )
        keys = await purge_idempotency_records(runtime.uow(), now=utcnow())
        log.info("retention: %s, idempotency keys forgotten: %d", purge, keys)

    def declare(fn: Callable[..., Any], name: str, queue: str, **options: Any) -> Any:
        on = options.pop("on", broker)
        return dramatiq.actor(actor_name=name, queue_name=queue, broker=on, **options)(fn)

    images = {"throws": (PermanentFailure,), **retries}
    actors = Actors(
        process_image=declare(process_image, "process_image", IMAGES, priority=10, **images),
        process_image_priority=declare(
            process_image, "process_image_priority", PRIORITY_IMAGES, priority=0, **images
        ),
        finish_batch=declare(
            finish_batch, "finish_batch", BATCHES, time_limit=30 * 60_000, **retries
        ),
        sweep=declare(sweep, "sweep", MAINTENANCE, max_retries=0),
        clean_up=declare(clean_up, "clean_up", MAINTENANCE, max_retries=0, time_limit=3_600_000),
        # One attempt per message: the schedule is the actor's own, recorded in the database.
        deliver_callback=declare(
            deliver_callback,
            "deliver_callback",
            CALLBACKS,
            on=callback_broker,
            max_retries=0,
            time_limit=120_000,
        ),
    )
    return actors


@dataclass(frozen=True, slots=True)
class _BatchChat:
    channel: str
    chat: Mapping[str, Any]
    language: str


async def _chat_of(runtime: Runtime, batch_id: int) -> _BatchChat:
    async with runtime.uow() as uow:
        batch = await uow.batches.get(batch_id)
        assert batch is not None
        return _BatchChat(batch.channel, batch.chat, str(batch.chat.get("language", "en")))
