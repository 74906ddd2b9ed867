"""What every chat channel says, as plain text: quotes, refusals, statistics, help and plans.

Channel-neutral and free of I/O: a channel adapter calls these functions and puts the text in
its own message format (Telegram inline keyboards, WhatsApp interactive lists).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.messages import MESSAGES, reason, text
from services.billing import AcceptedBatch, QuoteOffer, TierOffer
from services.errors import CannotAfford, ServiceError
from services.history import BatchView
from services.imaging.compose import InvalidOptions, OutputOptions
from services.metrics import ServiceMetrics
from services.plans import PLANS, CannotPay, PlanCode, UnknownPlan
from services.pricing import BatchTooLarge, Tier
from services.stats import AccountStats
from services.subscriptions import PlanStatus
from services.uploads import NothingToProcess

TIER_LABEL_LIMIT = 20
PLAN_MARK = "★ "
MAX_LISTED_REJECTIONS = 10


def money(amount: int | float, language: str) -> str:
    """Group thousands the way each language writes them (Rp 15.200 / Rp 15,200)."""
    grouped = f"{round(amount):,}"
    return grouped.replace(",", ".") if language == "id" else grouped


def tier_name(tier: Tier | str, language: str) -> str:
    return text(f"tier.{Tier(tier).value}", language)


def tier_purpose(tier: Tier | str, language: str) -> str:
    """What the tier is for, in a few words."""
    return text(f"tier.{Tier(tier).value}.purpose", language)


def tier_label(offer: TierOffer, language: str) -> str:
    """A button label of at most 20 characters: the tier, its price, and ★ when in the plan."""
    mark = PLAN_MARK if offer.in_plan else ""
    name = tier_name(offer.price.tier, language)
    for candidate in (
        f"{mark}{name} · {offer.price.credits}",
        f"{mark}{name} {offer.price.credits}",
        f"{mark}{name[:3]} {offer.price.credits}",
    ):
        if len(candidate) <= TIER_LABEL_LIMIT:
            return candidate
    return candidate[:TIER_LABEL_LIMIT]


@dataclass(frozen=True, slots=True)
class TierChoice:
    """One button of a quote: what it says and which tier it picks."""

    tier: Tier
    label: str
    in_plan: bool


def tier_choices(offer: QuoteOffer, language: str) -> list[TierChoice]:
    """The quote's buttons, one per tier, cheapest first."""
    return [
        TierChoice(tier_offer.price.tier, tier_label(tier_offer, language), tier_offer.in_plan)
        for tier_offer in offer.tiers
    ]


def cancel_label(language: str) -> str:
    return text("chat.cancel", language)


def rejected_lines(rejected: Sequence[Mapping[str, Any]], language: str) -> list[str]:
    """One line per refused file with its reason, the long tail counted."""
    shown = list(rejected[:MAX_LISTED_REJECTIONS])
    lines = [f"• {item['name']}: {reason(str(item['reason']), language)}" for item in shown]
    if len(rejected) > len(shown):
        lines.append(f"• … +{len(rejected) - len(shown)}")
    return lines


def quote_text(
    offer: QuoteOffer,
    language: str,
    *,
    credit_price_rp: int,
    compressed_photos: bool = False,
) -> str:
    """The quote: image count, each tier's price after discount, balance and today's quota."""
    count = offer.image_count
    lines = [
        text("chat.quote.header_one", language)
        if count == 1
        else text("chat.quote.header", language, count=count)
    ]
    discount = offer.tiers[0].price.discount_percent if offer.tiers else 0
    if discount:
        lines.append(text("chat.quote.discount", language, percent=discount))
    lines.append("")
    for tier_offer in offer.tiers:
        price = tier_offer.price
        key = "chat.quote.tier_line_discount" if price.discount_percent else "chat.quote.tier_line"
        lines.append(
            text(
                key,
                language,
                mark=PLAN_MARK if tier_offer.in_plan else "",
                name=tier_name(price.tier, language),
                credits=money(price.credits, language),
                rupiah=money(price.credits * credit_price_rp, language),
                gross=money(price.gross_credits, language),
            )
        )
        lines.append(f"   {tier_purpose(price.tier, language)}")
    standing = offer.standing
    if standing.plan is not None:
        lines.append(text("chat.quote.plan_mark", language, plan=standing.plan.code.value.title()))
    lines.append("")
    lines.append(text("chat.quote.balance", language, balance=money(standing.balance, language)))
    if standing.plan is not None:
        lines.append(text("chat.quote.quota", language, left=standing.quota_left()))
    if offer.rejected:
        lines.append("")
        lines.append(text("chat.quote.rejected", language, count=len(offer.rejected)))
        lines.extend(rejected_lines(offer.rejected, language))
    if compressed_photos:
        lines.append("")
        lines.append(text("chat.quote.photo_hint", language))
    lines.append("")
    lines.append(text("chat.quote.choose", language))
    return "\n".join(lines)


