"""Quotes, accepting a quote (the charge, the batch and its jobs in one transaction) and refunds."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from db.models import (
    Account,
    Batch,
    BatchStatus,
    Job,
    JobStatus,
    LedgerReason,
    PaidWith,
    Quote,
    QuoteStatus,
)
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import (
    BatchNotFinished,
    CannotAfford,
    QuoteAlreadyUsed,
    QuoteExpired,
    QuoteNotFound,
    TierUnavailable,
)
from services.history import NotFound
from services.plans import (
    CannotPay,
    ChargeDecision,
    PayWithCredits,
    PayWithQuota,
    Plan,
    Usage,
    decide_charge,
    get_plan,
    quota_day,
    quota_left,
)
from services.pricing import BatchPrice, Tier, batch_price, refund_for_failures
from services.referrals import ReferralReward, reward_referral_if_due


@dataclass(frozen=True, slots=True)
class QuoteFile:
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class AccountStanding:
    """What an account has to pay with right now."""

    balance: int
    plan: Plan | None
    usage: Usage
    day: date

    def quota_left(self, tier: Tier | None = None) -> int:
        return quota_left(self.plan, self.usage, tier)


async def read_standing(
    uow: UnitOfWork, account: Account, zone: ZoneInfo, now: datetime
) -> AccountStanding:
    """Read balance, active plan and today's quota usage inside an open unit of work."""
    subscription = await uow.subscriptions.active(account.id, now)
    day = quota_day(now, zone)
    row = await uow.usage.get(account.id, day)
    usage = Usage(row.removals, row.premium_removals) if row else Usage()
    plan = get_plan(subscription.plan) if subscription else None
    return AccountStanding(balance=account.balance, plan=plan, usage=usage, day=day)


@dataclass(frozen=True, slots=True)
class TierOffer:
    price: BatchPrice
    in_plan: bool
    decision: ChargeDecision


@dataclass(frozen=True, slots=True)
class QuoteOffer:
    """A quote as a person sees it: every tier's price and how it would be paid."""

    quote_id: str
    image_count: int
    expires_at: datetime
    standing: AccountStanding
    tiers: tuple[TierOffer, ...]
    rejected: tuple[dict[str, Any], ...] = field(default=())
    first_input: str = ""  # the first image's path under DATA_DIR, for the free preview


def _offer(
    quote: Quote, standing: AccountStanding, available: frozenset[Tier] | None = None
) -> QuoteOffer:
    offers = []
    for tier in Tier:
        if available is not None and tier not in available:
            continue  # its engine cannot run here: never offered, so never charged
        price = batch_price(tier, quote.image_count)
        offers.append(
            TierOffer(
                price=price,
                in_plan=standing.plan is not None and standing.plan.covers(tier),
                decision=decide_charge(price, standing.balance, standing.plan, standing.usage),
            )
        )
    return QuoteOffer(
        quote_id=quote.id,
        image_count=quote.image_count,
        expires_at=quote.expires_at,
        standing=standing,
        tiers=tuple(offers),
        rejected=tuple(quote.rejected),
        first_input=str(quote.files[0]["path"]) if quote.files else "",
    )


async def create_quote(
    uow: UnitOfWork,
    account_id: int,
    files: Sequence[QuoteFile],
    *,
    channel: str,
    chat: dict[str, Any],
    ttl: timedelta,
    zone: ZoneInfo,
    now: datetime,
    rejected: Sequence[dict[str, Any]] = (),
    available: frozenset[Tier] | None = None,
) -> QuoteOffer:
    """Store a quote for images already on disk and price it for every tier that can run
    (`available`; None: every tier).

    Raises:
        AccountNotFound: when the account does not exist.
        BatchTooLarge: when there are more images than a batch holds.
        ValueError: when there is no image.
    """
    batch_price(Tier.BASIC, len(files))  # validates the count before anything is stored
    async with uow:
        account = await existing_account(uow, account_id)
        quote = await uow.quotes.add(
            Quote(
                id=secrets.token_urlsafe(6),
                account_id=account_id,
                image_count=len(files),
                files=[{"name": f.name, "path": f.path} for f in files],
                rejected=list(rejected),
                channel=channel,
                chat=chat,
                status=QuoteStatus.OPEN,
                expires_at=now + ttl,
                created_at=now,
            )
        )
        standing = await read_standing(uow, account, zone, now)
        await uow.commit()
    return _offer(quote, standing, available)


