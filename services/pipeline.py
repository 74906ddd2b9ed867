"""The job pipeline's use cases: claim, finish and retry one job, find lost work, read progress.

The database is the source of truth and the queue is transport: every step here is a conditional
update, so a message delivered twice, or a job re-queued by the sweep, changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from db.models import Batch, Job, JobStatus
from db.uow import UnitOfWork
from services.pricing import Tier

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class JobWork:
    """What a worker needs to process one image."""

    job_id: int
    batch_id: int
    position: int
    input_name: str
    input_path: str
    tier: Tier
    options: dict[str, Any]
    attempts: int
    priority: bool


async def start_job(
    uow: UnitOfWork, job_id: int, *, now: datetime, stale_after: timedelta
) -> JobWork | None:
    """Claim a job for processing; None when it is finished or another worker holds it."""
    async with uow:
        job = await uow.work.claim_job(job_id, now, stale_before=now - stale_after)
        if job is None:
            return None
        batch = await uow.batches.get(job.batch_id)
        assert batch is not None
        await uow.commit()
    return JobWork(
        job_id=job.id,
        batch_id=batch.id,
        position=job.position,
        input_name=job.input_name,
        input_path=job.input_path,
        tier=Tier(batch.tier),
        options=dict(batch.output_options),
        attempts=job.attempts,
        priority=bool(batch.priority),
    )


async def complete_job(
    uow: UnitOfWork, job_id: int, output_path: str, *, now: datetime, duration_ms: int
) -> bool:
    """Record a job's result; False when it was already finished."""
    async with uow:
        done = await uow.work.finish_job(
            job_id,
            status=JobStatus.DONE,
            now=now,
            output_path=output_path,
            duration_ms=duration_ms,
        )
        await uow.commit()
    return done


async def fail_job(uow: UnitOfWork, job_id: int, reason: str, *, now: datetime) -> bool:
    """Record that a job failed for good, with a reason code; False when already finished."""
    async with uow:
        failed = await uow.work.finish_job(job_id, status=JobStatus.FAILED, now=now, error=reason)
        await uow.commit()
    return failed


async def release_for_retry(uow: UnitOfWork, job_id: int, *, now: datetime) -> None:
    """Hand a job back to the queue state after a transient error, for the broker's retry."""
    async with uow:
        await uow.work.release_job(job_id, now)
        await uow.commit()


async def mark_enqueued(uow: UnitOfWork, job_ids: Sequence[int], *, now: datetime) -> None:
    """Note that the queue has these jobs, so the sweep leaves them alone for a while."""
    async with uow:
        await uow.work.mark_enqueued(job_ids, now)
        await uow.commit()


@dataclass(frozen=True, slots=True)
class Progress:
    batch_id: int
    done: int
    failed: int
    total: int
    cancelled: int = 0

    @property
    def finished(self) -> bool:
        return self.done + self.failed + self.cancelled == self.total


async def batch_progress(uow: UnitOfWork, batch_id: int) -> Progress:
    """Count a batch's finished jobs: what the chat's status message shows."""
    async with uow:
        batch = await uow.batches.get(batch_id)
        if batch is None:
            raise LookupError(f"no batch {batch_id}")
        counts = await uow.jobs.status_counts(batch_id)
    return Progress(
        batch_id,
        counts[JobStatus.DONE],
        counts[JobStatus.FAILED],
        batch.image_count,
        counts[JobStatus.CANCELLED],
    )


async def claim_progress_report(
    uow: UnitOfWork, batch_id: int, *, now: datetime, interval: timedelta
) -> bool:
    """True for at most one caller per interval and batch, whichever worker asks."""
    async with uow:
        claimed = await uow.work.claim_progress_report(batch_id, now, now - interval)
        await uow.commit()
    return claimed


@dataclass(frozen=True, slots=True)
class LostWork:
    jobs: tuple[tuple[int, bool], ...]
    batches: tuple[int, ...]
    running: frozenset[int] = frozenset()

    def not_on_queue(self, on_queue: Collection[int] | None) -> LostWork:
        """Drop the queued jobs the broker still holds: they are waiting, not lost.

        A running job past its grace belongs to a dead worker, whatever the broker says.
        """
        if on_queue is None:
            return self
        jobs = tuple(
            (job_id, priority)
            for job_id, priority in self.jobs
            if job_id in self.running or job_id not in on_queue
        )
        return LostWork(jobs, self.batches, self.running)


async def find_lost_work(
    uow: UnitOfWork,
    *,
    now: datetime,
    queued_grace: timedelta,
    running_grace: timedelta,
    limit: int = 10_000,
) -> LostWork:
    """Jobs queued in the database but not on the queue, or held by a dead worker, and
    finished batches whose results were never delivered."""
    async with uow:
        jobs = await uow.work.lost_jobs(
            queued_before=now - queued_grace, running_before=now - running_grace, limit=limit
        )
        running = await uow.session.scalars(
            select(Job.id).where(
                Job.id.in_([job_id for job_id, _ in jobs]), Job.status == JobStatus.RUNNING
            )
        )
        batches = await uow.work.unfinished_batches(now - running_grace)
    return LostWork(tuple(jobs), tuple(batches), frozenset(running))


@dataclass(frozen=True, slots=True)
class FailedImage:
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a finished batch produced, for packaging and the summary."""

    batch: Batch
    results: tuple[Job, ...]
    failures: tuple[FailedImage, ...] = field(default=())


async def claim_delivery(
    uow: UnitOfWork, batch_id: int, *, now: datetime, stale_after: timedelta
) -> BatchOutcome | None:
    """Take the right to deliver a finished batch; None when it is delivered or being delivered."""
    async with uow:
        if not await uow.work.claim_delivery(batch_id, now, now - stale_after):
            return None
        batch = await uow.batches.get(batch_id)
        assert batch is not None
        jobs = await uow.jobs.for_batch(batch_id)
        quote = await uow.quotes.get(batch.quote_id)
        await uow.commit()
    rejected = quote.rejected if quote else []
    failures = [FailedImage(j.input_name, j.error or "unknown") for j in jobs if j.error]
    failures += [FailedImage(str(r.get("name", "?")), str(r.get("reason", "?"))) for r in rejected]
    return BatchOutcome(
        batch=batch,
        results=tuple(j for j in jobs if j.status == JobStatus.DONE and j.output_path),
        failures=tuple(failures),
    )


async def release_delivery(uow: UnitOfWork, batch_id: int) -> None:
    """Give up a delivery claim after a failed attempt, so the retry can take it."""
    async with uow:
        await uow.work.release_delivery(batch_id)
        await uow.commit()


async def mark_delivered(
    uow: UnitOfWork, batch_id: int, result_paths: Sequence[str], *, now: datetime
) -> bool:
    """Record the results and the delivery in one commit; True when a callback is now due."""
    async with uow:
        batch = await uow.batches.get(batch_id)
        assert batch is not None
        batch.results = list(result_paths)
        callback = bool(batch.chat.get("callback_url")) and batch.delivered_at is None
        await uow.work.mark_delivered(batch_id, now, callback=callback)
        await uow.commit()
    return callback