def accepted_text(accepted: AcceptedBatch, language: str) -> str:
    """What was charged for the batch that now starts."""
    name = tier_name(accepted.tier, language)
    if accepted.credits_charged:
        return text(
            "chat.accepted.credits",
            language,
            tier=name,
            credits=money(accepted.credits_charged, language),
            balance=money(accepted.balance_after, language),
        )
    return text("chat.accepted.quota", language, tier=name)


def cannot_afford_text(decision: CannotPay, language: str) -> str:
    """Say what is missing and how to top up."""
    lines = [
        text(
            "chat.cannot_afford",
            language,
            needed=money(decision.credits_needed, language),
            balance=money(decision.balance, language),
            shortfall=money(decision.shortfall, language),
        )
    ]
    if not decision.tier_in_plan:
        lines.append(text("chat.cannot_afford.not_in_plan", language))
    lines.append(text("chat.cannot_afford.topup", language))
    return "\n".join(lines)


def file_too_large_text(limit_mb: int, language: str) -> str:
    return text("chat.error.file_too_large", language, limit_mb=limit_mb)


def error_text(error: BaseException, language: str) -> str:
    """Map any error of the lower layers to one short message in the person's language."""
    if isinstance(error, CannotAfford):
        return cannot_afford_text(error.decision, language)
    if isinstance(error, NothingToProcess):
        lines = [text("chat.error.nothing_to_process", language)]
        lines.extend(rejected_lines(error.rejected, language))
        return "\n".join(lines)
    if isinstance(error, UnknownPlan):
        return text("chat.error.unknown_plan", language)
    if isinstance(error, InvalidOptions):
        return text("chat.error.invalid_options", language, detail=str(error))
    if isinstance(error, BatchTooLarge):
        return text("chat.error.too_many_images", language)
    if isinstance(error, ServiceError):
        if f"chat.error.{error.code}" in MESSAGES:
            return text(f"chat.error.{error.code}", language)
        if f"reason.{error.code}" in MESSAGES:
            # Refusals of the intake (ImageRejected, ArchiveRejected) carry a reason code.
            lines = [text("chat.error.nothing_to_process", language), reason(error.code, language)]
            return "\n".join(lines)
    return text("chat.error.generic", language)


def welcome_text(
    name: str,
    balance: int,
    *,
    created: bool,
    welcome_credits: int,
    credit_price_rp: int,
    language: str,
) -> str:
    """The greeting of /start: who we are, the balance, what to send."""
    first = (
        text("chat.welcome.new", language, name=name, welcome=welcome_credits)
        if created and welcome_credits
        else text("chat.welcome.back", language, name=name)
    )
    return "\n".join(
        [
            first,
            text(
                "chat.welcome.balance",
                language,
                balance=money(balance, language),
                credit_rp=money(credit_price_rp, language),
            ),
            text("chat.welcome.send", language),
        ]
    )


def help_text(language: str, *, retention_days: int) -> str:
    return text("chat.help", language, days=retention_days)


def stats_text(stats: AccountStats, language: str, *, credit_price_rp: int) -> str:
    """The person's totals: images by tier, credits spent, discount savings, balance, quota."""
    lines = [
        text("chat.stats.title", language),
        text("chat.stats.images", language, total=stats.images_total),
    ]
    lines.extend(
        text("chat.stats.tier_line", language, name=tier_name(tier, language), count=count)
        for tier, count in stats.images_by_tier.items()
    )
    lines.append(
        text(
            "chat.stats.spent",
            language,
            credits=money(stats.credits_spent, language),
            rupiah=money(stats.credits_spent * credit_price_rp, language),
        )
    )
    lines.append(
        text("chat.stats.saved", language, credits=money(stats.saved_by_discounts, language))
    )
    lines.append(text("chat.stats.balance", language, balance=money(stats.balance, language)))
    if stats.plan is not None:
        lines.append(
            text(
                "chat.stats.plan",
                language,
                plan=stats.plan.value.title(),
                left=stats.quota_left_today,
            )
        )
    else:
        lines.append(text("chat.stats.no_plan", language))
    return "\n".join(lines)


