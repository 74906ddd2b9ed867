"""Repositories: the SQL behind each aggregate. They flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.models import (
    Account,
    ApiKey,
    Batch,
    BatchStatus,
    CallbackState,
    DailyUsage,
    IdempotencyRecord,
    Job,
    JobStatus,
    LedgerEntry,
    LinkCode,
    Payment,
    Quote,
    QuoteStatus,
    Subscription,
    WhatsAppContact,
    WhatsAppHeld,
    WhatsAppInbound,
)


def _minus_floor_zero(column: InstrumentedAttribute[int], amount: int) -> ColumnElement[int]:
    return case((column > amount, column - amount), else_=0)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class AccountRepository(_Repository):
    async def get(self, account_id: int) -> Account | None:
        return await self.session.get(Account, account_id)

    async def by_telegram_id(self, telegram_id: int) -> Account | None:
        result = await self.session.execute(
            select(Account).where(Account.telegram_id == telegram_id)
        )
        return result.scalar_one_or_none()

    async def by_whatsapp_number(self, number: str) -> Account | None:
        result = await self.session.execute(
            select(Account).where(Account.whatsapp_number == number)
        )
        return result.scalar_one_or_none()

    async def add(self, account: Account) -> Account:
        self.session.add(account)
        await self.session.flush()
        return account

    async def count(self) -> int:
        return (await self.session.execute(select(func.count(Account.id)))).scalar_one()

    async def lock(self, account_id: int) -> None:
        """Hold the account's row until the transaction ends (PostgreSQL; SQLite's writes
        are serialised by BEGIN IMMEDIATE), so that two changes of one account take turns."""
        await self.session.execute(
            select(Account.id).where(Account.id == account_id).with_for_update()
        )


class LedgerRepository(_Repository):
    async def has_key(self, idempotency_key: str) -> bool:
        result = await self.session.execute(
            select(LedgerEntry.id).where(LedgerEntry.idempotency_key == idempotency_key)
        )
        return result.first() is not None

    async def apply(
        self,
        *,
        account_id: int,
        delta: int,
        reason: str,
        reference: str,
        idempotency_key: str,
        now: datetime,
    ) -> LedgerEntry | None:
        """Move `delta` credits and record it; None when the balance would go below zero."""
        # One conditional UPDATE decides against the committed balance, so concurrent charges
        # cannot both pass a check made on a stale read.
        result = await self.session.execute(
            update(Account)
            .where(Account.id == account_id, Account.balance + delta >= 0)
            .values(balance=Account.balance + delta)
            .returning(Account.balance)
            .execution_options(synchronize_session="fetch")
        )
        balance_after = result.scalar_one_or_none()
        if balance_after is None:
            return None
        entry = LedgerEntry(
            account_id=account_id,
            delta=delta,
            balance_after=balance_after,
            reason=reason,
            reference=reference,
            idempotency_key=idempotency_key,
            created_at=now,
        )
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def total(self, account_id: int) -> int:
        result = await self.session.execute(
            select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
                LedgerEntry.account_id == account_id
            )
        )
        return int(result.scalar_one())

    async def entries(self, account_id: int) -> Sequence[LedgerEntry]:
        result = await self.session.execute(
            select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id)
        )
        return result.scalars().all()

    async def sum_by_reason(self, account_id: int | None = None) -> dict[str, int]:
        query = select(LedgerEntry.reason, func.sum(LedgerEntry.delta)).group_by(LedgerEntry.reason)
        if account_id is not None:
            query = query.where(LedgerEntry.account_id == account_id)
        return {reason: int(total) for reason, total in (await self.session.execute(query)).all()}


class SubscriptionRepository(_Repository):
    async def active(self, account_id: int, now: datetime) -> Subscription | None:
        result = await self.session.execute(
            select(Subscription)
            .where(
                Subscription.account_id == account_id,
                Subscription.period_end > now,
                Subscription.replaced_at.is_(None),
            )
            .order_by(Subscription.period_end.desc(), Subscription.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def get(self, subscription_id: int) -> Subscription | None:
        return await self.session.get(Subscription, subscription_id)

    async def renewing(self, account_id: int) -> Sequence[Subscription]:
        """The account's runs that a provider or the service may still renew."""
        result = await self.session.execute(
            select(Subscription)
            .where(
                Subscription.account_id == account_id,
                Subscription.cancelled_at.is_(None),
                or_(
                    Subscription.auto_renew.is_(True),
                    Subscription.provider_subscription_id.is_not(None),
                ),
            )
            .order_by(Subscription.id)
        )
        return result.scalars().all()

    async def renewed_by(self, account_id: int, plan: str, provider: str) -> Subscription | None:
        """The newest run of `plan` that a recurring subscription with `provider` renews."""
        result = await self.session.execute(
            select(Subscription)
            .join(Payment, Payment.provider_charge_id == Subscription.provider_subscription_id)
            .where(
                Subscription.account_id == account_id,
                Subscription.plan == plan,
                Payment.provider == provider,
            )
            .order_by(Subscription.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def renewals_to_stop(self, provider: str) -> Sequence[tuple[Subscription, Account]]:
        """Cancelled or replaced runs whose recurring subscription with `provider` may renew."""
        result = await self.session.execute(
            select(Subscription, Account)
            .join(Payment, Payment.provider_charge_id == Subscription.provider_subscription_id)
            .join(Account, Account.id == Subscription.account_id)
            .where(
                Payment.provider == provider,
                Subscription.cancelled_at.is_not(None),
                Subscription.renewal_stopped_at.is_(None),
            )
            .order_by(Subscription.id)
        )
        return [(subscription, account) for subscription, account in result.all()]

    async def add(self, subscription: Subscription) -> Subscription:
        self.session.add(subscription)
        await self.session.flush()
        return subscription

    async def renewable(self, now: datetime, until: datetime) -> Sequence[Subscription]:
        """Subscriptions that renew automatically and end before `until`."""
        result = await self.session.execute(
            select(Subscription).where(
                Subscription.auto_renew.is_(True),
                Subscription.cancelled_at.is_(None),
                Subscription.period_end > now,
                Subscription.period_end <= until,
            )
        )
        return result.scalars().all()


class UsageRepository(_Repository):
    async def get(self, account_id: int, day: date) -> DailyUsage | None:
        return await self.session.get(DailyUsage, (account_id, day))

    async def _ensure_row(self, account_id: int, day: date) -> None:
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(DailyUsage).values(
            account_id=account_id, day=day, removals=0, premium_removals=0
        )
        await self.session.execute(statement.on_conflict_do_nothing())

    async def try_consume(
        self,
        *,
        account_id: int,
        day: date,
        images: int,
        premium_images: int,
        daily_limit: int,
        premium_cap: int | None,
    ) -> bool:
        """Count removals against the day's quota; False when they no longer fit."""
        await self._ensure_row(account_id, day)
        conditions = [
            DailyUsage.account_id == account_id,
            DailyUsage.day == day,
            DailyUsage.removals + images <= daily_limit,
        ]
        if premium_cap is not None:
            conditions.append(DailyUsage.premium_removals + premium_images <= premium_cap)
        result = await self.session.execute(
            update(DailyUsage)
            .where(and_(*conditions))
            .values(
                removals=DailyUsage.removals + images,
                premium_removals=DailyUsage.premium_removals + premium_images,
            )
            .returning(DailyUsage.removals)
            .execution_options(synchronize_session="fetch")
        )
        return result.first() is not None

    async def give_back(
        self, *, account_id: int, day: date, images: int, premium_images: int
    ) -> None:
        await self.session.execute(
            update(DailyUsage)
            .where(DailyUsage.account_id == account_id, DailyUsage.day == day)
            .values(
                removals=_minus_floor_zero(DailyUsage.removals, images),
                premium_removals=_minus_floor_zero(DailyUsage.premium_removals, premium_images),
            )
            .execution_options(synchronize_session="fetch")
        )


class QuoteRepository(_Repository):
    async def get(self, quote_id: str) -> Quote | None:
        return await self.session.get(Quote, quote_id)

    async def add(self, quote: Quote) -> Quote:
        self.session.add(quote)
        await self.session.flush()
        return quote

    async def change_status(
        self, quote_id: str, *, expected: QuoteStatus, new: QuoteStatus
    ) -> bool:
        """Move a quote from `expected` to `new`; False when someone else moved it first."""
        result = await self.session.execute(
            update(Quote)
            .where(Quote.id == quote_id, Quote.status == expected)
            .values(status=new)
            .returning(Quote.id)
            .execution_options(synchronize_session="fetch")
        )
        return result.first() is not None

    async def expire_open(self, now: datetime) -> list[list[dict[str, object]]]:
        """Mark open quotes past their expiry expired; return the files of each."""
        result = await self.session.execute(
            update(Quote)
            .where(Quote.status == QuoteStatus.OPEN, Quote.expires_at <= now)
            .values(status=QuoteStatus.EXPIRED)
            .returning(Quote.files)
            .execution_options(synchronize_session=False)
        )
        return [list(files) for (files,) in result.all()]


class BatchRepository(_Repository):
    async def get(self, batch_id: int) -> Batch | None:
        return await self.session.get(Batch, batch_id)

    async def add(self, batch: Batch) -> Batch:
        self.session.add(batch)
        await self.session.flush()
        return batch

    async def claim_settlement(self, batch_id: int, now: datetime) -> bool:
        """Mark a batch settled; False when it already was, so refunds happen once."""
        result = await self.session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.settled_at.is_(None))
            .values(settled_at=now)
            .returning(Batch.id)
            .execution_options(synchronize_session="fetch")
        )
        return result.first() is not None

    async def for_account(self, account_id: int) -> Sequence[Batch]:
        result = await self.session.execute(
            select(Batch).where(Batch.account_id == account_id).order_by(Batch.id)
        )
        return result.scalars().all()


