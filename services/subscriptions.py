"""Subscribing to a plan, cancelling (active until the paid period ends) and renewing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from db.models import LedgerReason, Subscription
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import InsufficientBalance, ServiceError
from services.plans import Plan, get_plan
from services.pricing import round_half_up

PLAN_DAYS = 30


class NoActiveSubscription(ServiceError):
    code = "no_active_subscription"


@dataclass(frozen=True, slots=True)
class PlanStatus:
    plan: Plan
    period_end: datetime
    auto_renew: bool
    cancelled: bool


def _status(subscription: Subscription) -> PlanStatus:
    return PlanStatus(
        plan=get_plan(subscription.plan),
        period_end=subscription.period_end,
        auto_renew=subscription.auto_renew,
        cancelled=subscription.cancelled_at is not None,
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
) -> PlanStatus:
    """Start or extend a plan for `days` days.

    The same plan, still active, is extended from its current end (a renewal or an early
    payment loses nothing); a different plan replaces the active one from now on.

    Raises:
        AccountNotFound: when the account does not exist.
        UnknownPlan: for a plan the product does not sell.
    """
    plan = get_plan(plan_code)
    async with uow:
        await existing_account(uow, account_id)
        subscription = await _start_or_extend(
            uow, account_id, plan, days=days, source=source, auto_renew=auto_renew, now=now
        )
        await uow.commit()
        return _status(subscription)


def plan_price_credits(plan: Plan, credit_price_rp: int) -> int:
    """What a plan's month costs in credits, rounded half up like every price."""
    return round_half_up(plan.price_rp, credit_price_rp)


async def buy_plan_with_credits(
    uow: UnitOfWork,
    account_id: int,
    plan_code: str,
    *,
    credit_price_rp: int,
    request_key: str,
    now: datetime,
) -> PlanStatus:
    """Pay a plan's month from the credit balance and start or extend it, in one transaction.

    `request_key` names the request: the same key again charges nothing and returns the plan.

    Raises:
        AccountNotFound: when the account does not exist.
        UnknownPlan: for a plan the product does not sell.
        InsufficientBalance: when the balance does not cover the plan's price.
    """
    plan = get_plan(plan_code)
    price = plan_price_credits(plan, credit_price_rp)
    key = f"plan:{account_id}:{request_key}"
    try:
        async with uow:
            await existing_account(uow, account_id)
            if not await uow.ledger.has_key(key):
                entry = await uow.ledger.apply(
                    account_id=account_id,
                    delta=-price,
                    reason=LedgerReason.PLAN_PURCHASE,
                    reference=f"plan:{plan.code.value}",
                    idempotency_key=key,
                    now=now,
                )
                if entry is None:
                    raise InsufficientBalance(f"the {plan.code.value} plan costs {price} credits")
                await _start_or_extend(
                    uow,
                    account_id,
                    plan,
                    days=PLAN_DAYS,
                    source="credits",
                    auto_renew=False,
                    now=now,
                )
                await uow.commit()
    except IntegrityError:
        pass  # the same request ran concurrently and its unique ledger key let one through
    status = await current_plan(uow, account_id, now)
    assert status is not None  # bought by this request or by the earlier one with its key
    return status


async def _start_or_extend(
    uow: UnitOfWork,
    account_id: int,
    plan: Plan,
    *,
    days: int,
    source: str,
    auto_renew: bool,
    now: datetime,
) -> Subscription:
    if days <= 0:
        raise ValueError("a subscription lasts at least one day")
    active = await uow.subscriptions.active(account_id, now)
    if active is not None and active.plan == plan.code:
        active.period_end += timedelta(days=days)
        active.auto_renew = auto_renew
        active.cancelled_at = None
        return active
    if active is not None:
        active.period_end = now
        active.auto_renew = False
    return await uow.subscriptions.add(
        Subscription(
            account_id=account_id,
            plan=plan.code,
            period_start=now,
            period_end=now + timedelta(days=days),
            auto_renew=auto_renew,
            cancelled_at=None,
            source=source,
            created_at=now,
        )
    )


async def cancel(uow: UnitOfWork, account_id: int, *, now: datetime) -> PlanStatus:
    """Stop renewal; the plan stays active until its paid period ends.

    Raises:
        NoActiveSubscription: when there is nothing to cancel.
    """
    async with uow:
        active = await uow.subscriptions.active(account_id, now)
        if active is None:
            raise NoActiveSubscription(f"account {account_id} has no active plan")
        active.auto_renew = False
        if active.cancelled_at is None:
            active.cancelled_at = now
        await uow.commit()
        return _status(active)


# For purchases that start a plan inside their own transaction (services.payments).
plan_status = _status
start_or_extend_plan = _start_or_extend
