"""A finished batch's callback: claimed one attempt at a time, on a bounded schedule.

The database says where each callback stands (pending, delivered, failed) and when its next
attempt is due; the queue only carries the reminders. A callback never holds up the batch:
the results are recorded, and downloadable, before its first attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from db.models import CallbackState
from db.uow import UnitOfWork
from services.api_keys import derive_callback_secret

# A reminder may arrive a little before the time it was sent for.
EARLY_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One attempt at calling a batch's callback URL: what to send, and with which secret."""

    batch_id: int
    account_id: int
    url: str
    number: int
    secret: str
    image_count: int
    succeeded: int
    failed: int
    credits_charged: int
    refunded_credits: int


async def claim_callback_attempt(
    uow: UnitOfWork,
    batch_id: int,
    *,
    server_key: bytes,
    schedule: Sequence[float],
    now: datetime,
) -> CallbackAttempt | None:
    """Take the batch's next callback attempt; None when none is due (delivered, given up,
    not yet time, or another worker took it)."""
    async with uow:
        batch = await uow.batches.get(batch_id)
        if batch is None or batch.callback_state != CallbackState.PENDING:
            return None
        account = await uow.accounts.get(batch.account_id)
        if account is None or account.callback_secret_nonce is None:
            return None  # the secret is made with the batch; the sweep tries again later
        number = batch.callback_attempts + 1
        wait = schedule[number - 1] if number <= len(schedule) else None
        # Recorded before the call: a worker that dies mid-call still spends the attempt.
        next_at = now + timedelta(seconds=wait) if wait is not None else None
        if not await uow.work.claim_callback(
            batch_id,
            attempts=batch.callback_attempts,
            due_by=now + EARLY_TOLERANCE,
            next_at=next_at,
        ):
            return None
        counts = await uow.jobs.status_counts(batch_id)
        await uow.commit()
    return CallbackAttempt(
        batch_id=batch_id,
        account_id=batch.account_id,
        url=str(batch.chat.get("callback_url", "")),
        number=number,
        secret=derive_callback_secret(server_key, batch.account_id, account.callback_secret_nonce),
        image_count=batch.image_count,
        succeeded=counts["done"],
        failed=counts["failed"],
        credits_charged=batch.credits_charged,
        refunded_credits=batch.refunded_credits,
    )


async def record_callback_outcome(
    uow: UnitOfWork, attempt: CallbackAttempt, *, delivered: bool, schedule: Sequence[float]
) -> float | None:
    """Record how an attempt went; return the seconds until the next one, or None when done."""
    given_up = not delivered and attempt.number > len(schedule)
    async with uow:
        if delivered or given_up:
            state = CallbackState.DELIVERED if delivered else CallbackState.FAILED
            await uow.work.finish_callback(attempt.batch_id, state)
        await uow.commit()
    if delivered or given_up:
        return None
    return schedule[attempt.number - 1]


async def lost_callbacks(uow: UnitOfWork, *, now: datetime, grace: timedelta) -> Sequence[int]:
    """Batches whose callback attempt is overdue by more than `grace`: its reminder was lost."""
    async with uow:
        return await uow.work.overdue_callbacks(now - grace)
