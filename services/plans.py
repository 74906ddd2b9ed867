"""Subscription plans and the quota-then-credits decision for one batch.

Pure: the caller reads the account's balance, plan and today's usage, and writes the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.pricing import BatchPrice, Tier, round_half_up

# What one payment for a plan buys, and what Telegram's Stars subscriptions renew.
PLAN_DAYS = 30
PLAN_PERIOD = timedelta(days=PLAN_DAYS)


class PlanCode(StrEnum):
    STARTER = "starter"
    PRO = "pro"


@dataclass(frozen=True, slots=True)
class Plan:
    code: PlanCode
    price_rp: int
    daily_removals: int
    tiers: frozenset[Tier]
    premium_daily_cap: int | None
    priority: bool

    def covers(self, tier: Tier) -> bool:
        return tier in self.tiers


PLANS: dict[PlanCode, Plan] = {
    PlanCode.STARTER: Plan(
        code=PlanCode.STARTER,
        price_rp=99_000,
        daily_removals=50,
        tiers=frozenset({Tier.BASIC, Tier.STANDARD}),
        premium_daily_cap=None,
        priority=False,
    ),
    PlanCode.PRO: Plan(
        code=PlanCode.PRO,
        price_rp=299_000,
        daily_removals=200,
        tiers=frozenset(Tier),
        premium_daily_cap=50,
        priority=True,
    ),
}


def plan_price_credits(plan: Plan, credit_price_rp: int) -> int:
    """What a plan's month costs in credits, rounded half up like every price."""
    return round_half_up(plan.price_rp, credit_price_rp)


def unused_plan_credits(
    plan: Plan, *, paid_until: datetime | None, now: datetime, credit_price_rp: int
) -> int:
    """The credits' worth of a plan's paid time still to come at `now`, to the second.

    A month of the plan is worth its price in credits; days an operator gave are worth nothing.
    """
    if paid_until is None or paid_until <= now:
        return 0
    unused = paid_until - now
    seconds = unused.days * 86_400 + unused.seconds  # whole seconds, rounding down
    month = int(PLAN_PERIOD.total_seconds())
    return round_half_up(plan_price_credits(plan, credit_price_rp) * seconds, month)


class UnknownPlan(ValueError):
    """A plan name that the product does not sell."""


def get_plan(code: str) -> Plan:
    """Return the plan called `code`.

    Raises:
        UnknownPlan: for any name but starter and pro.
    """
    try:
        return PLANS[PlanCode(code)]
    except ValueError:
        raise UnknownPlan(f"unknown plan {code!r}; choose one of: {', '.join(PLANS)}") from None


def quota_day(moment: datetime, zone: ZoneInfo) -> date:
    """The day whose quota `moment` counts against: quotas reset at midnight in `zone`."""
    return moment.astimezone(zone).date()


@dataclass(frozen=True, slots=True)
class Usage:
    """Removals already paid by the quota on one day."""

    removals: int = 0
    premium_removals: int = 0


def quota_left(plan: Plan | None, usage: Usage, tier: Tier | None = None) -> int:
    """How many more images the quota can pay today, for `tier` when given."""
    if plan is None or (tier is not None and not plan.covers(tier)):
        return 0
    left = max(0, plan.daily_removals - usage.removals)
    if tier is not None and tier.is_premium and plan.premium_daily_cap is not None:
        left = min(left, max(0, plan.premium_daily_cap - usage.premium_removals))
    return left


@dataclass(frozen=True, slots=True)
class PayWithQuota:
    images: int
    premium_images: int


@dataclass(frozen=True, slots=True)
class PayWithCredits:
    credits: int


@dataclass(frozen=True, slots=True)
class CannotPay:
    """Neither the quota nor the credits cover the batch: nothing is charged or queued."""

    credits_needed: int
    balance: int
    tier_in_plan: bool
    quota_left: int
    # Whether the person has a plan at all: "your plan does not cover this" needs one.
    has_plan: bool = False
    images: int = 0

    @property
    def shortfall(self) -> int:
        return self.credits_needed - self.balance


ChargeDecision = PayWithQuota | PayWithCredits | CannotPay


def decide_charge(
    price: BatchPrice, balance: int, plan: Plan | None, usage: Usage
) -> ChargeDecision:
    """Decide how a batch is paid: wholly by today's quota, else wholly in credits."""
    room = quota_left(plan, usage, price.tier)
    if price.image_count <= room:
        premium = price.image_count if price.tier.is_premium else 0
        return PayWithQuota(images=price.image_count, premium_images=premium)
    if balance >= price.credits:
        return PayWithCredits(credits=price.credits)
    return CannotPay(
        credits_needed=price.credits,
        balance=balance,
        tier_in_plan=plan is not None and plan.covers(price.tier),
        quota_left=room,
        has_plan=plan is not None,
        images=price.image_count,
    )