async def _open_quote(uow: UnitOfWork, quote_id: str, account_id: int, now: datetime) -> Quote:
    quote = await uow.quotes.get(quote_id)
    if quote is None or quote.account_id != account_id:
        raise QuoteNotFound(f"no quote {quote_id}")
    if quote.status == QuoteStatus.EXPIRED:
        # Closed by the sweep, which deleted its files: still an expired quote to the person.
        raise QuoteExpired(f"quote {quote_id} expired at {quote.expires_at.isoformat()}")
    if quote.status != QuoteStatus.OPEN:
        raise QuoteAlreadyUsed(f"quote {quote_id} is {quote.status}")
    if quote.expires_at <= now:
        raise QuoteExpired(f"quote {quote_id} expired at {quote.expires_at.isoformat()}")
    return quote


async def describe_quote(
    uow: UnitOfWork,
    quote_id: str,
    account_id: int,
    *,
    zone: ZoneInfo,
    now: datetime,
    available: frozenset[Tier] | None = None,
) -> QuoteOffer:
    """Price an open quote again against the account's standing now."""
    async with uow:
        quote = await _open_quote(uow, quote_id, account_id, now)
        account = await uow.accounts.get(account_id)
        assert account is not None
        return _offer(quote, await read_standing(uow, account, zone, now), available)


async def cancel_quote(uow: UnitOfWork, quote_id: str, account_id: int, now: datetime) -> None:
    """Close an open quote without charging; a second cancel is a stale tap."""
    async with uow:
        await _open_quote(uow, quote_id, account_id, now)
        if not await uow.quotes.change_status(
            quote_id, expected=QuoteStatus.OPEN, new=QuoteStatus.CANCELLED
        ):
            raise QuoteAlreadyUsed(f"quote {quote_id} was closed meanwhile")
        await uow.commit()


@dataclass(frozen=True, slots=True)
class AcceptedBatch:
    batch_id: int
    job_ids: tuple[int, ...]
    tier: Tier
    price: BatchPrice
    paid_with: PaidWith
    credits_charged: int
    balance_after: int
    priority: bool


async def _pay(
    uow: UnitOfWork,
    quote: Quote,
    price: BatchPrice,
    standing: AccountStanding,
    now: datetime,
) -> tuple[PaidWith, int]:
    """Take the price from today's quota or from the credits; return how and how much."""
    decision = decide_charge(price, standing.balance, standing.plan, standing.usage)
    if isinstance(decision, PayWithQuota):
        assert standing.plan is not None
        if await uow.usage.try_consume(
            account_id=quote.account_id,
            day=standing.day,
            images=decision.images,
            premium_images=decision.premium_images,
            daily_limit=standing.plan.daily_removals,
            premium_cap=standing.plan.premium_daily_cap,
        ):
            return PaidWith.QUOTA, 0
        # Another batch took the quota since it was read; the credits may still pay.
        decision = decide_charge(price, standing.balance, None, Usage())
    if isinstance(decision, PayWithCredits):
        entry = await uow.ledger.apply(
            account_id=quote.account_id,
            delta=-decision.credits,
            reason=LedgerReason.CHARGE,
            reference=f"quote:{quote.id}",
            idempotency_key=f"charge:quote:{quote.id}",
            now=now,
        )
        if entry is not None:
            return PaidWith.CREDITS, decision.credits
        balance = await uow.ledger.total(quote.account_id)
        decision = CannotPay(
            credits_needed=price.credits,
            balance=balance,
            tier_in_plan=standing.plan is not None and standing.plan.covers(price.tier),
            quota_left=0,
            has_plan=standing.plan is not None,
            images=price.image_count,
        )
    assert isinstance(decision, CannotPay)
    raise CannotAfford(decision)


