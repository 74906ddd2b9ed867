"""An account's batches and jobs, as the chat's /history and the HTTP API show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.models import Batch, BatchStatus, Job, JobStatus
from db.uow import UnitOfWork
from services.errors import ServiceError


class NotFound(ServiceError):
    """No such batch or job for this account (another account's ids are not found either)."""

    code = "not_found"


@dataclass(frozen=True, slots=True)
class JobView:
    job_id: int
    batch_id: int
    position: int
    input_name: str
    status: str
    error: str | None
    tier: str
    created_at: datetime
    finished_at: datetime | None
    has_result: bool


@dataclass(frozen=True, slots=True)
class BatchView:
    batch_id: int
    tier: str
    status: str
    image_count: int
    done: int
    failed: int
    credits_charged: int
    refunded_credits: int
    paid_with: str
    discount_percent: int
    created_at: datetime
    delivered_at: datetime | None
    results: tuple[str, ...]
    channel: str
    # {"state": pending|delivered|failed, "attempts": n} for a batch with a callback URL;
    # never the receiver's answers or errors, which would map the network behind it.
    callback: dict[str, Any] | None = None


def _job_view(job: Job, batch: Batch) -> JobView:
    return JobView(
        job_id=job.id,
        batch_id=batch.id,
        position=job.position,
        input_name=job.input_name,
        status=job.status,
        error=job.error,
        tier=batch.tier,
        created_at=job.created_at,
        finished_at=job.finished_at,
        has_result=job.status == JobStatus.DONE and job.output_path is not None,
    )


def public_status(batch: Batch) -> str:
    """The batch's state as people see it, from committed facts only.

    A batch settles (refunds written) before its results are packaged and recorded; until both
    are committed it reads as "processing", never as finished without results.
    """
    if batch.delivered_at is not None:
        return BatchStatus.DELIVERED
    if batch.status == BatchStatus.FINISHED:
        return "processing"
    return batch.status


async def _batch_view(uow: UnitOfWork, batch: Batch) -> BatchView:
    counts = await uow.jobs.status_counts(batch.id)
    return BatchView(
        batch_id=batch.id,
        tier=batch.tier,
        status=public_status(batch),
        image_count=batch.image_count,
        done=counts[JobStatus.DONE],
        failed=counts[JobStatus.FAILED],
        credits_charged=batch.credits_charged,
        refunded_credits=batch.refunded_credits,
        paid_with=batch.paid_with,
        discount_percent=batch.discount_percent,
        created_at=batch.created_at,
        delivered_at=batch.delivered_at,
        results=tuple(batch.results),
        channel=batch.channel,
        callback=(
            {"state": batch.callback_state, "attempts": batch.callback_attempts}
            if batch.callback_state is not None
            else None
        ),
    )


async def get_batch(uow: UnitOfWork, account_id: int, batch_id: int) -> BatchView:
    """Return one of the account's batches.

    Raises:
        NotFound: when the account has no such batch.
    """
    async with uow:
        batch = await uow.history.batch(account_id, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        return await _batch_view(uow, batch)


async def recent_batches(
    uow: UnitOfWork, account_id: int, *, limit: int = 10, offset: int = 0
) -> list[BatchView]:
    async with uow:
        batches = await uow.history.batches(account_id, limit=limit, offset=offset)
        return [await _batch_view(uow, batch) for batch in batches]


async def get_job(uow: UnitOfWork, account_id: int, job_id: int) -> JobView:
    """Return one of the account's jobs.

    Raises:
        NotFound: when the account has no such job.
    """
    async with uow:
        found = await uow.history.job(account_id, job_id)
    if found is None:
        raise NotFound(f"no job {job_id}")
    return _job_view(*found)


async def batch_jobs(uow: UnitOfWork, account_id: int, batch_id: int) -> list[JobView]:
    """Return every job of one of the account's batches, in upload order.

    Raises:
        NotFound: when the account has no such batch.
    """
    async with uow:
        batch = await uow.history.batch(account_id, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        jobs = await uow.jobs.for_batch(batch_id)
    return [_job_view(job, batch) for job in jobs]


async def list_jobs(
    uow: UnitOfWork, account_id: int, *, limit: int, offset: int
) -> tuple[list[JobView], int]:
    """Return a page of the account's jobs, newest first, and how many there are in all."""
    async with uow:
        rows, total = await uow.history.jobs(account_id, limit=limit, offset=offset)
    return [_job_view(job, batch) for job, batch in rows], total
