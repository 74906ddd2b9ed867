from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.plans import (
    PLANS,
    CannotPay,
    PayWithCredits,
    PayWithQuota,
    PlanCode,
    UnknownPlan,
    Usage,
    decide_charge,
    get_plan,
    quota_day,
    quota_left,
)
from services.pricing import Tier, batch_price

STARTER = PLANS[PlanCode.STARTER]
PRO = PLANS[PlanCode.PRO]


def test_a_single_image_covered_by_the_plan_is_paid_by_the_quota():
    decision = decide_charge(batch_price(Tier.BASIC, 1), balance=0, plan=STARTER, usage=Usage())
    assert decision == PayWithQuota(images=1, premium_images=0)


def test_a_batch_that_does_not_fit_todays_quota_is_charged_wholly_in_credits():
    price = batch_price(Tier.STANDARD, 30)
    decision = decide_charge(price, balance=1000, plan=STARTER, usage=Usage(removals=25))
    assert decision == PayWithCredits(credits=price.credits)


def test_a_batch_that_just_fits_the_quota_is_paid_by_the_quota():
    decision = decide_charge(
        batch_price(Tier.STANDARD, 25), balance=0, plan=STARTER, usage=Usage(removals=25)
    )
    assert decision == PayWithQuota(images=25, premium_images=0)


def test_starter_quota_never_pays_for_professional():
    price = batch_price(Tier.PROFESSIONAL, 1)
    assert quota_left(STARTER, Usage(), Tier.PROFESSIONAL) == 0
    assert decide_charge(price, balance=0, plan=STARTER, usage=Usage()) == CannotPay(
        credits_needed=15, balance=0, tier_in_plan=False, quota_left=0, has_plan=True, images=1
    )
    assert decide_charge(price, balance=15, plan=STARTER, usage=Usage()) == PayWithCredits(15)


def test_pros_51st_premium_image_of_the_day_is_charged_in_credits():
    price = batch_price(Tier.INDUSTRY, 1)
    used = Usage(removals=50, premium_removals=50)
    assert decide_charge(price, balance=100, plan=PRO, usage=used) == PayWithCredits(25)
    almost = Usage(removals=49, premium_removals=49)
    assert decide_charge(price, balance=0, plan=PRO, usage=almost) == PayWithQuota(1, 1)


def test_pro_standard_images_still_use_the_quota_after_the_premium_cap():
    used = Usage(removals=50, premium_removals=50)
    decision = decide_charge(batch_price(Tier.STANDARD, 1), balance=0, plan=PRO, usage=used)
    assert decision == PayWithQuota(images=1, premium_images=0)


def test_without_quota_or_credits_the_shortfall_is_named():
    decision = decide_charge(batch_price(Tier.STANDARD, 19), balance=100, plan=None, usage=Usage())
    assert isinstance(decision, CannotPay)
    assert decision.shortfall == 52


def test_the_quota_day_turns_at_midnight_in_jakarta():
    jakarta = ZoneInfo("Asia/Jakarta")
    before = datetime(2026, 11, 24, 16, 59, 59, tzinfo=UTC)  # 23:59:59 in Jakarta
    after = datetime(2026, 11, 24, 17, 0, 0, tzinfo=UTC)  # 00:00 the next day
    assert quota_day(before, jakarta).isoformat() == "2026-11-24"
    assert quota_day(after, jakarta).isoformat() == "2026-11-25"


def test_an_unknown_plan_is_refused_loudly():
    with pytest.raises(UnknownPlan, match="starter, pro"):
        get_plan("enterprise")


def test_unused_paid_days_are_worth_their_share_of_the_plans_price_in_credits():
    from datetime import timedelta

    from services.plans import unused_plan_credits

    now = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    value = lambda plan, left: unused_plan_credits(  # noqa: E731
        plan, paid_until=now + left, now=now, credit_price_rp=100
    )
    assert value(STARTER, timedelta(days=20)) == 660
    assert value(PRO, timedelta(days=15)) == 1495
    assert value(PRO, timedelta(days=30)) == 2990
    # Half a credit of starter is 1,309.09 seconds: rounded half up, to the second
    assert (value(STARTER, timedelta(seconds=1309)), value(STARTER, timedelta(seconds=1310))) == (
        0,
        1,
    )
    assert value(STARTER, timedelta(seconds=-5)) == 0
    assert unused_plan_credits(STARTER, paid_until=None, now=now, credit_price_rp=100) == 0


def test_income_sources_value_stars_at_list_price_and_take_a_new_provider_as_is():
    from decimal import Decimal

    from services.stats import income_sources

    sources = income_sources(
        [
            ("telegram_stars", "pack:100", "XTR", 2, 100, 200),
            ("telegram_stars", "plan:pro:subscription", "XTR", 1, 1450, 0),
            ("telegram_stars", "plan:pro", "XTR", 2, 2900, 0),
            ("telegram_stars", "plan:starter:declined", "XTR", 1, 480, 0),
            ("gateway", "plan:starter", "IDR", 1, 99_000, 0),
        ],
        credit_plans=(1, 990),
        credit_price_rp=100,
    )
    found = {s.name: (s.payments, s.amount, s.currency, s.rupiah) for s in sources}
    assert found == {
        "stars_packs": (2, 100, "XTR", Decimal(20_000)),
        "stars_plans": (3, 4350, "XTR", Decimal(3 * 299_000)),
        "gateway_plans": (1, 99_000, "IDR", Decimal(99_000)),
        "credit_plans": (1, 990, "credits", Decimal(99_000)),
    }