def day_text(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d")


def plan_status_text(current: PlanStatus | None, language: str, *, zone: ZoneInfo) -> str:
    if current is None:
        return text("chat.plans.none", language)
    key = "chat.plans.current_cancelled" if current.cancelled else "chat.plans.current"
    return text(
        key,
        language,
        plan=current.plan.code.value.title(),
        until=day_text(current.period_end, zone),
    )


def plans_text(current: PlanStatus | None, language: str, *, zone: ZoneInfo) -> str:
    """The plans on sale and the person's current plan."""
    starter, pro = PLANS[PlanCode.STARTER], PLANS[PlanCode.PRO]
    return "\n".join(
        [
            text("chat.plans.title", language),
            text(
                "chat.plans.starter",
                language,
                price=money(starter.price_rp, language),
                daily=starter.daily_removals,
            ),
            text(
                "chat.plans.pro",
                language,
                price=money(pro.price_rp, language),
                daily=pro.daily_removals,
                premium=pro.premium_daily_cap,
            ),
            "",
            plan_status_text(current, language, zone=zone),
        ]
    )


def plan_started_text(status: PlanStatus, language: str, *, zone: ZoneInfo) -> str:
    return text(
        "chat.plans.started",
        language,
        plan=status.plan.code.value.title(),
        until=day_text(status.period_end, zone),
    )


def plan_cancelled_text(status: PlanStatus, language: str, *, zone: ZoneInfo) -> str:
    return text("chat.plans.cancelled", language, until=day_text(status.period_end, zone))


def history_text(batches: Sequence[BatchView], language: str, *, zone: ZoneInfo) -> str:
    """Recent batches, newest first, one line each."""
    if not batches:
        return text("chat.history.empty", language)
    lines = [text("chat.history.title", language)]
    lines.extend(
        text(
            "chat.history.line",
            language,
            batch=batch.batch_id,
            date=day_text(batch.created_at, zone),
            tier=tier_name(batch.tier, language),
            done=batch.done,
            count=batch.image_count,
            status=batch.status,
        )
        for batch in batches
    )
    return "\n".join(lines)


def settings_text(options: OutputOptions, language: str) -> str:
    """The person's output options, one per line."""

    def flag(value: bool) -> str:
        return text("chat.on" if value else "chat.off", language)

    background = options.background or text("chat.settings.transparent", language)
    return "\n".join(
        [
            text("chat.settings.title", language),
            text("chat.settings.background", language, value=background),
            text("chat.settings.crop", language, value=flag(options.crop)),
            text("chat.settings.square", language, value=flag(options.square)),
            text("chat.settings.marketplace", language, value=flag(options.marketplace)),
            text("chat.settings.format", language, value=options.format.upper()),
            text("chat.settings.colour_hint", language),
        ]
    )


@dataclass(frozen=True, slots=True)
class EngineCosts:
    """Rupiah an engine costs per image of each tier, for the operators' margin."""

    per_tier: Mapping[str, float]


def operator_stats_text(
    metrics: ServiceMetrics, costs: EngineCosts, language: str, *, credit_price_rp: int
) -> str:
    """Service figures for operators: users, images, revenue, engine cost and margin."""
    done = sum(n for (_, outcome), n in metrics.images.items() if outcome == "done")
    failed = sum(n for (_, outcome), n in metrics.images.items() if outcome == "failed")
    cost = sum(
        n * costs.per_tier.get(tier, 0.0)
        for (tier, outcome), n in metrics.images.items()
        if outcome == "done"
    )
    net_credits = metrics.credits_charged - metrics.credits_refunded
    revenue = net_credits * credit_price_rp
    return text(
        "chat.admin.stats",
        language,
        users=metrics.accounts,
        images=done,
        failed=failed,
        credits=money(net_credits, language),
        revenue=money(revenue, language),
        cost=money(cost, language),
        margin=money(revenue - cost, language),
        waiting=metrics.waiting_jobs,
    )
