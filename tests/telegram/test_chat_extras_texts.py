"""Honest quotes, plural forms, short names of refused files and /help: plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.chat import error_text, help_text, quote_text, shown_name
from bot.messages import text_count
from services import errors
from services.billing import AccountStanding, QuoteOffer, TierOffer
from services.plans import PLANS, CannotPay, PlanCode, Usage, decide_charge
from services.pricing import Tier, batch_price, discount_bands, next_discount
from services.promos import PromoAlreadyRedeemed, PromoExpired, PromoUnknown, PromoUsedUp
from services.redo import InputsGone
from services.referrals import ReferralClosed, SelfReferral, UnknownInviteCode
from workers.delivery import Summary, summary_text

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


def offer(
    count: int, balance: int = 5000, plan: PlanCode | None = None, used: int = 0
) -> QuoteOffer:
    standing = AccountStanding(
        balance=balance,
        plan=PLANS[plan] if plan else None,
        usage=Usage(removals=used),
        day=date(2026, 11, 24),
    )
    tiers = tuple(
        TierOffer(
            price=batch_price(tier, count),
            in_plan=standing.plan is not None and standing.plan.covers(tier),
            decision=decide_charge(
                batch_price(tier, count), balance, standing.plan, standing.usage
            ),
        )
        for tier in Tier
    )
    return QuoteOffer("AbCdEfGh", count, NOW, standing, tiers)


def test_starter_with_60_images_is_told_the_whole_batch_is_paid_in_credits():
    quote = quote_text(offer(60, plan=PlanCode.STARTER), "en", credit_price_rp=100)
    assert "Basic, Standard: today's quota has 50 left, fewer than these 60 images" in quote
    assert "the whole batch is paid in credits" in quote
    assert "Today's quota pays" not in quote


def test_starter_within_quota_is_told_the_quota_pays():
    quote = quote_text(offer(10, plan=PlanCode.STARTER), "id", credit_price_rp=100)
    assert "Kuota hari ini membayar batch ini untuk: Basic, Standar" in quote


def test_pro_premium_cap_is_named_when_only_the_premium_tiers_fall_short():
    quote = quote_text(offer(60, plan=PlanCode.PRO), "en", credit_price_rp=100)
    assert "Today's quota pays for this batch at: Basic, Standard" in quote
    assert "Professional, Industry: today's quota has 50 left" in quote


def test_a_person_without_plan_hears_nothing_about_plans():
    quote = quote_text(offer(60), "en", credit_price_rp=100)
    assert "quota" not in quote.lower()
    decision = decide_charge(batch_price(Tier.INDUSTRY, 2), balance=30, plan=None, usage=Usage())
    assert isinstance(decision, CannotPay)
    refusal = error_text(errors.CannotAfford(decision), "en")
    assert "Your plan does not cover" not in refusal
    assert "/buy" in refusal


def test_a_starter_is_told_the_plan_does_not_cover_industry():
    decision = decide_charge(
        batch_price(Tier.INDUSTRY, 2), balance=30, plan=PLANS[PlanCode.STARTER], usage=Usage()
    )
    assert isinstance(decision, CannotPay)
    assert "Your plan does not cover" in error_text(errors.CannotAfford(decision), "en")


@pytest.mark.parametrize(
    ("count", "more", "percent"), [(19, 1, 5), (50, 1, 10), (100, 1, 15), (200, 1, 20)]
)
def test_quote_says_how_many_more_images_reach_the_next_discount(count, more, percent):
    assert next_discount(count) == (more, percent)
    quote = quote_text(offer(count), "en", credit_price_rp=100)
    assert f"Add 1 more image for {percent}% off" in quote
    assert (
        batch_price(Tier.STANDARD, count + 1).credits <= batch_price(Tier.STANDARD, count).credits
    )


@pytest.mark.parametrize("count", [1, 15, 20, 45, 300, 500])
def test_no_discount_nudge_when_the_next_discount_is_far_or_none(count):
    assert "% off" not in quote_text(offer(count), "en", credit_price_rp=100)


def test_discount_bands_match_the_product_table():
    assert discount_bands() == [
        (1, 19, 0),
        (20, 50, 5),
        (51, 100, 10),
        (101, 200, 15),
        (201, 500, 20),
    ]


def test_plural_forms_in_both_languages():
    assert text_count("chat.checking", "en", 1) == "🔎 Checking 1 file…"
    assert text_count("chat.checking", "en", 3) == "🔎 Checking 3 files…"
    assert text_count("chat.checking", "id", 1) == "🔎 Memeriksa 1 file…"
    one = quote_text(offer(1, plan=PlanCode.STARTER, used=49), "en", credit_price_rp=100)
    assert "Today's quota: 1 more image" in one and "1 more images" not in one


def test_summary_of_one_image_uses_the_singular():
    from services.billing import Settlement

    summary = summary_text(Summary(Settlement(1, 1, 0, 1, 0), (), 1), "en")
    assert "Done: 1 of 1 image succeeded." in summary
    assert "1 credit was refunded" in summary


def test_a_traversal_chain_is_shortened_in_replies():
    name = "../" * 40 + "etc/passwd"
    assert shown_name(name) == "etc/passwd"
    long = "a/" * 60 + "photo.jpg"
    shown = shown_name(long)
    assert shown == "…/photo.jpg" and len(shown) <= 48
    assert shown_name("/" + "x" * 200).startswith("…") and len(shown_name("x" * 200)) == 48


@pytest.mark.parametrize("language", ["id", "en"])
def test_help_answers_tiers_prices_discounts_plans_paying_retention_and_support(language):
    answer = help_text(
        language,
        retention_days=7,
        credit_price_rp=100,
        support_contact="@toko_help",
        previews_per_day=3,
        referral_credits=50,
    )
    for expected in (
        "Basic: 3 (Rp 300)",
        "25 (Rp 2",
        "20-50",
        "201-500",
        "Starter Rp 99",
        "Pro Rp 299",
        "/buy",
        "/subscribe",
        "7",
        "@toko_help",
        "/invite",
        "/promo",
        "/history",
    ):
        assert expected in answer, expected
    assert "(3 " in answer  # previews a day


@pytest.mark.parametrize(
    "error",
    [
        PromoUnknown("x"),
        PromoExpired("x"),
        PromoUsedUp("x"),
        PromoAlreadyRedeemed("x"),
        SelfReferral("x"),
        ReferralClosed("x"),
        UnknownInviteCode("x"),
        InputsGone("x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_new_refusal_has_a_message_in_both_languages(error):
    indonesian, english = error_text(error, "id"), error_text(error, "en")
    assert indonesian and english and indonesian != english
    assert "Sorry, something went wrong" not in english


def test_a_wholly_cancelled_batch_is_not_reported_as_failed():
    from services.billing import Settlement

    summary = summary_text(Summary(Settlement(1, 0, 0, 57, 0, cancelled=20), (), 20), "en")
    assert summary.startswith("⏹ 20 images were cancelled before processing.")
    assert "No image could be processed" not in summary
    assert "57 credits were refunded" in summary


def test_the_invitees_summary_announces_the_referral_bonus():
    from services.billing import Settlement
    from services.referrals import ReferralReward

    settlement = Settlement(1, 1, 0, 0, 0, referral=ReferralReward(1, 2, 50, 40))
    assert "Invitation bonus: 40 credits added." in summary_text(Summary(settlement, (), 1), "en")