class JobRepository(_Repository):
    async def add_all(self, jobs: Sequence[Job]) -> Sequence[Job]:
        self.session.add_all(jobs)
        await self.session.flush()
        return jobs

    async def get(self, job_id: int) -> Job | None:
        return await self.session.get(Job, job_id)

    async def for_batch(self, batch_id: int) -> Sequence[Job]:
        result = await self.session.execute(
            select(Job).where(Job.batch_id == batch_id).order_by(Job.position)
        )
        return result.scalars().all()

    async def status_counts(self, batch_id: int) -> dict[str, int]:
        result = await self.session.execute(
            select(Job.status, func.count(Job.id))
            .where(Job.batch_id == batch_id)
            .group_by(Job.status)
        )
        counts = {status.value: 0 for status in JobStatus}
        counts.update({status: int(n) for status, n in result.all()})
        return counts

    async def done_by_tier(self, account_id: int | None = None) -> dict[str, int]:
        query = (
            select(Batch.tier, func.count(Job.id))
            .join(Batch, Batch.id == Job.batch_id)
            .where(Job.status == JobStatus.DONE)
            .group_by(Batch.tier)
        )
        if account_id is not None:
            query = query.where(Batch.account_id == account_id)
        return {tier: int(n) for tier, n in (await self.session.execute(query)).all()}


