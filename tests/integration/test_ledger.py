"""The credit ledger and the charge of a quote, on real SQLite (WAL) and PostgreSQL."""

import asyncio
import contextlib
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.models import JobStatus, LedgerReason, PaidWith
from services.accounts import grant_credits
from services.billing import accept_quote, cancel_quote, settle_batch
from services.errors import CannotAfford, InsufficientBalance, QuoteAlreadyUsed, QuoteExpired
from services.pricing import Tier, batch_price
from services.subscriptions import subscribe
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote


async def balance_and_ledger(uow, account_id):
    async with uow:
        account = await uow.accounts.get(account_id)
        return account.balance, await uow.ledger.total(account_id)


async def accept(uow, quote_id, account_id, tier, now=NOON):
    return await accept_quote(uow, quote_id, account_id, tier, zone=JAKARTA, now=now)


async def test_new_account_gets_the_welcome_balance_once(uow):
    first = await new_account(uow, credits=30)
    again = await new_account(uow, credits=30)
    assert first == again
    assert await balance_and_ledger(uow, first) == (30, 30)


async def test_accepting_a_quote_charges_the_discounted_price_and_writes_the_jobs(uow):
    account = await new_account(uow, credits=1000)
    offer = await new_quote(uow, account, 25)
    accepted = await accept(uow, offer.quote_id, account, Tier.STANDARD)
    assert accepted.credits_charged == batch_price(Tier.STANDARD, 25).credits == 190
    assert accepted.paid_with == PaidWith.CREDITS
    assert len(accepted.job_ids) == 25
    assert await balance_and_ledger(uow, account) == (810, 810)
    async with uow:
        jobs = await uow.jobs.for_batch(accepted.batch_id)
        assert [job.input_name for job in jobs][:2] == ["photo-0.jpg", "photo-1.jpg"]
        assert {job.status for job in jobs} == {JobStatus.QUEUED}


async def test_double_tap_on_a_tier_charges_once(uow):
    account = await new_account(uow, credits=100)
    offer = await new_quote(uow, account, 1)
    await accept(uow, offer.quote_id, account, Tier.STANDARD)
    with pytest.raises(QuoteAlreadyUsed):
        await accept(uow, offer.quote_id, account, Tier.BASIC)
    assert await balance_and_ledger(uow, account) == (92, 92)


