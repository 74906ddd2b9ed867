"""Per-account and service-wide statistics, read from the ledger, batches, jobs and payments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from db.models import JobStatus, LedgerReason, PaidWith
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.billing import read_standing
from services.payments import DECLINED
from services.plans import PlanCode, UnknownPlan, get_plan
from services.pricing import Tier


@dataclass(frozen=True, slots=True)
class AccountStats:
    images_by_tier: dict[Tier, int]
    credits_spent: int
    saved_by_discounts: int
    balance: int
    plan: PlanCode | None
    quota_left_today: int

    @property
    def images_total(self) -> int:
        return sum(self.images_by_tier.values())


async def account_stats(
    uow: UnitOfWork, account_id: int, *, zone: ZoneInfo, now: datetime
) -> AccountStats:
    """Totals for one person: images by tier, credits spent net of refunds, discount savings.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        account = await existing_account(uow, account_id)
        done = await uow.jobs.done_by_tier(account_id)
        by_reason = await uow.ledger.sum_by_reason(account_id)
        batches = await uow.batches.for_account(account_id)
        standing = await read_standing(uow, account, zone, now)
    saved = 0
    for batch in batches:
        if batch.paid_with != PaidWith.CREDITS:
            continue
        # What was saved is the discount on the images that were finally paid for.
        kept = batch.credits_charged - batch.refunded_credits
        succeeded = batch.image_count - batch.failed_count
        saved += max(0, succeeded * Tier(batch.tier).credits_per_image - kept)
    spent = -(by_reason.get(LedgerReason.CHARGE, 0) + by_reason.get(LedgerReason.REFUND, 0))
    return AccountStats(
        images_by_tier={tier: done.get(tier, 0) for tier in Tier},
        credits_spent=spent,
        saved_by_discounts=saved,
        balance=account.balance,
        plan=standing.plan.code if standing.plan else None,
        quota_left_today=standing.quota_left(),
    )


# --- Operators' figures ---

RUPIAH = "IDR"
STARS_PROVIDER = "telegram_stars"  # the provider name the Telegram Stars adapter records


@dataclass(frozen=True, slots=True)
class IncomeSource:
    """Money (or credits) received through one source, valued in rupiah.

    Stars are valued at the list rupiah price of what they bought (a pack's credits at the
    credit price, a plan's monthly price); rupiah payments at their amount.
    """

    name: str  # stars_packs, stars_plans, credit_plans, or <provider>_packs / <provider>_plans
    payments: int
    amount: int  # in `currency`
    currency: str  # XTR (Stars), IDR, or "credits"
    rupiah: Decimal

    @property
    def paid_in_credits(self) -> bool:
        """Bought with credits already counted when they were sold or granted."""
        return self.currency == "credits"


@dataclass(frozen=True, slots=True)
class MarginLine:
    """Revenue earned and engine cost spent by one line: a tier's credit-paid images, or the
    images plans' quotas paid for."""

    name: str  # a tier, or "plans"
    images: int
    revenue_rp: Decimal
    engine_cost_rp: Decimal

    @property
    def margin_rp(self) -> Decimal:
        return self.revenue_rp - self.engine_cost_rp

    @property
    def margin_percent(self) -> float | None:
        """Margin as a share of revenue; None without revenue."""
        if not self.revenue_rp:
            return None
        return float(self.margin_rp / self.revenue_rp * 100)


@dataclass(frozen=True, slots=True)
class ServiceFigures:
    accounts: int
    waiting_jobs: int
    images_done: int
    images_failed: int
    income: tuple[IncomeSource, ...]
    # Credits given, not sold (welcome balances and operators' grants), and their list value.
    granted_credits: int
    granted_rp: Decimal
    # Unused plan days given back as credits when a plan was switched.
    plan_credits_back: int
    lines: tuple[MarginLine, ...]

    @property
    def money_in_rp(self) -> Decimal:
        """What customers paid from outside (Stars, rupiah), not credits they spent."""
        return sum((s.rupiah for s in self.income if not s.paid_in_credits), Decimal(0))

    @property
    def revenue_rp(self) -> Decimal:
        return sum((line.revenue_rp for line in self.lines), Decimal(0))

    @property
    def engine_cost_rp(self) -> Decimal:
        return sum((line.engine_cost_rp for line in self.lines), Decimal(0))

    @property
    def margin(self) -> MarginLine:
        return MarginLine("total", self.images_done, self.revenue_rp, self.engine_cost_rp)