class PaymentRepository(_Repository):
    async def by_charge_id(self, provider_charge_id: str) -> Payment | None:
        result = await self.session.execute(
            select(Payment).where(Payment.provider_charge_id == provider_charge_id)
        )
        return result.scalar_one_or_none()

    async def add(self, payment: Payment) -> Payment:
        self.session.add(payment)
        await self.session.flush()
        return payment

    async def unrefunded(self, provider: str, product_suffix: str) -> Sequence[Payment]:
        """Payments through `provider` for products ending in `product_suffix`, not refunded."""
        result = await self.session.execute(
            select(Payment)
            .where(
                Payment.provider == provider,
                Payment.product.endswith(product_suffix),
                Payment.refunded_at.is_(None),
            )
            .order_by(Payment.id)
        )
        return result.scalars().all()

    async def for_account(self, account_id: int, provider: str) -> Sequence[Payment]:
        """The account's payments through one provider, newest first."""
        result = await self.session.execute(
            select(Payment)
            .where(Payment.account_id == account_id, Payment.provider == provider)
            .order_by(Payment.id.desc())
        )
        return result.scalars().all()


class WorkRepository(_Repository):
    """The job pipeline's state changes: each a conditional UPDATE, safe under redelivery."""

    async def claim_job(self, job_id: int, now: datetime, stale_before: datetime) -> Job | None:
        """Mark a job running for this worker; None when it is finished or running elsewhere."""
        result = await self.session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                or_(
                    Job.status == JobStatus.QUEUED,
                    and_(Job.status == JobStatus.RUNNING, Job.started_at < stale_before),
                ),
            )
            .values(status=JobStatus.RUNNING, started_at=now, attempts=Job.attempts + 1)
            .returning(Job.id)
            .execution_options(synchronize_session="fetch")
        )
        if result.first() is None:
            return None
        return await self.session.get(Job, job_id, populate_existing=True)

    async def finish_job(
        self,
        job_id: int,
        *,
        status: JobStatus,
        now: datetime,
        output_path: str | None = None,
        error: str | None = None,
        duration_ms: int | None = None,
    ) -> bool:
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
            .values(
                status=status,
                finished_at=now,
                output_path=output_path,
                error=error,
                duration_ms=duration_ms,
            )
            .returning(Job.id)
            .execution_options(synchronize_session="fetch")
        )
        return result.first() is not None

    async def release_job(self, job_id: int, now: datetime) -> None:
        """Put a running job back in the queue state for a retry."""
        await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
            .values(status=JobStatus.QUEUED, enqueued_at=now)
            .execution_options(synchronize_session="fetch")
        )

    async def mark_enqueued(self, job_ids: Sequence[int], now: datetime) -> None:
        if job_ids:
            await self.session.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.status == JobStatus.QUEUED)
                .values(enqueued_at=now)
                .execution_options(synchronize_session=False)
            )

    async def lost_jobs(
        self, *, queued_before: datetime, running_before: datetime, limit: int
    ) -> Sequence[tuple[int, bool]]:
        """Jobs the queue may have lost, with whether their batch has priority."""
        result = await self.session.execute(
            select(Job.id, Batch.priority)
            .join(Batch, Batch.id == Job.batch_id)
            .where(
                or_(
                    and_(
                        Job.status == JobStatus.QUEUED,
                        or_(Job.enqueued_at.is_(None), Job.enqueued_at < queued_before),
                    ),
                    and_(Job.status == JobStatus.RUNNING, Job.started_at < running_before),
                )
            )
            .order_by(Batch.priority.desc(), Job.id)
            .limit(limit)
        )
        return [(job_id, bool(priority)) for job_id, priority in result.all()]

    async def unfinished_batches(self, before: datetime) -> Sequence[int]:
        """Batches whose jobs are all finished but whose results were never delivered."""
        open_jobs = (
            select(Job.id)
            .where(Job.batch_id == Batch.id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            .exists()
        )
        result = await self.session.execute(
            select(Batch.id).where(
                Batch.delivered_at.is_(None),
                Batch.created_at < before,
                or_(Batch.delivery_claimed_at.is_(None), Batch.delivery_claimed_at < before),
                ~open_jobs,
            )
        )
        return result.scalars().all()

    async def claim_progress_report(
        self, batch_id: int, now: datetime, not_since: datetime
    ) -> bool:
        """Allow one progress edit per interval across every worker."""
        result = await self.session.execute(
            update(Batch)
            .where(
                Batch.id == batch_id,
                or_(Batch.progress_reported_at.is_(None), Batch.progress_reported_at < not_since),
            )
            .values(progress_reported_at=now)
            .returning(Batch.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def claim_delivery(self, batch_id: int, now: datetime, stale_before: datetime) -> bool:
        result = await self.session.execute(
            update(Batch)
            .where(
                Batch.id == batch_id,
                Batch.delivered_at.is_(None),
                or_(
                    Batch.delivery_claimed_at.is_(None),
                    Batch.delivery_claimed_at < stale_before,
                ),
            )
            .values(delivery_claimed_at=now)
            .returning(Batch.id)
            .execution_options(synchronize_session="fetch")
        )
        return result.first() is not None

    async def release_delivery(self, batch_id: int) -> None:
        await self.session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.delivered_at.is_(None))
            .values(delivery_claimed_at=None)
            .execution_options(synchronize_session="fetch")
        )

    async def mark_delivered(self, batch_id: int, now: datetime, *, callback: bool) -> None:
        """Record delivery; a batch with a callback URL gets its callback pending with it."""
        await self.session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.delivered_at.is_(None))
            .values(
                delivered_at=now,
                status=BatchStatus.DELIVERED,
                callback_state=CallbackState.PENDING if callback else None,
            )
            .execution_options(synchronize_session="fetch")
        )

    async def claim_callback(
        self, batch_id: int, *, attempts: int, due_by: datetime, next_at: datetime | None
    ) -> bool:
        """Count one more callback attempt; False when another worker took it or it is early."""
        result = await self.session.execute(
            update(Batch)
            .where(
                Batch.id == batch_id,
                Batch.callback_state == CallbackState.PENDING,
                Batch.callback_attempts == attempts,
                or_(Batch.callback_next_at.is_(None), Batch.callback_next_at <= due_by),
            )
            .values(callback_attempts=attempts + 1, callback_next_at=next_at)
            .returning(Batch.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def finish_callback(self, batch_id: int, state: CallbackState) -> None:
        await self.session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.callback_state == CallbackState.PENDING)
            .values(callback_state=state, callback_next_at=None)
            .execution_options(synchronize_session=False)
        )

    async def overdue_callbacks(self, before: datetime) -> Sequence[int]:
        result = await self.session.execute(
            select(Batch.id).where(
                Batch.callback_state == CallbackState.PENDING,
                or_(
                    and_(Batch.callback_next_at.is_(None), Batch.delivered_at < before),
                    Batch.callback_next_at < before,
                ),
            )
        )
        return result.scalars().all()

    async def expired_quotes(self, before: datetime) -> Sequence[Quote]:
        result = await self.session.execute(select(Quote).where(Quote.created_at < before))
        return result.scalars().all()


