"""The SQL behind reminders: preferences, the once-only claims, and who is due. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
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

    async def claim(self, account_id: int, kind: str, subject: str, now: datetime) -> bool:
        """Record the reminder; False when it was recorded before."""
        try:
            async with self.session.begin_nested():
                self.session.add(
                    ReminderSent(account_id=account_id, kind=kind, subject=subject, sent_at=now)
                )
        except IntegrityError:
            return False
        return True

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
