"""Service-wide figures for the operators' /metrics endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from db.models import JobStatus, LedgerReason
from db.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class ServiceMetrics:
    accounts: int
    images: dict[tuple[str, str], int]  # (tier, outcome) -> count; outcome done or failed
    waiting_jobs: int
    processing_count: int
    processing_seconds: float
    credits_charged: int
    credits_refunded: int


async def read_metrics(uow: UnitOfWork) -> ServiceMetrics:
    async with uow:
        rows = await uow.metrics.jobs_by_tier_and_status()
        count, seconds = await uow.metrics.processing_time()
        by_reason = await uow.ledger.sum_by_reason()
        accounts = await uow.accounts.count()
    finished = {(tier, status): n for tier, status, n in rows if status in {"done", "failed"}}
    waiting = sum(n for _, status, n in rows if status in {JobStatus.QUEUED, JobStatus.RUNNING})
    return ServiceMetrics(
        accounts=accounts,
        images=finished,
        waiting_jobs=waiting,
        processing_count=count,
        processing_seconds=seconds,
        credits_charged=-by_reason.get(LedgerReason.CHARGE, 0),
        credits_refunded=by_reason.get(LedgerReason.REFUND, 0),
    )