class ApiKeyRepository(_Repository):
    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def set_callback_nonce(self, account_id: int, nonce: str, *, only_if_unset: bool) -> bool:
        """Store the account's callback secret nonce; False when it had one and must keep it."""
        statement = update(Account).where(Account.id == account_id)
        if only_if_unset:
            statement = statement.where(Account.callback_secret_nonce.is_(None))
        result = await self.session.execute(
            statement.values(callback_secret_nonce=nonce)
            .returning(Account.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def replace_callback_nonce(self, account_id: int, old: str | None, new: str) -> bool:
        """Store a new nonce only if the account still has `old`: one of two taps wins."""
        current = (
            Account.callback_secret_nonce.is_(None)
            if old is None
            else Account.callback_secret_nonce == old
        )
        result = await self.session.execute(
            update(Account)
            .where(Account.id == account_id, current)
            .values(callback_secret_nonce=new)
            .returning(Account.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        result = await self.session.execute(
            select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )
        return result.scalar_one_or_none()

    async def for_account(self, account_id: int) -> Sequence[ApiKey]:
        result = await self.session.execute(
            select(ApiKey)
            .where(ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id)
        )
        return result.scalars().all()


class IdempotencyRepository(_Repository):
    """Idempotency keys of HTTP requests, one row per account and key."""

    async def insert(
        self, *, account_id: int, key: str, route: str, fingerprint: str, now: datetime
    ) -> bool:
        """Record a key as started; False when the account used it before."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(IdempotencyRecord)
            .values(
                account_id=account_id,
                key=key,
                route=route,
                fingerprint=fingerprint,
                state="started",
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def get(self, account_id: int, key: str) -> IdempotencyRecord | None:
        result = await self.session.execute(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key)
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def update(self, account_id: int, key: str, **values: object) -> None:
        await self.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def delete_started(self, account_id: int, key: str) -> None:
        await self.session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.account_id == account_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.state == "started",
            )
        )

    async def forget_older(self, account_id: int, key: str, before: datetime) -> None:
        await self.session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.account_id == account_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.created_at < before,
            )
        )

    async def delete_before(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def batch_of_quote(self, quote_id: str) -> int | None:
        result = await self.session.execute(select(Batch.id).where(Batch.quote_id == quote_id))
        return result.scalar_one_or_none()


class HistoryRepository(_Repository):
    """Read-only views of an account's batches and jobs, always filtered by the account."""

    async def batch(self, account_id: int, batch_id: int) -> Batch | None:
        result = await self.session.execute(
            select(Batch).where(Batch.id == batch_id, Batch.account_id == account_id)
        )
        return result.scalar_one_or_none()

    async def batches(self, account_id: int, *, limit: int, offset: int) -> Sequence[Batch]:
        result = await self.session.execute(
            select(Batch)
            .where(Batch.account_id == account_id)
            .order_by(Batch.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return result.scalars().all()

    async def job(self, account_id: int, job_id: int) -> tuple[Job, Batch] | None:
        result = await self.session.execute(
            select(Job, Batch)
            .join(Batch, Batch.id == Job.batch_id)
            .where(Job.id == job_id, Batch.account_id == account_id)
        )
        row = result.first()
        return (row[0], row[1]) if row else None

    async def jobs(
        self, account_id: int, *, limit: int, offset: int
    ) -> tuple[Sequence[tuple[Job, Batch]], int]:
        base = select(Job, Batch).join(Batch, Batch.id == Job.batch_id)
        base = base.where(Batch.account_id == account_id)
        total = await self.session.execute(select(func.count()).select_from(base.subquery()))
        rows = await self.session.execute(base.order_by(Job.id.desc()).limit(limit).offset(offset))
        return [(job, batch) for job, batch in rows.all()], int(total.scalar_one())


class MetricsRepository(_Repository):
    """Service-wide counts for operators, straight from the source of truth."""

    async def jobs_by_tier_and_status(self) -> Sequence[tuple[str, str, int]]:
        result = await self.session.execute(
            select(Batch.tier, Job.status, func.count(Job.id))
            .join(Batch, Batch.id == Job.batch_id)
            .group_by(Batch.tier, Job.status)
        )
        return [(tier, status, int(n)) for tier, status, n in result.all()]

    async def images_by_tier_and_payment(self) -> Sequence[tuple[str, str, str, int]]:
        """(tier, paid_with, job status, count) over every job."""
        result = await self.session.execute(
            select(Batch.tier, Batch.paid_with, Job.status, func.count(Job.id))
            .join(Batch, Batch.id == Job.batch_id)
            .group_by(Batch.tier, Batch.paid_with, Job.status)
        )
        return [(tier, paid, status, int(n)) for tier, paid, status, n in result.all()]

    async def kept_credits_by_tier(self) -> dict[str, int]:
        """Credits charged for credit-paid batches, less their refunds, by tier."""
        result = await self.session.execute(
            select(Batch.tier, func.sum(Batch.credits_charged - Batch.refunded_credits))
            .where(Batch.paid_with == "credits")
            .group_by(Batch.tier)
        )
        return {tier: int(total or 0) for tier, total in result.all()}

    async def payments_by_product(self) -> Sequence[tuple[str, str, str, int, int, int]]:
        """(provider, product, currency, payments, amount, credits) of payments not refunded."""
        result = await self.session.execute(
            select(
                Payment.provider,
                Payment.product,
                Payment.currency,
                func.count(Payment.id),
                func.coalesce(func.sum(Payment.amount), 0),
                func.coalesce(func.sum(Payment.credits), 0),
            )
            .where(Payment.refunded_at.is_(None))
            .group_by(Payment.provider, Payment.product, Payment.currency)
        )
        return [
            (provider, product, currency, int(n), int(amount), int(credits))
            for provider, product, currency, n, amount, credits in result.all()
        ]

    async def ledger_entries_by_reason(self) -> dict[str, tuple[int, int]]:
        """reason -> (entries, sum of deltas) over every account."""
        result = await self.session.execute(
            select(
                LedgerEntry.reason, func.count(LedgerEntry.id), func.sum(LedgerEntry.delta)
            ).group_by(LedgerEntry.reason)
        )
        return {reason: (int(n), int(total or 0)) for reason, n, total in result.all()}

    async def processing_time(self) -> tuple[int, float]:
        result = await self.session.execute(
            select(func.count(Job.duration_ms), func.coalesce(func.sum(Job.duration_ms), 0))
        )
        count, total_ms = result.one()
        return int(count), float(total_ms or 0) / 1000


class AccountLinkRepository(_Repository):
    """One-time codes that join a second chat channel to an existing account."""

    async def add_code(self, code: LinkCode) -> LinkCode:
        self.session.add(code)
        await self.session.flush()
        return code

    async def code(self, code_hash: str) -> LinkCode | None:
        return await self.session.get(LinkCode, code_hash)

    async def claim_code(self, code_hash: str, account_id: int, now: datetime) -> bool:
        """Mark an unused, unexpired code used by `account_id`; False when it is not claimable."""
        result = await self.session.execute(
            update(LinkCode)
            .where(
                LinkCode.code_hash == code_hash,
                LinkCode.used_at.is_(None),
                LinkCode.expires_at > now,
            )
            .values(used_at=now, used_by_account_id=account_id)
            .returning(LinkCode.code_hash)
            .execution_options(synchronize_session="fetch")
        )
        return result.first() is not None

    async def has_activity(self, account_id: int) -> bool:
        """Whether the account did anything beyond receiving its welcome balance."""
        probes = [
            select(LedgerEntry.id).where(
                LedgerEntry.account_id == account_id, LedgerEntry.reason != "welcome"
            ),
            select(Batch.id).where(Batch.account_id == account_id),
            select(Subscription.id).where(Subscription.account_id == account_id),
            select(Payment.id).where(Payment.account_id == account_id),
            select(ApiKey.id).where(ApiKey.account_id == account_id),
        ]
        for probe in probes:
            if (await self.session.execute(probe.limit(1))).first() is not None:
                return True
        return False


class WhatsAppRepository(_Repository):
    """Webhook deduplication and the 24-hour customer-service window per number."""

    async def record_inbound(
        self, message_id: str, now: datetime, payload: dict[str, Any] | None = None
    ) -> bool:
        """Remember a message id; False when it was seen before (a repeated delivery)."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(WhatsAppInbound)
            .values(message_id=message_id, received_at=now, payload=payload)
            .on_conflict_do_nothing()
            .returning(WhatsAppInbound.message_id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def inbound_payload(self, message_id: str) -> dict[str, Any] | None:
        """The message recorded under `message_id`, when it was recorded with one."""
        inbound = await self.session.get(WhatsAppInbound, message_id)
        return None if inbound is None else inbound.payload

    async def mark_handled(self, message_id: str, now: datetime) -> bool:
        """Note that a message's job is done; False when it was done already."""
        result = await self.session.execute(
            update(WhatsAppInbound)
            .where(WhatsAppInbound.message_id == message_id, WhatsAppInbound.handled_at.is_(None))
            .values(handled_at=now)
            .returning(WhatsAppInbound.message_id)
        )
        return result.first() is not None

    async def is_handled(self, message_id: str) -> bool:
        inbound = await self.session.get(WhatsAppInbound, message_id)
        return inbound is not None and inbound.handled_at is not None

    async def unhandled(self, received_before: datetime, received_after: datetime) -> list[str]:
        """Ids of messages taken in for a job between the two times and never handled."""
        rows = await self.session.scalars(
            select(WhatsAppInbound.message_id)
            .where(
                WhatsAppInbound.payload.is_not(None),
                WhatsAppInbound.handled_at.is_(None),
                WhatsAppInbound.received_at < received_before,
                WhatsAppInbound.received_at > received_after,
            )
            .order_by(WhatsAppInbound.received_at)
            .limit(500)
        )
        return list(rows)

    async def forget_inbound(self, message_id: str) -> None:
        await self.session.execute(
            delete(WhatsAppInbound).where(WhatsAppInbound.message_id == message_id)
        )

    async def prune_inbound(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(WhatsAppInbound).where(WhatsAppInbound.received_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def touch_contact(self, number: str, now: datetime) -> None:
        """Record that the number wrote to us at `now` (never moving the time backwards)."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(WhatsAppContact).values(number=number, last_inbound_at=now)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[WhatsAppContact.number],
                set_={"last_inbound_at": statement.excluded.last_inbound_at},
                where=WhatsAppContact.last_inbound_at < statement.excluded.last_inbound_at,
            )
        )

    async def last_inbound(self, number: str) -> datetime | None:
        contact = await self.session.get(WhatsAppContact, number)
        return contact.last_inbound_at if contact else None

    async def claim_progress(self, number: str, now: datetime, not_since: datetime) -> bool:
        """Allow one progress text per interval to a number, across every worker."""
        result = await self.session.execute(
            update(WhatsAppContact)
            .where(
                WhatsAppContact.number == number,
                or_(
                    WhatsAppContact.last_progress_at.is_(None),
                    WhatsAppContact.last_progress_at < not_since,
                ),
            )
            .values(last_progress_at=now)
            .returning(WhatsAppContact.number)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def hold(self, number: str, body: str, now: datetime) -> None:
        self.session.add(WhatsAppHeld(number=number, body=body, created_at=now))
        await self.session.flush()

    async def prune_held(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(WhatsAppHeld).where(WhatsAppHeld.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def take_held(self, number: str, newer_than: datetime) -> Sequence[str]:
        """Remove and return the number's held messages, oldest first, dropping stale ones."""
        result = await self.session.execute(
            delete(WhatsAppHeld)
            .where(WhatsAppHeld.number == number)
            .returning(WhatsAppHeld.id, WhatsAppHeld.body, WhatsAppHeld.created_at)
        )
        rows = sorted(result.all())
        return [body for _, body, created_at in rows if created_at > newer_than]
