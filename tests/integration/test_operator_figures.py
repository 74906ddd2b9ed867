"""Operators' figures from the ledger, batches and payments, on both databases."""

from datetime import timedelta
from decimal import Decimal

import pytest

from db.models import JobStatus
from services.accounts import grant_credits
from services.billing import accept_quote, settle_batch
from services.payments import (
    SUBSCRIPTION_START,
    Purchase,
    record_credit_purchase,
    record_plan_purchase,
    record_refund,
)
from services.pricing import Tier
from services.subscriptions import buy_plan_with_credits
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote

COSTS = {
    Tier.BASIC: Decimal("17.5"),
    Tier.STANDARD: Decimal("51.75"),
    Tier.PROFESSIONAL: Decimal("86.25"),
    Tier.INDUSTRY: Decimal("138"),
}


async def run_batch(uow, account, images, tier, *, failed=0, now=NOON):
    offer = await new_quote(uow, account, images, now=now)
    accepted = await accept_quote(uow, offer.quote_id, account, tier, zone=JAKARTA, now=now)
    async with uow:
        for job in await uow.jobs.for_batch(accepted.batch_id):
            job.status = JobStatus.FAILED if job.position < failed else JobStatus.DONE
        await uow.commit()
    await settle_batch(uow, accepted.batch_id, now=now)
    return accepted


def stars(charge_id, product, amount, credits=0):
    return Purchase(
        provider="telegram_stars",
        provider_charge_id=charge_id,
        product=product,
        amount=amount,
        currency="XTR",
        credits=credits,
    )


async def test_operator_figures_count_every_income_source_and_every_processed_image(make_uow):
    from services.stats import service_figures

    # A Stars pack, spent on two standard images of which one fails (8 credits refunded)
    buyer = await new_account(make_uow(), telegram_id=1, credits=30)
    await record_credit_purchase(make_uow(), buyer, stars("pk-1", "pack:100", 50, 100), now=NOON)
    await run_batch(make_uow(), buyer, 2, Tier.STANDARD, failed=1)
    # A refunded pack is no income
    await record_credit_purchase(make_uow(), buyer, stars("pk-2", "pack:100", 50, 100), now=NOON)
    await record_refund(make_uow(), "pk-2", now=NOON)
    # A Stars starter plan whose quota pays three basic images
    subscriber = await new_account(make_uow(), telegram_id=2, credits=0)
    await record_plan_purchase(
        make_uow(),
        subscriber,
        stars("st-1", f"plan:starter{SUBSCRIPTION_START}", 480),
        "starter",
        days=30,
        now=NOON,
        auto_renew=True,
    )
    await run_batch(make_uow(), subscriber, 3, Tier.BASIC)
    # Operator-granted credits pay a pro month, whose quota pays one industry image
    granted = await new_account(make_uow(), telegram_id=3, credits=0)
    await grant_credits(make_uow(), granted, 3000, reference="op", idempotency_key="g-1", now=NOON)
    await buy_plan_with_credits(
        make_uow(), granted, "pro", credit_price_rp=100, request_key="r", now=NOON
    )
    await run_batch(make_uow(), granted, 1, Tier.INDUSTRY, now=NOON + timedelta(hours=1))

    figures = await service_figures(make_uow(), credit_price_rp=100, engine_costs=COSTS)

    income = {source.name: source for source in figures.income}
    assert (income["stars_packs"].payments, income["stars_packs"].amount) == (1, 50)
    assert income["stars_packs"].rupiah == 10_000
    assert (income["stars_plans"].payments, income["stars_plans"].amount) == (1, 480)
    assert income["stars_plans"].rupiah == 99_000
    assert (income["credit_plans"].payments, income["credit_plans"].amount) == (1, 2990)
    assert income["credit_plans"].rupiah == 299_000
    assert figures.granted_credits == 30 + 0 + 3000  # welcome and operator grants, apart
    assert figures.accounts == 3

    lines = {line.name: line for line in figures.lines}
    standard = lines["standard"]
    assert (standard.images, standard.revenue_rp) == (1, Decimal(800))
    assert standard.engine_cost_rp == Decimal("51.75")
    assert standard.margin_rp == Decimal("748.25")
    assert standard.margin_percent == pytest.approx(93.5, abs=0.1)
    plans = lines["plans"]
    assert plans.images == 4
    assert plans.revenue_rp == 99_000 + 299_000
    assert plans.engine_cost_rp == 3 * Decimal("17.5") + Decimal("138")
    assert figures.images_done == 1 + 3 + 1 and figures.images_failed == 1
    assert figures.engine_cost_rp == Decimal("51.75") + 3 * Decimal("17.5") + Decimal("138")
    assert figures.revenue_rp == 800 + 99_000 + 299_000
