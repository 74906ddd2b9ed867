"""Plans: one active plan per account, switched, extended, cancelled and renewed by one rule.

- Paying for the plan already active extends it from its current end.
- Paying for another plan (up or down) switches now: the old plan ends, the unused paid part of
  it comes back as credits (pro-rata to the second, one ledger entry), and its renewal stops.
- A new recurring subscription replaces any other: an account has at most one plan that a
  provider renews, so the renewal of every other run is stopped.
- Stopping renewal stops every renewal the account has; the plan stays until its paid end.

Stopping a renewal at a provider (Telegram's `editUserStarSubscription`) is outside I/O: the
runs to stop are recorded here, in the same transaction as the change, and the provider's
adapter stops them and confirms (`renewals_to_stop`, `renewal_stopped`), so no path that
changes a plan can forget one, whichever channel it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from db.models import LedgerReason, Subscription
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import InsufficientBalance, ServiceError
from services.plans import (
    PLAN_DAYS,
    Plan,
    get_plan,
    plan_price_credits,
    unused_plan_credits,
)

__all__ = ["PLAN_DAYS", "plan_price_credits"]

# The credit price when a caller does not say; the setting CREDIT_PRICE_RP defaults to it too.
DEFAULT_CREDIT_PRICE_RP = 100
# Plans an operator gives are not paid, so their days are never credited back.
GRANTED = "admin"


class NoActiveSubscription(ServiceError):
    code = "no_active_subscription"


@dataclass(frozen=True, slots=True)
class PlanStatus:
    plan: Plan
    period_end: datetime
    auto_renew: bool
    cancelled: bool
    # Credits this change gave back for the unused paid days of the plan it replaced.
    credited: int = 0


def _status(subscription: Subscription, credited: int = 0) -> PlanStatus:
    return PlanStatus(
        plan=get_plan(subscription.plan),
        period_end=subscription.period_end,
        auto_renew=subscription.auto_renew,
        cancelled=subscription.cancelled_at is not None,
        credited=credited,
    )


async def current_plan(uow: UnitOfWork, account_id: int, now: datetime) -> PlanStatus | None:
    async with uow:
        subscription = await uow.subscriptions.active(account_id, now)
        return _status(subscription) if subscription else None


async def subscribe(
    uow: UnitOfWork,
    account_id: int,
    plan_code: str,
    days: int,
    *,
    source: str,
    auto_renew: bool,
    now: datetime,
    paid: bool = False,
    credit_price_rp: int = DEFAULT_CREDIT_PRICE_RP,
) -> PlanStatus:
    """Give a plan for `days` days (operators), by the rule of the module docstring.

    The days are not paid unless `paid` says so, and are then never credited back.

    Raises:
        AccountNotFound: when the account does not exist.
        UnknownPlan: for a plan the product does not sell.
    """
    plan = get_plan(plan_code)
    async with uow:
        await existing_account(uow, account_id)
        subscription, credited = await _start_or_extend(
            uow,
            account_id,
            plan,
            days=days,
            source=source,
            auto_renew=auto_renew,
            now=now,
            paid=paid,
            credit_price_rp=credit_price_rp,
        )
        await uow.commit()
        return _status(subscription, credited)


async def buy_plan_with_credits(
    uow: UnitOfWork,
    account_id: int,
    plan_code: str,
    *,
    credit_price_rp: int,
    request_key: str,
    now: datetime,
) -> PlanStatus:
    """Pay a plan's month from the credit balance and start, extend or switch to it, at once.

    `request_key` names the request: the same key again charges nothing and returns the plan.
    Switching from another paid plan credits its unused days first, so they help pay.

    Raises:
        AccountNotFound: when the account does not exist.
        UnknownPlan: for a plan the product does not sell.
        InsufficientBalance: when the balance does not cover the plan's price.
        NoActiveSubscription: the request was made before and the plan it bought has ended.
    """
    plan = get_plan(plan_code)
    price = plan_price_credits(plan, credit_price_rp)
    key = f"plan:{account_id}:{request_key}"
    credited = 0
    try:
        async with uow:
            await existing_account(uow, account_id)
            await uow.accounts.lock(account_id)
            if not await uow.ledger.has_key(key):
                subscription, credited = await _start_or_extend(
                    uow,
                    account_id,
                    plan,
                    days=PLAN_DAYS,
                    source="credits",
                    auto_renew=False,
                    now=now,
                    paid=True,
                    credit_price_rp=credit_price_rp,
                )
                entry = await uow.ledger.apply(
                    account_id=account_id,
                    delta=-price,
                    reason=LedgerReason.PLAN_PURCHASE,
                    reference=f"plan:{plan.code.value}",
                    idempotency_key=key,
                    now=now,
                )
                if entry is None:  # rolled back: the switch and its credit with it
                    raise InsufficientBalance(f"the {plan.code.value} plan costs {price} credits")
                await uow.commit()
                return _status(subscription, credited)
    except IntegrityError:
        pass  # the same request ran concurrently and its unique ledger key let one through
    status = await current_plan(uow, account_id, now)
    if status is None:
        raise NoActiveSubscription(f"the plan bought by request {request_key} has ended")
    return status


async def _credit_unused_days(
    uow: UnitOfWork, replaced: Subscription, *, credit_price_rp: int, now: datetime
) -> int:
    credits = unused_plan_credits(
        get_plan(replaced.plan),
        paid_until=min(replaced.paid_until, replaced.period_end) if replaced.paid_until else None,
        now=now,
        credit_price_rp=credit_price_rp,
    )
    if credits:
        # A run is replaced once, so its id keys the one credit it can ever give.
        await uow.ledger.apply(
            account_id=replaced.account_id,
            delta=credits,
            reason=LedgerReason.PLAN_CREDIT,
            reference=f"plan:{replaced.plan}",
            idempotency_key=f"plan_credit:{replaced.id}",
            now=now,
        )
    return credits


def _stop_renewal(subscription: Subscription, now: datetime) -> None:
    subscription.auto_renew = False
    if subscription.cancelled_at is None:
        subscription.cancelled_at = now


async def _start_or_extend(
    uow: UnitOfWork,
    account_id: int,
    plan: Plan,
    *,
    days: int,
    source: str,
    auto_renew: bool,
    now: datetime,
    paid: bool | None = None,
    credit_price_rp: int = DEFAULT_CREDIT_PRICE_RP,
    provider_subscription_id: str | None = None,
) -> tuple[Subscription, int]:
    """Apply `days` of `plan` inside an open unit of work; return the run and credits given.

    `provider_subscription_id` names the provider's recurring subscription that paid and will
    renew these days; without it the days renew by no one.
    """
    if days <= 0:
        raise ValueError("a subscription lasts at least one day")
    paid = source != GRANTED if paid is None else paid
    await uow.accounts.lock(account_id)
    active = await uow.subscriptions.active(account_id, now)
    credited = 0
    period = timedelta(days=days)
    same_renewal = active is not None and (
        provider_subscription_id is None
        or active.provider_subscription_id in (None, provider_subscription_id)
    )
    if active is not None and active.plan == plan.code and same_renewal:
        active.period_end += period
        if paid:
            active.paid_until = active.period_end
        if provider_subscription_id is not None:
            active.provider_subscription_id = provider_subscription_id
            active.auto_renew = True
            active.cancelled_at = None
            active.renewal_stopped_at = None
        result = active
    else:
        carried = paid_carried = timedelta(0)
        if active is not None:
            if active.plan == plan.code:
                # The same plan renewed by another subscription: the remaining days move over.
                carried = active.period_end - now
                if active.paid_until is not None:
                    paid_carried = max(
                        timedelta(0), min(active.paid_until, active.period_end) - now
                    )
            else:
                credited = await _credit_unused_days(
                    uow, active, credit_price_rp=credit_price_rp, now=now
                )
            active.period_end = now
            active.replaced_at = now
            _stop_renewal(active, now)
        end = now + carried + period
        result = await uow.subscriptions.add(
            Subscription(
                account_id=account_id,
                plan=plan.code,
                period_start=now,
                period_end=end,
                auto_renew=auto_renew or provider_subscription_id is not None,
                cancelled_at=None,
                source=source,
                created_at=now,
                paid_until=end if paid else (now + paid_carried if paid_carried else None),
                replaced_at=None,
                provider_subscription_id=provider_subscription_id,
                renewal_stopped_at=None,
            )
        )
    # One renewing subscription per account, the one of the run now current: a run that
    # ended unnoticed may still renew at its provider, and is stopped too.
    for other in await uow.subscriptions.renewing(account_id):
        if other.id == result.id:
            continue
        _stop_renewal(other, now)
        if other.provider_subscription_id == result.provider_subscription_id is not None:
            # A lapsed run renewed late: its subscription lives on in the new run, and must
            # not be stopped at the provider.
            other.renewal_stopped_at = now
    return result, credited


async def cancel(uow: UnitOfWork, account_id: int, *, now: datetime) -> PlanStatus:
    """Stop every renewal the account has; the active plan stays until its paid period ends.

    Raises:
        NoActiveSubscription: when no plan is active (renewals of ended plans are stopped
            all the same).
    """
    async with uow:
        await uow.accounts.lock(account_id)
        active = await uow.subscriptions.active(account_id, now)
        renewing = await uow.subscriptions.renewing(account_id)
        for subscription in renewing:
            _stop_renewal(subscription, now)
        if active is not None:
            _stop_renewal(active, now)
        await uow.commit()
    if active is None:
        raise NoActiveSubscription(f"account {account_id} has no active plan")
    return _status(active)


@dataclass(frozen=True, slots=True)
class RenewalStop:
    """A provider subscription whose renewal must be stopped at the provider."""

    subscription_id: int
    account_id: int
    telegram_id: int | None
    provider_subscription_id: str


async def renewals_to_stop(uow: UnitOfWork, provider: str) -> list[RenewalStop]:
    """The cancelled or replaced runs whose recurring subscription with `provider` may still
    renew, for the provider's adapter to stop and confirm with `renewal_stopped`."""
    async with uow:
        rows = await uow.subscriptions.renewals_to_stop(provider)
    return [
        RenewalStop(
            subscription_id=subscription.id,
            account_id=subscription.account_id,
            telegram_id=account.telegram_id,
            provider_subscription_id=subscription.provider_subscription_id or "",
        )
        for subscription, account in rows
    ]


async def renewal_stopped(uow: UnitOfWork, subscription_id: int, *, now: datetime) -> None:
    """Record that the provider confirmed a run's subscription renews no more."""
    async with uow:
        subscription = await uow.subscriptions.get(subscription_id)
        if subscription is not None and subscription.renewal_stopped_at is None:
            subscription.renewal_stopped_at = now
            await uow.commit()


# For purchases that start a plan inside their own transaction (services.payments).
plan_status = _status
start_or_extend_plan = _start_or_extend
