"""What every chat channel says, as plain text: quotes, refusals, statistics, help and plans.

Channel-neutral and free of I/O: a channel adapter calls these functions and puts the text in
its own message format (Telegram inline keyboards, WhatsApp interactive lists).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.messages import MESSAGES, reason, text, text_count
from services.billing import AcceptedBatch, QuoteOffer, TierOffer
from services.errors import CannotAfford, ServiceError
from services.history import BatchView
from services.imaging.compose import InvalidOptions, OutputOptions
from services.plans import PLANS, CannotPay, PayWithQuota, PlanCode, UnknownPlan
from services.pricing import BatchTooLarge, Tier, batch_price, discount_bands, next_discount
from services.stats import AccountStats, ServiceFigures
from services.subscriptions import PlanStatus
from services.uploads import NothingToProcess

TIER_LABEL_LIMIT = 20
PLAN_MARK = "★ "
MAX_LISTED_REJECTIONS = 10
SHOWN_NAME_LIMIT = 48
# Quotes point out the next volume discount when it is this close (19 -> 20, 50 -> 51, ...).
NEXT_DISCOUNT_NUDGE = 0.1


def money(amount: int | float | Decimal, language: str) -> str:
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


def shown_name(name: str, limit: int = SHOWN_NAME_LIMIT) -> str:
    """A file name fit to echo back: no `..`, `.` or root parts, and at most `limit` characters.

    A refused ZIP entry may be called `../../../../etc/passwd` forty levels deep; the person
    needs to recognise the file, not to read the attack back.
    """
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    shown = "/".join(parts) or "?"
    if len(shown) <= limit:
        return shown
    last = parts[-1] if parts else shown
    if len(last) + 2 <= limit:
        return f"…/{last}"
    return f"…{last[-(limit - 1) :]}"


def rejected_lines(rejected: Sequence[Mapping[str, Any]], language: str) -> list[str]:
    """One line per refused file with its reason, the long tail counted."""
    shown = list(rejected[:MAX_LISTED_REJECTIONS])
    lines = [
        f"• {shown_name(str(item['name']))}: {reason(str(item['reason']), language)}"
        for item in shown
    ]
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
    lines.extend(quota_lines(offer, language))
    lines.extend(next_discount_lines(offer, language))
    lines.append("")
    lines.append(text("chat.quote.balance", language, balance=money(standing.balance, language)))
    if standing.plan is not None:
        left = standing.quota_left()
        lines.append(text_count("chat.quote.quota", language, left, left=left))
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


def quota_lines(offer: QuoteOffer, language: str) -> list[str]:
    """Say, for a subscriber, which tiers today's quota pays for this batch and which not.

    A batch is paid wholly by the quota or wholly in credits: a starter sending 60 images
    is told before tapping that credits pay, and why.
    """
    standing = offer.standing
    if standing.plan is None:
        return []
    covered = [t for t in offer.tiers if t.in_plan and isinstance(t.decision, PayWithQuota)]
    short: dict[int, list[str]] = {}
    for tier_offer in offer.tiers:
        if tier_offer.in_plan and not isinstance(tier_offer.decision, PayWithQuota):
            left = standing.quota_left(tier_offer.price.tier)
            short.setdefault(left, []).append(tier_name(tier_offer.price.tier, language))
    lines = []
    if covered:
        names = ", ".join(tier_name(t.price.tier, language) for t in covered)
        lines.append(text("quote.quota_covers", language, tiers=names))
    lines.extend(
        text(
            "quote.quota_short",
            language,
            tiers=", ".join(names),
            left=left,
            count=offer.image_count,
        )
        for left, names in short.items()
    )
    return lines


def next_discount_lines(offer: QuoteOffer, language: str) -> list[str]:
    """When a few more images reach the next volume discount, say how many and what it costs."""
    upcoming = next_discount(offer.image_count)
    if upcoming is None:
        return []
    more, percent = upcoming
    if more > max(1, int(offer.image_count * NEXT_DISCOUNT_NUDGE)):
        return []
    # Standard is the everyday tier; the saving is the same percentage on every tier.
    now, then = (
        batch_price(Tier.STANDARD, n) for n in (offer.image_count, offer.image_count + more)
    )
    return [
        text_count(
            "quote.next_discount",
            language,
            more,
            more=more,
            percent=percent,
            next=then.image_count,
            tier=tier_name(Tier.STANDARD, language),
            next_credits=money(then.credits, language),
            credits=money(now.credits, language),
        )
    ]


def next_tier(tier: str) -> Tier | None:
    """The tier above `tier`, for a redo offer; None above industry or for an unknown name."""
    order = list(Tier)
    if tier not in {t.value for t in order}:
        return None
    position = order.index(Tier(tier)) + 1
    return order[position] if position < len(order) else None


def redo_label(tier: str, language: str) -> str | None:
    """The redo button's label: the next tier up, and "+" for the ones above it."""
    higher = next_tier(tier)
    if higher is None:
        return None
    suffix = "+" if higher is not Tier.INDUSTRY else ""
    return text("redo.button", language, tier=tier_name(higher, language) + suffix)


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
    lines.extend(plan_refusal_lines(decision, language))
    lines.append(text("chat.cannot_afford.topup", language))
    return "\n".join(lines)


