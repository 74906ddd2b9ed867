"""Subscribing to a plan, cancelling (active until the paid period ends) and renewing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db.models import Subscription
from db.uow import UnitOfWork
from services.errors import AccountNotFound, ServiceError
from services.plans import Plan, get_plan


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
    if days <= 0:
        raise ValueError("a subscription lasts at least one day")
    async with uow:
        if await uow.accounts.get(account_id) is None:
            raise AccountNotFound(f"no account {account_id}")
        active = await uow.subscriptions.active(account_id, now)
        if active is not None and active.plan == plan.code:
            active.period_end += timedelta(days=days)
            active.auto_renew = auto_renew
            active.cancelled_at = None
            subscription = active
        else:
            if active is not None:
                active.period_end = now
                active.auto_renew = False
            subscription = await uow.subscriptions.add(
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
        await uow.commit()
        return _status(subscription)


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
