"""The SQL behind reminders: preferences, the once-only claims, and who is due. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Account,
    Batch,
    LedgerEntry,
    ReminderPreference,
    ReminderSent,
    Subscription,
)


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enabled(self, account_id: int) -> bool:
        preference = await self.session.get(ReminderPreference, account_id)
        return preference is None or preference.enabled

    async def set_enabled(self, account_id: int, enabled: bool, now: datetime) -> None:
        preference = await self.session.get(ReminderPreference, account_id)
        if preference is None:
            self.session.add(
                ReminderPreference(account_id=account_id, enabled=enabled, updated_at=now)
            )
        else:
            preference.enabled = enabled
            preference.updated_at = now
        await self.session.flush()

    async def claim(
        self,
        account_id: int,
        kind: str,
        subject: str,
        now: datetime,
        payload: dict[str, Any] | None = None,
    ) -> int | None:
        """Record the notice, not yet delivered; its id, or None when it was recorded before."""
        row = ReminderSent(
            account_id=account_id, kind=kind, subject=subject, sent_at=now, payload=payload
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return None
        return row.id

    async def lease(
        self, notice_id: int, now: datetime, stale_before: datetime, max_attempts: int
    ) -> ReminderSent | None:
        """Take the undelivered notice for one send: never tried, or its last try began before
        `stale_before` (it failed or its sender died); None when delivered, being sent, or out
        of attempts."""
        result = await self.session.execute(
            update(ReminderSent)
            .where(
                ReminderSent.id == notice_id,
                ReminderSent.delivered_at.is_(None),
                ReminderSent.attempts < max_attempts,
                or_(ReminderSent.attempts == 0, ReminderSent.sent_at < stale_before),
            )
            .values(sent_at=now, attempts=ReminderSent.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.session.get(ReminderSent, notice_id, populate_existing=True)

    async def mark_delivered(self, notice_id: int, now: datetime) -> None:
        await self.session.execute(
            update(ReminderSent)
            .where(ReminderSent.id == notice_id)
            .values(delivered_at=now)
            .execution_options(synchronize_session=False)
        )

    async def undelivered(
        self, stale_before: datetime, tried_after: datetime, max_attempts: int
    ) -> Sequence[int]:
        """Notices not delivered whose last try is older than `stale_before` (and newer than
        `tried_after`), with attempts left."""
        result = await self.session.execute(
            select(ReminderSent.id).where(
                ReminderSent.delivered_at.is_(None),
                ReminderSent.payload.is_not(None),
                ReminderSent.attempts < max_attempts,
                ReminderSent.sent_at < stale_before,
                ReminderSent.sent_at > tried_after,
            )
        )
        return result.scalars().all()

    async def release(self, account_id: int, kind: str, subject: str) -> None:
        """Forget a claim whose message could not be sent, so that a retry may send it."""
        await self.session.execute(
            delete(ReminderSent).where(
                ReminderSent.account_id == account_id,
                ReminderSent.kind == kind,
                ReminderSent.subject == subject,
            )
        )

    async def claimed_subjects(self, kind: str, account_ids: Sequence[int]) -> set[tuple[int, str]]:
        """The (account, subject) claims of one kind among these accounts."""
        if not account_ids:
            return set()
        result = await self.session.execute(
            select(ReminderSent.account_id, ReminderSent.subject).where(
                ReminderSent.kind == kind, ReminderSent.account_id.in_(set(account_ids))
            )
        )
        return {(account_id, subject) for account_id, subject in result.all()}

    async def batches_delivered_since(self, since: datetime) -> Sequence[Batch]:
        result = await self.session.execute(
            select(Batch).where(Batch.delivered_at.is_not(None), Batch.delivered_at >= since)
        )
        return result.scalars().all()

    async def batches_created_between(self, start: datetime, end: datetime) -> Sequence[Batch]:
        result = await self.session.execute(
            select(Batch).where(
                Batch.delivered_at.is_not(None),
                Batch.created_at >= start,
                Batch.created_at < end,
            )
        )
        return result.scalars().all()

    async def last_credit_in(self, account_id: int) -> int:
        """The id of the account's newest ledger entry that added credits (0 when none)."""
        result = await self.session.execute(
            select(func.max(LedgerEntry.id)).where(
                LedgerEntry.account_id == account_id, LedgerEntry.delta > 0
            )
        )
        return int(result.scalar_one() or 0)

    async def plans_ending(self, now: datetime, until: datetime) -> Sequence[Subscription]:
        """Plans that end before `until` without renewing by themselves or being stopped."""
        result = await self.session.execute(
            select(Subscription).where(
                Subscription.auto_renew.is_(False),
                Subscription.cancelled_at.is_(None),
                Subscription.period_end > now,
                Subscription.period_end <= until,
            )
        )
        return result.scalars().all()

    async def account(self, account_id: int) -> Account | None:
        return await self.session.get(Account, account_id)
