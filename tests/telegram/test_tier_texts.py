"""What a quote says about each tier, and that a tier that cannot run gets no button."""

from __future__ import annotations

from bot.chat import error_text, quote_text, tier_choices
from bot.telegram.keyboards import quote_keyboard
from services.billing import QuoteOffer
from services.errors import TierUnavailable
from services.pricing import Tier
from tests.telegram.test_chat_texts import offer


def test_each_quote_line_says_what_the_tier_is_for_in_both_languages():
    english = quote_text(offer(3), "en", credit_price_rp=100)
    indonesian = quote_text(offer(3), "id", credit_price_rp=100)

    assert "hair, fur, wires and glass" in english
    assert "simple products" in english
    assert "rambut, bulu, kawat dan kaca" in indonesian
    assert "produk sederhana" in indonesian


def test_a_tier_left_out_of_the_offer_has_no_line_and_no_button():
    full = offer(2)
    without_industry = QuoteOffer(
        full.quote_id,
        full.image_count,
        full.expires_at,
        full.standing,
        tuple(t for t in full.tiers if t.price.tier is not Tier.INDUSTRY),
    )

    choices = tier_choices(without_industry, "en")
    buttons = [
        b.callback_data
        for row in quote_keyboard(without_industry, "en").inline_keyboard
        for b in row
    ]

    assert Tier.INDUSTRY not in [choice.tier for choice in choices]
    assert not any(str(data).endswith(":industry") for data in buttons)
    assert "Industry" not in quote_text(without_industry, "en", credit_price_rp=100)


def test_refusing_an_unavailable_tier_says_nothing_was_charged():
    assert "Nothing was charged" in error_text(TierUnavailable("x"), "en")
    assert "Tidak ada kredit yang dipotong" in error_text(TierUnavailable("x"), "id")