async def test_two_concurrent_accepts_of_one_quote_charge_once(make_uow):
    account = await new_account(make_uow(), credits=1000)
    offer = await new_quote(make_uow(), account, 10)
    results = await asyncio.gather(
        *(accept(make_uow(), offer.quote_id, account, Tier.PROFESSIONAL) for _ in range(5)),
        return_exceptions=True,
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(accepted) == 1
    assert all(isinstance(r, QuoteAlreadyUsed) for r in refused)
    assert await balance_and_ledger(make_uow(), account) == (850, 850)


async def test_concurrent_charges_never_take_the_balance_below_zero(make_uow):
    # Given a balance of 50 credits and twelve quotes of 8 credits each
    account = await new_account(make_uow(), credits=50)
    offers = [await new_quote(make_uow(), account, 1) for _ in range(12)]
    # When all twelve are accepted at once
    results = await asyncio.gather(
        *(accept(make_uow(), o.quote_id, account, Tier.STANDARD) for o in offers),
        return_exceptions=True,
    )
    # Then exactly six are paid and the others are refused without a charge
    paid = [r for r in results if not isinstance(r, BaseException)]
    assert len(paid) == 6
    assert all(isinstance(r, CannotAfford) for r in results if isinstance(r, BaseException))
    assert await balance_and_ledger(make_uow(), account) == (2, 2)


async def test_not_enough_credits_charges_nothing_and_keeps_the_quote_open(uow):
    account = await new_account(uow, credits=10)
    offer = await new_quote(uow, account, 2)
    with pytest.raises(CannotAfford) as refused:
        await accept(uow, offer.quote_id, account, Tier.STANDARD)
    assert refused.value.decision.shortfall == 6
    assert await balance_and_ledger(uow, account) == (10, 10)
    await grant_credits(uow, account, 6, reference="top-up", idempotency_key="t1", now=NOON)
    accepted = await accept(uow, offer.quote_id, account, Tier.STANDARD)
    assert accepted.balance_after == 0


async def test_an_expired_or_cancelled_quote_cannot_be_accepted(uow):
    account = await new_account(uow, credits=100)
    stale = await new_quote(uow, account, 1)
    with pytest.raises(QuoteExpired):
        await accept(uow, stale.quote_id, account, Tier.BASIC, now=NOON + timedelta(hours=2))
    cancelled = await new_quote(uow, account, 1)
    await cancel_quote(uow, cancelled.quote_id, account, NOON)
    with pytest.raises(QuoteAlreadyUsed):
        await accept(uow, cancelled.quote_id, account, Tier.BASIC)
    assert await balance_and_ledger(uow, account) == (100, 100)


async def test_a_batch_that_does_not_fit_todays_quota_is_charged_wholly_in_credits(uow):
    account = await new_account(uow, credits=1000)
    await subscribe(uow, account, "starter", 30, source="test", auto_renew=True, now=NOON)
    first = await accept(uow, (await new_quote(uow, account, 40)).quote_id, account, Tier.BASIC)
    assert (first.paid_with, first.credits_charged) == (PaidWith.QUOTA, 0)
    second = await accept(uow, (await new_quote(uow, account, 20)).quote_id, account, Tier.BASIC)
    assert (second.paid_with, second.credits_charged) == (PaidWith.CREDITS, 57)
    assert await balance_and_ledger(uow, account) == (943, 943)


async def test_starter_cannot_use_professional_on_its_quota(uow):
    account = await new_account(uow, credits=0)
    await subscribe(uow, account, "starter", 30, source="test", auto_renew=True, now=NOON)
    offer = await new_quote(uow, account, 1)
    assert [t.in_plan for t in offer.tiers] == [True, True, False, False]
    with pytest.raises(CannotAfford) as refused:
        await accept(uow, offer.quote_id, account, Tier.PROFESSIONAL)
    assert refused.value.decision.tier_in_plan is False


async def test_pros_51st_premium_image_of_the_day_is_charged_in_credits(uow):
    account = await new_account(uow, credits=100)
    await subscribe(uow, account, "pro", 30, source="test", auto_renew=True, now=NOON)
    fifty = await accept(uow, (await new_quote(uow, account, 50)).quote_id, account, Tier.INDUSTRY)
    assert fifty.paid_with == PaidWith.QUOTA
    one = await accept(uow, (await new_quote(uow, account, 1)).quote_id, account, Tier.INDUSTRY)
    assert (one.paid_with, one.credits_charged) == (PaidWith.CREDITS, 25)
    standard = await accept(
        uow, (await new_quote(uow, account, 1)).quote_id, account, Tier.STANDARD
    )
    assert standard.paid_with == PaidWith.QUOTA


async def test_the_quota_resets_at_midnight_in_the_service_time_zone(uow):
    account = await new_account(uow, credits=0)
    await subscribe(uow, account, "starter", 30, source="test", auto_renew=True, now=NOON)
    late = NOON.replace(hour=16, minute=59)  # 23:59 in Jakarta
    batch = await new_quote(uow, account, 50, now=late)
    await accept(uow, batch.quote_id, account, Tier.BASIC, now=late)
    full = await new_quote(uow, account, 1, now=late)
    with pytest.raises(CannotAfford):
        await accept(uow, full.quote_id, account, Tier.BASIC, now=late)
    midnight = NOON.replace(hour=17, minute=0)  # 00:00 the next day in Jakarta
    accepted = await accept(uow, full.quote_id, account, Tier.BASIC, now=midnight)
    assert accepted.paid_with == PaidWith.QUOTA


async def finish_jobs(uow, batch_id, failed):
    async with uow:
        for job in await uow.jobs.for_batch(batch_id):
            job.status = JobStatus.FAILED if job.position < failed else JobStatus.DONE
        await uow.commit()


async def test_failed_images_are_refunded_at_the_batch_rate_exactly_once(make_uow):
    uow = make_uow()
    account = await new_account(uow, credits=2000)
    offer = await new_quote(uow, account, 150)
    accepted = await accept(uow, offer.quote_id, account, Tier.PROFESSIONAL)
    assert accepted.credits_charged == 1913
    await finish_jobs(uow, accepted.batch_id, failed=10)
    settlements = await asyncio.gather(
        *(settle_batch(make_uow(), accepted.batch_id, now=NOON) for _ in range(3))
    )
    assert {s.refunded_credits for s in settlements} == {128}
    assert await balance_and_ledger(uow, account) == (2000 - 1913 + 128,) * 2
    async with uow:
        refunds = [e for e in await uow.ledger.entries(account) if e.reason == LedgerReason.REFUND]
    assert [e.delta for e in refunds] == [128]


async def test_a_batch_where_all_images_fail_is_refunded_in_full(uow):
    account = await new_account(uow, credits=2000)
    accepted = await accept(
        uow, (await new_quote(uow, account, 150)).quote_id, account, Tier.PROFESSIONAL
    )
    await finish_jobs(uow, accepted.batch_id, failed=150)
    settlement = await settle_batch(uow, accepted.batch_id, now=NOON)
    assert settlement.refunded_credits == 1913
    assert await balance_and_ledger(uow, account) == (2000, 2000)


async def test_failed_images_of_a_quota_batch_go_back_on_the_quota(uow):
    account = await new_account(uow, credits=0)
    await subscribe(uow, account, "starter", 30, source="test", auto_renew=True, now=NOON)
    accepted = await accept(uow, (await new_quote(uow, account, 50)).quote_id, account, Tier.BASIC)
    await finish_jobs(uow, accepted.batch_id, failed=3)
    settlement = await settle_batch(uow, accepted.batch_id, now=NOON)
    assert (settlement.refunded_credits, settlement.quota_returned) == (0, 3)
    again = await settle_batch(uow, accepted.batch_id, now=NOON)
    assert again.quota_returned == 3
    three = await new_quote(uow, account, 3)
    assert (await accept(uow, three.quote_id, account, Tier.BASIC)).paid_with == PaidWith.QUOTA


async def test_a_removal_below_zero_is_refused(uow):
    account = await new_account(uow, credits=5)
    with pytest.raises(InsufficientBalance):
        await grant_credits(uow, account, -6, reference="fix", idempotency_key="k", now=NOON)
    assert (
        await grant_credits(uow, account, -5, reference="fix", idempotency_key="k2", now=NOON) == 0
    )


movements = st.lists(
    st.tuples(
        st.sampled_from(["grant", "buy"]),
        st.integers(min_value=-40, max_value=60),
        st.integers(min_value=1, max_value=30),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=movements)
async def test_the_balance_always_equals_the_sum_of_the_ledger(make_uow, steps):
    uow = make_uow()
    telegram_id = abs(hash(tuple(steps))) % 10**9 + 10**9
    account = await new_account(uow, telegram_id=telegram_id, credits=20)
    for index, (kind, amount, images) in enumerate(steps):
        if kind == "grant" and amount:
            with contextlib.suppress(InsufficientBalance):
                await grant_credits(
                    uow,
                    account,
                    amount,
                    reference="p",
                    idempotency_key=f"p:{telegram_id}:{index}",
                    now=NOON,
                )
        else:
            offer = await new_quote(uow, account, images)
            with contextlib.suppress(CannotAfford):
                await accept(uow, offer.quote_id, account, Tier.BASIC)
        balance, total = await balance_and_ledger(uow, account)
        assert balance == total >= 0
