"""One plan at a time: switches, renewals of replaced plans, stopping renewal; both databases."""

import asyncio
from datetime import timedelta

import pytest

from services.payments import SUBSCRIPTION_START, Purchase, record_plan_purchase
from services.plans import PlanCode
from services.subscriptions import buy_plan_with_credits, cancel, current_plan, subscribe
from tests.integration.helpers import NOON, new_account

STARS = "telegram_stars"
DAY = timedelta(days=1)


async def pay_stars(uow, account, plan, charge_id, *, at, first):
    """A Stars subscription payment: the first of a subscription, or a renewal of it."""
    purchase = Purchase(
        provider=STARS,
        provider_charge_id=charge_id,
        product=f"plan:{plan}" + (SUBSCRIPTION_START if first else ""),
        amount=480 if plan == "starter" else 1450,
        currency="XTR",
    )
    return await record_plan_purchase(
        uow, account, purchase, plan, days=30, now=at, auto_renew=True
    )


async def plan_credits(uow, account):
    async with uow:
        entries = await uow.ledger.entries(account)
        balance = (await uow.accounts.get(account)).balance
    assert balance == sum(e.delta for e in entries) >= 0
    return [e.delta for e in entries if e.reason == "plan_credit"]


async def test_upgrading_credits_the_unused_days_of_the_old_plan_once(make_uow):
    # Given a Stars starter plan bought ten days ago
    account = await new_account(make_uow(), credits=0)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    # When the person upgrades to pro with Stars, and Telegram delivers that payment twice
    upgraded = await pay_stars(make_uow(), account, "pro", "c2", at=NOON + 10 * DAY, first=True)
    again = await pay_stars(make_uow(), account, "pro", "c2", at=NOON + 10 * DAY, first=True)
    # Then pro starts now and the 20 unused starter days come back once: 990 x 20/30 credits
    assert upgraded is not None and upgraded.plan.code == PlanCode.PRO
    assert upgraded.period_end == NOON + 40 * DAY
    assert again is None
    assert await plan_credits(make_uow(), account) == [660]


async def test_a_renewal_of_a_replaced_plan_never_overrides_the_current_one(make_uow):
    from services.payments import RenewalDeclined, declined_renewals

    account = await new_account(make_uow(), credits=0)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    await pay_stars(make_uow(), account, "pro", "c2", at=NOON + 10 * DAY, first=True)
    # Telegram renews the replaced starter before it heard that its renewal was stopped
    with pytest.raises(RenewalDeclined):
        await pay_stars(make_uow(), account, "starter", "c3", at=NOON + 30 * DAY, first=False)
    current = await current_plan(make_uow(), account, NOON + 30 * DAY)
    assert current is not None and current.plan.code == PlanCode.PRO
    assert current.period_end == NOON + 40 * DAY
    # Its Stars go back: the payment waits for its refund, and is never applied twice
    assert [p.provider_charge_id for p in await declined_renewals(make_uow(), STARS)] == ["c3"]
    assert (
        await pay_stars(make_uow(), account, "starter", "c3", at=NOON + 30 * DAY, first=False)
        is None
    )
    assert await plan_credits(make_uow(), account) == [660]


async def test_upgrading_stops_the_old_plans_renewal_at_the_provider(make_uow):
    from services.subscriptions import renewal_stopped, renewals_to_stop

    account = await new_account(make_uow(), telegram_id=3131, credits=0)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    assert await renewals_to_stop(make_uow(), STARS) == []
    await pay_stars(make_uow(), account, "pro", "c2", at=NOON + 10 * DAY, first=True)
    pending = await renewals_to_stop(make_uow(), STARS)
    assert [(p.provider_subscription_id, p.telegram_id) for p in pending] == [("c1", 3131)]
    await renewal_stopped(make_uow(), pending[0].subscription_id, now=NOON + 10 * DAY)
    assert await renewals_to_stop(make_uow(), STARS) == []


async def test_stop_renewal_stops_every_renewal_the_person_has(make_uow):
    from services.subscriptions import renewals_to_stop

    account = await new_account(make_uow(), credits=0)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    await pay_stars(make_uow(), account, "pro", "c2", at=NOON + 10 * DAY, first=True)
    status = await cancel(make_uow(), account, now=NOON + 11 * DAY)
    assert status.plan.code == PlanCode.PRO and status.cancelled
    assert status.period_end == NOON + 40 * DAY  # active until its paid period ends
    stops = await renewals_to_stop(make_uow(), STARS)
    assert sorted(p.provider_subscription_id for p in stops) == ["c1", "c2"]


async def test_a_renewal_of_a_cancelled_plan_is_declined_and_a_live_one_extends(make_uow):
    from services.payments import RenewalDeclined, declined_renewals

    stopped = await new_account(make_uow(), telegram_id=1, credits=0)
    await pay_stars(make_uow(), stopped, "starter", "s1", at=NOON, first=True)
    await cancel(make_uow(), stopped, now=NOON + 5 * DAY)
    with pytest.raises(RenewalDeclined):
        await pay_stars(make_uow(), stopped, "starter", "s2", at=NOON + 30 * DAY, first=False)
    assert await current_plan(make_uow(), stopped, NOON + 30 * DAY + DAY) is None

    renewing = await new_account(make_uow(), telegram_id=2, credits=0)
    await pay_stars(make_uow(), renewing, "starter", "r1", at=NOON, first=True)
    renewed = await pay_stars(
        make_uow(), renewing, "starter", "r2", at=NOON + 30 * DAY, first=False
    )
    assert renewed is not None and renewed.period_end == NOON + 60 * DAY
    assert [p.provider_charge_id for p in await declined_renewals(make_uow(), STARS)] == ["s2"]