def plan_refusal_lines(decision: CannotPay, language: str) -> list[str]:
    """Why the plan did not pay: only said to people who have a plan."""
    if not decision.has_plan:
        return []
    if not decision.tier_in_plan:
        return [text("chat.cannot_afford.not_in_plan", language)]
    if decision.images > decision.quota_left:
        return [text("quote.plan_short", language, left=decision.quota_left, count=decision.images)]
    return []


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


def help_text(
    language: str,
    *,
    retention_days: int,
    credit_price_rp: int = 100,
    support_contact: str = "",
    previews_per_day: int = 0,
    referral_credits: int = 0,
) -> str:
    """What /help answers: tiers and their use, prices, discounts, plans, paying, retention,
    invitations, commands and whom to ask."""
    preview = text("help.preview", language, count=previews_per_day) if previews_per_day else ""
    lines = [text("help.intro", language, preview=preview), ""]
    lines.append(text("help.tiers", language, credit_rp=money(credit_price_rp, language)))
    lines.extend(
        text(
            "help.tier_line",
            language,
            name=tier_name(tier, language),
            credits=tier.credits_per_image,
            rupiah=money(tier.credits_per_image * credit_price_rp, language),
            purpose=text(f"help.tier.{tier.value}", language),
        )
        for tier in Tier
    )
    bands = ", ".join(
        text("help.band", language, low=low, high=high, percent=percent)
        for low, high, percent in discount_bands()
        if percent
    )
    lines.append(text("help.discounts", language, bands=bands))
    starter, pro = PLANS[PlanCode.STARTER], PLANS[PlanCode.PRO]
    lines.append("")
    lines.append(
        text(
            "help.plans",
            language,
            starter_price=money(starter.price_rp, language),
            starter_daily=starter.daily_removals,
            pro_price=money(pro.price_rp, language),
            pro_daily=pro.daily_removals,
            premium=pro.premium_daily_cap,
        )
    )
    lines.append(text("help.pay", language))
    lines.append(text("help.kept", language, days=retention_days))
    if referral_credits:
        lines.append(text("help.invite", language, credits=referral_credits))
    lines.append("")
    lines.append(text("help.commands", language))
    if support_contact:
        lines.append(text("help.support", language, contact=support_contact))
    return "\n".join(lines)


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
            text("chat.plans.rule", language),
            "",
            plan_status_text(current, language, zone=zone),
        ]
    )


def plan_started_text(status: PlanStatus, language: str, *, zone: ZoneInfo) -> str:
    started = text(
        "chat.plans.started",
        language,
        plan=status.plan.code.value.title(),
        until=day_text(status.period_end, zone),
    )
    if not status.credited:
        return started
    credited = text("chat.plans.credited", language, credits=money(status.credited, language))
    return f"{started}\n{credited}"


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


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


def _known(key: str, language: str, fallback: str, **values: object) -> str:
    return text(key, language, **values) if key in MESSAGES else fallback


def operator_stats_text(figures: ServiceFigures, language: str) -> str:
    """Service figures for operators: users, images, income by source, margin per tier."""
    lines = [
        text(
            "chat.admin.stats",
            language,
            users=figures.accounts,
            waiting=figures.waiting_jobs,
            images=figures.images_done,
            failed=figures.images_failed,
        ),
        text("chat.admin.income_title", language),
    ]
    for source in figures.income:
        amount = money(source.amount, language)
        lines.append(
            text(
                "chat.admin.income_line",
                language,
                source=_known(f"chat.admin.source.{source.name}", language, source.name),
                payments=source.payments,
                amount=_known(
                    f"chat.admin.unit.{source.currency}",
                    language,
                    f"{amount} {source.currency}",
                    amount=amount,
                ),
                rupiah=money(source.rupiah, language),
            )
        )
    lines.append(text("chat.admin.money_in", language, rupiah=money(figures.money_in_rp, language)))
    lines.append(
        text(
            "chat.admin.grants_apart",
            language,
            credits=money(figures.granted_credits, language),
            rupiah=money(figures.granted_rp, language),
        )
    )
    if figures.plan_credits_back:
        lines.append(
            text(
                "chat.admin.credits_back",
                language,
                credits=money(figures.plan_credits_back, language),
            )
        )
    lines.append(text("chat.admin.margin_title", language))
    for line in figures.lines:
        name = (
            tier_name(line.name, language)
            if line.name in {tier.value for tier in Tier}
            else _known(f"chat.admin.line.{line.name}", language, line.name)
        )
        lines.append(
            text(
                "chat.admin.margin_line",
                language,
                name=name,
                images=line.images,
                revenue=money(line.revenue_rp, language),
                cost=money(line.engine_cost_rp, language),
                margin=money(line.margin_rp, language),
                percent=_percent(line.margin_percent),
            )
        )
    total = figures.margin
    lines.append(
        text(
            "chat.admin.margin_total",
            language,
            revenue=money(total.revenue_rp, language),
            cost=money(total.engine_cost_rp, language),
            margin=money(total.margin_rp, language),
            percent=_percent(total.margin_percent),
        )
    )
    return "\n".join(lines)