def _plan_price_rp(product: str) -> int:
    try:
        return get_plan(product.split(":")[1]).price_rp
    except (IndexError, UnknownPlan):
        return 0


def income_sources(
    payments: Iterable[tuple[str, str, str, int, int, int]],
    *,
    credit_plans: tuple[int, int],
    credit_price_rp: int,
) -> tuple[IncomeSource, ...]:
    """Group payments (provider, product, currency, count, amount, credits) by source.

    A new provider (a rupiah gateway) becomes its own sources, `<provider>_packs` and
    `<provider>_plans`, with no change here. Declined renewals are left out: their money
    goes back.
    """
    totals: dict[tuple[str, str], list[int | Decimal]] = {}
    for provider, product, currency, count, amount, credits in payments:
        kind = product.partition(":")[0]
        if kind not in {"pack", "plan"} or product.endswith(DECLINED):
            continue
        owner = "stars" if provider == STARS_PROVIDER else provider
        if currency == RUPIAH:
            rupiah = Decimal(amount)
        elif kind == "pack":
            rupiah = Decimal(credits * credit_price_rp)
        else:
            rupiah = Decimal(count * _plan_price_rp(product))
        entry = totals.setdefault((f"{owner}_{kind}s", currency), [0, 0, Decimal(0)])
        entry[0] += count
        entry[1] += amount
        entry[2] += rupiah
    sources = [
        IncomeSource(name, int(n), int(amount), currency, Decimal(rupiah))
        for (name, currency), (n, amount, rupiah) in sorted(totals.items())
    ]
    count, credits = credit_plans
    if count:
        sources.append(
            IncomeSource(
                "credit_plans", count, credits, "credits", Decimal(credits * credit_price_rp)
            )
        )
    return tuple(sources)


async def service_figures(
    uow: UnitOfWork, *, credit_price_rp: int, engine_costs: Mapping[Tier, Decimal]
) -> ServiceFigures:
    """Users, images, income by source and margin per tier, from the source of truth.

    Revenue is earned when credits are spent or a plan is paid: each tier's credit-paid
    images earn what their batches kept after refunds; plans (Stars, rupiah or credits, less
    unused days credited back) earn for the images their quotas paid. Engine cost is every
    image actually processed (done), whoever paid, at its tier's cost. Credit packs are money
    in, not revenue, until their credits are spent.
    """
    async with uow:
        accounts = await uow.accounts.count()
        images = await uow.metrics.images_by_tier_and_payment()
        kept = await uow.metrics.kept_credits_by_tier()
        payments = await uow.metrics.payments_by_product()
        ledger = await uow.metrics.ledger_entries_by_reason()
    plan_purchases, plan_paid = ledger.get(LedgerReason.PLAN_PURCHASE, (0, 0))
    income = income_sources(
        payments, credit_plans=(plan_purchases, -plan_paid), credit_price_rp=credit_price_rp
    )
    granted = sum(
        ledger.get(reason, (0, 0))[1] for reason in (LedgerReason.WELCOME, LedgerReason.GRANT)
    )
    credits_back = ledger.get(LedgerReason.PLAN_CREDIT, (0, 0))[1]
    done: dict[tuple[Tier, str], int] = {}
    failed = waiting = 0
    for tier, paid_with, status, count in images:
        if status == JobStatus.DONE:
            done[(Tier(tier), paid_with)] = done.get((Tier(tier), paid_with), 0) + count
        elif status == JobStatus.FAILED:
            failed += count
        else:
            waiting += count
    lines = [
        MarginLine(
            tier.value,
            done.get((tier, PaidWith.CREDITS), 0),
            Decimal(kept.get(tier.value, 0) * credit_price_rp),
            done.get((tier, PaidWith.CREDITS), 0) * engine_costs[tier],
        )
        for tier in Tier
    ]
    plan_revenue = sum(
        (source.rupiah for source in income if source.name.endswith("_plans")), Decimal(0)
    )
    lines.append(
        MarginLine(
            "plans",
            sum(done.get((tier, PaidWith.QUOTA), 0) for tier in Tier),
            plan_revenue - credits_back * credit_price_rp,
            sum(
                (done.get((tier, PaidWith.QUOTA), 0) * engine_costs[tier] for tier in Tier),
                Decimal(0),
            ),
        )
    )
    return ServiceFigures(
        accounts=accounts,
        waiting_jobs=waiting,
        images_done=sum(done.values()),
        images_failed=failed,
        income=income,
        granted_credits=granted,
        granted_rp=Decimal(granted * credit_price_rp),
        plan_credits_back=credits_back,
        lines=tuple(lines),
    )