async def test_refunding_a_declined_renewal_leaves_the_current_plan(make_uow):
    from services.payments import RenewalDeclined, record_refund

    account = await new_account(make_uow(), credits=0)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    await cancel(make_uow(), account, now=NOON + DAY)
    with pytest.raises(RenewalDeclined):
        await pay_stars(make_uow(), account, "starter", "c2", at=NOON + 2 * DAY, first=False)
    await record_refund(make_uow(), "c2", now=NOON + 2 * DAY)
    current = await current_plan(make_uow(), account, NOON + 3 * DAY)
    assert current is not None and current.plan.code == PlanCode.STARTER


async def test_a_downgrade_with_credits_switches_now_and_stops_the_stars_renewal(make_uow):
    from services.subscriptions import renewals_to_stop

    account = await new_account(make_uow(), credits=1000)
    await pay_stars(make_uow(), account, "pro", "p1", at=NOON, first=True)
    status = await buy_plan_with_credits(
        make_uow(),
        account,
        "starter",
        credit_price_rp=100,
        request_key="down-1",
        now=NOON + 15 * DAY,
    )
    assert status.plan.code == PlanCode.STARTER and status.period_end == NOON + 45 * DAY
    # 1000 - 990 for starter + 2990 x 15/30 for the unused half of pro
    assert await plan_credits(make_uow(), account) == [1495]
    async with make_uow() as uow:
        assert (await uow.accounts.get(account)).balance == 1000 - 990 + 1495
    assert [p.provider_subscription_id for p in await renewals_to_stop(make_uow(), STARS)] == ["p1"]


async def test_a_second_subscription_to_the_same_plan_extends_it_and_keeps_one_renewal(make_uow):
    from services.subscriptions import renewals_to_stop

    account = await new_account(make_uow(), credits=0)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    status = await pay_stars(make_uow(), account, "starter", "c2", at=NOON + 5 * DAY, first=True)
    assert status is not None and status.period_end == NOON + 60 * DAY
    assert await plan_credits(make_uow(), account) == []
    assert [p.provider_subscription_id for p in await renewals_to_stop(make_uow(), STARS)] == ["c1"]
    # A renewal of the newer subscription extends the plan
    renewed = await pay_stars(make_uow(), account, "starter", "c3", at=NOON + 35 * DAY, first=False)
    assert renewed is not None and renewed.period_end == NOON + 90 * DAY


async def test_a_plan_given_by_an_operator_is_not_credited_back(make_uow):
    account = await new_account(make_uow(), credits=990)
    await subscribe(make_uow(), account, "pro", 30, source="admin", auto_renew=False, now=NOON)
    status = await buy_plan_with_credits(
        make_uow(), account, "starter", credit_price_rp=100, request_key="k", now=NOON + DAY
    )
    assert status.plan.code == PlanCode.STARTER
    assert await plan_credits(make_uow(), account) == []


async def test_concurrent_plan_changes_leave_one_plan_and_one_renewal(make_uow):
    from services.subscriptions import renewals_to_stop

    # Given a starter bought with Stars, and with the credit for its unused half, exactly
    # enough credits for one pro month
    account = await new_account(make_uow(), credits=2990 - 495)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    later = NOON + 15 * DAY

    # When twenty retries of one pro purchase with credits and a Stars pro arrive at once
    async def buy():
        return await buy_plan_with_credits(
            make_uow(), account, "pro", credit_price_rp=100, request_key="same", now=later
        )

    results = await asyncio.gather(
        *(buy() for _ in range(20)),
        pay_stars(make_uow(), account, "pro", "c2", at=later, first=True),
        return_exceptions=True,
    )

    # Then every retry answers with the plan, paid once, the Stars payment is applied (not
    # mistaken for a repeated delivery), and one run renews
    assert [r for r in results if isinstance(r, BaseException) or r is None] == []
    assert {r.plan.code for r in results if not isinstance(r, BaseException)} == {PlanCode.PRO}
    async with make_uow() as uow:
        assert await uow.payments.by_charge_id("c2") is not None
        entries = await uow.ledger.entries(account)
        runs = await uow.subscriptions.renewing(account)
    assert [e.delta for e in entries if e.reason == "plan_purchase"] == [-2990]
    assert [e.delta for e in entries if e.reason == "plan_credit"] == [495]  # 990 x 15/30
    assert sum(e.delta for e in entries) == 2495 + 495 - 2990 == 0
    assert len(runs) <= 1
    current = await current_plan(make_uow(), account, later)
    assert current is not None and current.period_end == later + 60 * DAY
    assert "c1" in [p.provider_subscription_id for p in await renewals_to_stop(make_uow(), STARS)]


async def test_a_late_renewal_of_a_lapsed_plan_renews_it_and_keeps_its_subscription(make_uow):
    from services.subscriptions import renewals_to_stop

    # Given a Stars starter whose renewal Telegram charged a day after it ended
    account = await new_account(make_uow(), credits=0)
    await pay_stars(make_uow(), account, "starter", "c1", at=NOON, first=True)
    late = NOON + 31 * DAY
    assert await current_plan(make_uow(), account, late) is None
    renewed = await pay_stars(make_uow(), account, "starter", "c2", at=late, first=False)
    # Then the plan runs again from now and the subscription is not stopped at Telegram
    assert renewed is not None and renewed.period_end == late + 30 * DAY
    assert await renewals_to_stop(make_uow(), STARS) == []
    again = await pay_stars(make_uow(), account, "starter", "c3", at=late + 30 * DAY, first=False)
    assert again is not None and again.period_end == late + 60 * DAY