async def accept_quote(
    uow: UnitOfWork,
    quote_id: str,
    account_id: int,
    tier: Tier,
    *,
    zone: ZoneInfo,
    now: datetime,
    output_options: Mapping[str, Any] | None = None,
    available: frozenset[Tier] | None = None,
) -> AcceptedBatch:
    """Accept a quote exactly once: charge it and write the batch and one job per image.

    Args:
        uow: a unit of work not yet entered.
        quote_id: the quote's short id, from the button the person tapped.
        account_id: the person tapping; a quote of another account is not found.
        tier: the quality tier chosen.
        zone: the service's time zone, whose midnight resets quotas.
        now: the current time.
        output_options: this batch's output options; the account's own when omitted.
        available: the tiers whose engine can run here; None: every tier.

    Raises:
        TierUnavailable: the tier's engine cannot run here; nothing is charged and the quote
            stays open for another tier.
        QuoteNotFound: no such quote for this account.
        QuoteAlreadyUsed: accepted or cancelled before (a double or stale tap).
        QuoteExpired: past its expiry.
        CannotAfford: neither quota nor credits cover it; nothing is charged and the quote
            stays open, so the person can top up and tap again.
    """
    if available is not None and tier not in available:
        raise TierUnavailable(f"the {tier} tier cannot run on this install now")
    async with uow:
        quote = await _open_quote(uow, quote_id, account_id, now)
        account = await uow.accounts.get(account_id)
        assert account is not None
        # Claiming the quote first makes a concurrent second tap wait here (PostgreSQL row
        # lock, SQLite write lock) and then find it accepted: one charge, whatever the race.
        if not await uow.quotes.change_status(
            quote_id, expected=QuoteStatus.OPEN, new=QuoteStatus.ACCEPTED
        ):
            raise QuoteAlreadyUsed(f"quote {quote_id} was accepted meanwhile")
        await uow.session.refresh(account)
        standing = await read_standing(uow, account, zone, now)
        price = batch_price(tier, quote.image_count)
        paid_with, charged = await _pay(uow, quote, price, standing, now)
        batch = await uow.batches.add(
            Batch(
                account_id=account_id,
                quote_id=quote.id,
                tier=tier,
                image_count=quote.image_count,
                discount_percent=price.discount_percent,
                gross_credits=price.gross_credits,
                price_credits=price.credits,
                paid_with=paid_with,
                credits_charged=charged,
                quota_day=standing.day if paid_with == PaidWith.QUOTA else None,
                priority=1 if standing.plan is not None and standing.plan.priority else 0,
                channel=quote.channel,
                chat=quote.chat,
                output_options=dict(
                    account.output_options if output_options is None else output_options
                ),
                status=BatchStatus.QUEUED,
                created_at=now,
            )
        )
        jobs = await uow.jobs.add_all(
            [
                Job(
                    batch_id=batch.id,
                    position=position,
                    input_name=file["name"],
                    input_path=file["path"],
                    status=JobStatus.QUEUED,
                    created_at=now,
                )
                for position, file in enumerate(quote.files)
            ]
        )
        # The chat learns the batch it shows: its Cancel button and redo offer name both.
        batch.chat = {**batch.chat, "batch_id": batch.id, "tier": tier.value}
        await uow.session.refresh(account, ["balance"])
        await uow.commit()
    return AcceptedBatch(
        batch_id=batch.id,
        job_ids=tuple(job.id for job in jobs),
        tier=tier,
        price=price,
        paid_with=paid_with,
        credits_charged=charged,
        balance_after=account.balance,
        priority=bool(batch.priority),
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    batch_id: int
    succeeded: int
    failed: int
    refunded_credits: int  # every refund of the batch: its cancels' and the settlement's
    quota_returned: int
    cancelled: int = 0
    referral: ReferralReward | None = None


def _refund_due(batch: Batch, not_processed: int) -> int:
    """Credits owed back when `not_processed` images of a credit-paid batch did not succeed."""
    if batch.paid_with != PaidWith.CREDITS or not not_processed:
        return 0
    return refund_for_failures(
        Tier(batch.tier),
        batch.image_count,
        batch.discount_percent,
        batch.credits_charged,
        not_processed,
    )


async def settle_batch(uow: UnitOfWork, batch_id: int, *, now: datetime) -> Settlement:
    """Refund the failed images of a finished batch, exactly once, and mark it finished.

    A batch paid in credits gets back the difference between its charge and the price of the
    images that succeeded at the batch's own discount rate (less what its cancels refunded
    already); a batch paid by the quota gets the failed images back on the quota of the day
    it used. A second call changes nothing and reports the first settlement.

    Raises:
        BatchNotFinished: some job is still queued or running.
    """
    async with uow:
        batch = await uow.batches.get(batch_id)
        if batch is None:
            raise BatchNotFinished(f"no batch {batch_id}")
        counts = await uow.jobs.status_counts(batch_id)
        if counts[JobStatus.QUEUED] or counts[JobStatus.RUNNING]:
            raise BatchNotFinished(f"batch {batch_id} still has work")
        failed = counts[JobStatus.FAILED]
        cancelled = counts[JobStatus.CANCELLED]
        if not await uow.batches.claim_settlement(batch_id, now):
            await uow.session.refresh(batch)  # what the settlement that won has written
            return _settlement_of(batch, cancelled)
        # The claim locked the row: read what a cancel committed meanwhile (its refund).
        await uow.session.refresh(batch)
        tier = Tier(batch.tier)
        refund = max(0, _refund_due(batch, failed + cancelled) - batch.refunded_credits)
        if refund:
            await uow.ledger.apply(
                account_id=batch.account_id,
                delta=refund,
                reason=LedgerReason.REFUND,
                reference=f"batch:{batch_id}",
                idempotency_key=f"refund:batch:{batch_id}",
                now=now,
            )
        if batch.paid_with == PaidWith.QUOTA and failed and batch.quota_day is not None:
            await uow.usage.give_back(
                account_id=batch.account_id,
                day=batch.quota_day,
                images=failed,
                premium_images=failed if tier.is_premium else 0,
            )
        batch.failed_count = failed
        batch.refunded_credits += refund
        batch.status = BatchStatus.FINISHED
        succeeded = batch.image_count - failed - cancelled
        referral = await reward_referral_if_due(uow, batch, succeeded, now)
        await uow.commit()
    settlement = _settlement_of(batch, cancelled)
    return Settlement(
        batch_id,
        succeeded,
        failed,
        batch.refunded_credits,
        settlement.quota_returned,
        cancelled,
        referral,
    )


def _settlement_of(batch: Batch, cancelled: int) -> Settlement:
    quota_back = batch.failed_count + cancelled if batch.paid_with == PaidWith.QUOTA else 0
    return Settlement(
        batch.id,
        batch.image_count - batch.failed_count - cancelled,
        batch.failed_count,
        batch.refunded_credits,
        quota_back,
        cancelled,
    )


@dataclass(frozen=True, slots=True)
class BatchCancellation:
    batch_id: int
    cancelled: int  # images stopped by this cancel
    refunded_credits: int  # credits this cancel gave back
    quota_returned: int  # images this cancel gave back to the day's quota
    finished: bool  # nothing runs any more: the batch can be settled and delivered


async def cancel_batch(
    uow: UnitOfWork, account_id: int, batch_id: int, *, now: datetime
) -> BatchCancellation:
    """Stop the images of a batch that no worker has started, and give them back at once.

    Credits come back at the batch's own discount rate (the person pays for what is processed
    as if the batch had been that size); quota images go back to the day they used. Images
    already running or finished are kept and delivered. A second cancel finds nothing queued
    and moves nothing; every refund has an idempotency key naming how many were cancelled.

    Raises:
        NotFound: the account has no such batch.
    """
    async with uow:
        batch = await uow.history.batch(account_id, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        if not await uow.extras.mark_cancelling(batch_id, now):
            return BatchCancellation(batch_id, 0, 0, 0, finished=True)
        await uow.session.refresh(batch)  # after the row lock: the latest refunds
        newly = await uow.extras.cancel_queued_jobs(batch_id, now)
        counts = await uow.jobs.status_counts(batch_id)
        finished = not (counts[JobStatus.QUEUED] or counts[JobStatus.RUNNING])
        refund = quota_back = 0
        if newly:
            cancelled = counts[JobStatus.CANCELLED]
            refund = max(0, _refund_due(batch, cancelled) - batch.refunded_credits)
            if refund:
                await uow.ledger.apply(
                    account_id=batch.account_id,
                    delta=refund,
                    reason=LedgerReason.REFUND,
                    reference=f"batch:{batch_id}",
                    idempotency_key=f"refund:cancel:batch:{batch_id}:{cancelled}",
                    now=now,
                )
                batch.refunded_credits += refund
            if batch.paid_with == PaidWith.QUOTA and batch.quota_day is not None:
                quota_back = newly
                await uow.usage.give_back(
                    account_id=batch.account_id,
                    day=batch.quota_day,
                    images=newly,
                    premium_images=newly if Tier(batch.tier).is_premium else 0,
                )
        await uow.commit()
    return BatchCancellation(batch_id, newly, refund, quota_back, finished)
