"""Repository of the chat's extras: cancelled batches, invite links and referrals, promo codes
and free previews. It flushes, never commits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Batch,
    InviteCode,
    Job,
    JobStatus,
    LedgerEntry,
    LedgerReason,
    PreviewUsage,
    PromoCode,
    PromoRedemption,
    Referral,
)


class ChatExtrasRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self, model: type[Any]) -> Any:
        """INSERT … ON CONFLICT in the dialect of the session's database."""
        dialect = self.session.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)

    # --- cancelling a batch in progress ---

    async def mark_cancelling(self, batch_id: int, now: datetime) -> bool:
        """Note a Cancel on an unsettled batch; the row lock makes concurrent cancels queue.

        False when the batch is already settled: there is nothing left to stop.
        """
        result = await self.session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.settled_at.is_(None))
            .values(cancelled_at=now)
            .returning(Batch.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def cancel_queued_jobs(self, batch_id: int, now: datetime) -> int:
        """Cancel the batch's jobs no worker has claimed; return how many.

        The same condition as a worker's claim (`status = queued`), so each job ends either
        claimed or cancelled, never both, whichever commits first.
        """
        result = await self.session.execute(
            update(Job)
            .where(Job.batch_id == batch_id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.CANCELLED, finished_at=now)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        return len(result.all())

    # --- invite links and referrals ---

    async def invite_code_of(self, account_id: int) -> str | None:
        result = await self.session.execute(
            select(InviteCode.code).where(InviteCode.account_id == account_id)
        )
        return result.scalar_one_or_none()

    async def add_invite_code(self, account_id: int, code: str, now: datetime) -> None:
        statement = self._insert(InviteCode).values(
            code=code, account_id=account_id, created_at=now
        )
        await self.session.execute(statement.on_conflict_do_nothing())

    async def owner_of_invite_code(self, code: str) -> int | None:
        result = await self.session.execute(
            select(InviteCode.account_id).where(InviteCode.code == code)
        )
        return result.scalar_one_or_none()

    async def add_referral(self, referral: Referral) -> bool:
        """Record who invited the invitee; False when someone already did."""
        statement = (
            self._insert(Referral)
            .values(
                invitee_account_id=referral.invitee_account_id,
                referrer_account_id=referral.referrer_account_id,
                referrer_credits=referral.referrer_credits,
                invitee_credits=referral.invitee_credits,
                created_at=referral.created_at,
            )
            .on_conflict_do_nothing()
            .returning(Referral.invitee_account_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def claim_referral_reward(
        self, invitee: int, batch_id: int, now: datetime
    ) -> Referral | None:
        """Mark the invitee's referral rewarded, once; return it, or None."""
        result = await self.session.execute(
            update(Referral)
            .where(Referral.invitee_account_id == invitee, Referral.rewarded_at.is_(None))
            .values(rewarded_at=now, rewarded_batch_id=batch_id)
            .returning(Referral.invitee_account_id)
            .execution_options(synchronize_session=False)
        )
        if result.first() is None:
            return None
        return await self.session.get(Referral, invitee, populate_existing=True)

    async def referral(self, invitee: int) -> Referral | None:
        return await self.session.get(Referral, invitee, populate_existing=True)

    async def rewarded_referrals_since(self, since: datetime) -> list[Referral]:
        """Referrals rewarded since `since` that promised their referrer credits."""
        result = await self.session.execute(
            select(Referral).where(
                Referral.rewarded_at.is_not(None),
                Referral.rewarded_at >= since,
                Referral.referrer_credits > 0,
            )
        )
        return list(result.scalars().all())

    async def has_bought_credits(self, account_id: int) -> bool:
        """Whether the account ever paid money for credits (not welcome, grant or promo)."""
        result = await self.session.execute(
            select(LedgerEntry.id)
            .where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.reason == LedgerReason.PURCHASE,
            )
            .limit(1)
        )
        return result.first() is not None

    # --- promo codes ---

    async def add_promo(self, promo: PromoCode) -> bool:
        statement = (
            self._insert(PromoCode)
            .values(
                code=promo.code,
                credits=promo.credits,
                max_uses=promo.max_uses,
                uses=0,
                expires_at=promo.expires_at,
                created_by=promo.created_by,
                created_at=promo.created_at,
            )
            .on_conflict_do_nothing()
            .returning(PromoCode.code)
        )
        return (await self.session.execute(statement)).first() is not None

    async def promo(self, code: str) -> PromoCode | None:
        return await self.session.get(PromoCode, code, populate_existing=True)

    async def add_redemption(self, code: str, account_id: int, now: datetime) -> bool:
        """Record one person's use of a code; False when they used it before."""
        statement = (
            self._insert(PromoRedemption)
            .values(code=code, account_id=account_id, created_at=now)
            .on_conflict_do_nothing()
            .returning(PromoRedemption.code)
        )
        return (await self.session.execute(statement)).first() is not None

    async def take_promo_use(self, code: str, now: datetime) -> bool:
        """Count one use of a code still valid and not used up; False otherwise."""
        result = await self.session.execute(
            update(PromoCode)
            .where(
                PromoCode.code == code,
                PromoCode.uses < PromoCode.max_uses,
                PromoCode.expires_at > now,
            )
            .values(uses=PromoCode.uses + 1)
            .returning(PromoCode.code)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    # --- free previews ---

    async def take_preview(self, account_id: int, day: date, limit: int) -> int | None:
        """Count one free preview of the day; return how many are left, None when none were."""
        statement = self._insert(PreviewUsage).values(account_id=account_id, day=day, used=0)
        await self.session.execute(statement.on_conflict_do_nothing())
        result = await self.session.execute(
            update(PreviewUsage)
            .where(
                PreviewUsage.account_id == account_id,
                PreviewUsage.day == day,
                PreviewUsage.used < limit,
            )
            .values(used=PreviewUsage.used + 1)
            .returning(PreviewUsage.used)
            .execution_options(synchronize_session=False)
        )
        row = result.first()
        return None if row is None else limit - int(row[0])

    async def give_back_preview(self, account_id: int, day: date) -> None:
        await self.session.execute(
            update(PreviewUsage)
            .where(PreviewUsage.account_id == account_id, PreviewUsage.day == day)
            .values(used=case((PreviewUsage.used > 0, PreviewUsage.used - 1), else_=0))
            .execution_options(synchronize_session=False)
        )
