"""Chat texts, button labels, callback data and the gatherer: plain values, no transport."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from bot.chat import (
    TIER_LABEL_LIMIT,
    error_text,
    quote_text,
    tier_choices,
    tier_label,
)
from bot.gathering import Gatherer
from bot.messages import MESSAGES
from bot.telegram.keyboards import CALLBACK_DATA_LIMIT, callback, quote_keyboard
from services import errors
from services.account_links import (
    ChannelAlreadyLinked,
    LinkCodeExpired,
    LinkCodeUnknown,
    LinkCodeUsed,
    LinkedAccountHasActivity,
    LinkToSameAccount,
)
from services.api_keys import ApiKeyNotFound, TooManyApiKeys
from services.billing import AccountStanding, QuoteOffer, TierOffer
from services.history import NotFound
from services.plans import PLANS, CannotPay, PlanCode, Usage, decide_charge
from services.pricing import Tier, batch_price
from services.subscriptions import NoActiveSubscription
from services.uploads import NothingToProcess, TooManyImages

NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


def offer(count: int, balance: int = 30, plan: PlanCode | None = None) -> QuoteOffer:
    standing = AccountStanding(
        balance=balance, plan=PLANS[plan] if plan else None, usage=Usage(), day=date(2026, 11, 24)
    )
    tiers = []
    for tier in Tier:
        price = batch_price(tier, count)
        tiers.append(
            TierOffer(
                price=price,
                in_plan=standing.plan is not None and standing.plan.covers(tier),
                decision=decide_charge(price, balance, standing.plan, standing.usage),
            )
        )
    return QuoteOffer("AbCdEfGh", count, NOW, standing, tuple(tiers))


@pytest.mark.parametrize("count", [1, 19, 20, 150, 500])
@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("plan", [None, PlanCode.STARTER, PlanCode.PRO])
def test_tier_labels_fit_telegram_and_whatsapp_buttons(count, language, plan):
    for tier_offer in offer(count, plan=plan).tiers:
        assert len(tier_label(tier_offer, language)) <= TIER_LABEL_LIMIT


def test_plan_covered_tiers_are_marked_on_buttons_and_in_the_quote():
    starter = offer(3, plan=PlanCode.STARTER)
    marked = {choice.tier for choice in tier_choices(starter, "en") if choice.label.startswith("★")}
    assert marked == {Tier.BASIC, Tier.STANDARD}
    quote = quote_text(starter, "en", credit_price_rp=100)
    assert "★ Basic: 9 credits (Rp 900)" in quote
    assert "Today's quota: 50 more images" in quote


def test_quote_shows_each_tier_after_discount_and_the_balance():
    quote = quote_text(offer(150, balance=2000), "id", credit_price_rp=100)
    assert "150 gambar" in quote
    assert "Diskon volume 15%" in quote
    assert "Profesional: 1.913 kredit (Rp 191.300), bukan 2.250" in quote
    assert "Saldo: 2.000 kredit" in quote


def test_callback_data_names_the_quote_and_stays_within_64_bytes():
    keyboard = quote_keyboard(offer(5), "id")
    data = [button.callback_data for row in keyboard.inline_keyboard for button in row]
    assert data == [
        "q:AbCdEfGh:basic",
        "q:AbCdEfGh:standard",
        "q:AbCdEfGh:professional",
        "q:AbCdEfGh:industry",
        "q:AbCdEfGh:cancel",
    ]
    assert all(len(str(d).encode()) <= CALLBACK_DATA_LIMIT for d in data)
    with pytest.raises(ValueError, match="64 bytes"):
        callback("q", "x" * 70)


SERVICE_ERRORS = [
    errors.AccountNotFound("x"),
    errors.QuoteNotFound("x"),
    errors.QuoteAlreadyUsed("x"),
    errors.QuoteExpired("x"),
    errors.CannotAfford(CannotPay(credits_needed=50, balance=30, tier_in_plan=False, quota_left=0)),
    errors.InsufficientBalance("x"),
    errors.InvalidAmount("x"),
    NothingToProcess([{"name": "a.txt", "reason": "not_an_image"}]),
    TooManyImages("x"),
    NoActiveSubscription("x"),
    NotFound("x"),
    TooManyApiKeys("x"),
    ApiKeyNotFound("x"),
    LinkCodeUnknown("x"),
    LinkCodeExpired("x"),
    LinkCodeUsed("x"),
    LinkToSameAccount("x"),
    ChannelAlreadyLinked("x"),
    LinkedAccountHasActivity("x"),
]


@pytest.mark.parametrize("error", SERVICE_ERRORS, ids=lambda e: type(e).__name__)
def test_every_service_error_has_a_short_message_in_both_languages(error):
    indonesian, english = error_text(error, "id"), error_text(error, "en")
    assert indonesian and english and indonesian != english
    assert "Sorry, something went wrong" not in english
    assert len(english) < 300


def test_cannot_afford_says_what_is_missing_and_how_to_top_up():
    message = error_text(
        errors.CannotAfford(
            CannotPay(credits_needed=50, balance=30, tier_in_plan=False, quota_left=0)
        ),
        "en",
    )
    assert "50 needed, balance 30 (20 short)" in message
    assert "/buy" in message


def test_every_message_has_indonesian_and_english():
    for key, variants in MESSAGES.items():
        assert {"id", "en"} <= variants.keys(), key


async def test_files_in_quick_succession_are_handed_over_together():
    handed: list[tuple[object, list[str]]] = []

    async def ready(key, items):
        handed.append((key, items))

    gatherer: Gatherer[str] = Gatherer(ready, delay=0.05)
    await gatherer.add(1, "a")
    await gatherer.add(2, "x")
    await gatherer.add(1, "b")
    await asyncio.sleep(0.02)
    await gatherer.add(1, "c")  # restarts chat 1's quiet period
    await asyncio.sleep(0.2)

    assert sorted(handed, key=lambda pair: str(pair[0])) == [(1, ["a", "b", "c"]), (2, ["x"])]
    await gatherer.close()


async def test_a_failing_handover_is_logged_and_the_gatherer_goes_on(caplog):
    calls = []

    async def ready(key, items):
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("boom")

    gatherer: Gatherer[str] = Gatherer(ready, delay=0.01)
    await gatherer.add(1, "a")
    await gatherer.flush()
    await gatherer.add(1, "b")
    await gatherer.flush()

    assert calls == [["a"], ["b"]]
    assert "could not be handled" in caplog.text
