from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.pricing import (
    MAX_BATCH_IMAGES,
    BatchTooLarge,
    Tier,
    batch_price,
    discount_percent,
    price_at_rate,
    refund_for_failures,
    round_half_up,
)

counts = st.integers(min_value=1, max_value=MAX_BATCH_IMAGES)
tiers = st.sampled_from(list(Tier))


@pytest.mark.parametrize(
    ("tier", "count", "credits"),
    [
        (Tier.STANDARD, 19, 152),
        (Tier.STANDARD, 50, 380),
        (Tier.STANDARD, 100, 720),
        (Tier.STANDARD, 200, 1360),
        (Tier.STANDARD, 500, 3200),
        (Tier.PROFESSIONAL, 150, 1913),
        (Tier.BASIC, 1, 3),
        (Tier.INDUSTRY, 1, 25),
    ],
)
def test_worked_examples_of_the_product_hold(tier, count, credits):
    assert batch_price(tier, count).credits == credits


@pytest.mark.parametrize(
    ("count", "percent"),
    [
        (1, 0),
        (19, 0),
        (20, 5),
        (50, 5),
        (51, 10),
        (100, 10),
        (101, 15),
        (200, 15),
        (201, 20),
        (500, 20),
    ],
)
def test_discount_brackets_start_and_end_where_the_table_says(count, percent):
    assert discount_percent(count) == percent


def test_a_batch_over_500_images_is_refused():
    with pytest.raises(BatchTooLarge):
        batch_price(Tier.BASIC, 501)


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        batch_price(Tier.BASIC, 0)


def test_rounding_is_half_up_in_one_place():
    assert round_half_up(19125, 10) == 1913
    assert round_half_up(19124, 10) == 1912
    assert round_half_up(5, 10) == 1
    assert round_half_up(4, 10) == 0


def test_refund_of_150_professional_with_10_failed_keeps_the_batch_rate():
    price = batch_price(Tier.PROFESSIONAL, 150)
    refund = refund_for_failures(Tier.PROFESSIONAL, 150, price.discount_percent, price.credits, 10)
    assert refund == 1913 - price_at_rate(Tier.PROFESSIONAL, 140, 15)
    assert refund == 128


def test_a_batch_where_all_fail_is_refunded_in_full():
    price = batch_price(Tier.PROFESSIONAL, 150)
    assert refund_for_failures(Tier.PROFESSIONAL, 150, 15, price.credits, 150) == 1913


def test_a_small_batch_losing_its_bracket_keeps_its_discount():
    # 20 images earn 5%; 19 survivors are still billed at 5%, not at the 0% of a 19 batch.
    price = batch_price(Tier.STANDARD, 20)
    refund = refund_for_failures(Tier.STANDARD, 20, 5, price.credits, 1)
    assert price.credits - refund == price_at_rate(Tier.STANDARD, 19, 5) == 144


@given(tiers, counts)
def test_price_is_never_above_the_undiscounted_price(tier, count):
    price = batch_price(tier, count)
    assert 0 < price.credits <= price.gross_credits == count * tier.credits_per_image


@given(counts)
def test_a_better_tier_always_costs_more(count):
    prices = [batch_price(tier, count).credits for tier in Tier]
    assert prices == sorted(prices)
    assert len(set(prices)) == len(prices)


@given(tiers, counts, counts)
def test_price_grows_with_the_count_inside_a_discount_bracket(tier, a, b):
    small, large = sorted((a, b))
    if discount_percent(small) == discount_percent(large):
        assert batch_price(tier, small).credits <= batch_price(tier, large).credits


@given(tiers, counts, counts)
def test_the_rate_per_image_never_rises_with_the_count(tier, a, b):
    small, large = sorted((a, b))
    rate_small = Fraction(100 - discount_percent(small), 100)
    rate_large = Fraction(100 - discount_percent(large), 100)
    assert rate_large <= rate_small


@given(tiers, counts, st.data())
def test_refund_plus_kept_price_equals_the_charge(tier, count, data):
    failed = data.draw(st.integers(min_value=0, max_value=count))
    price = batch_price(tier, count)
    refund = refund_for_failures(tier, count, price.discount_percent, price.credits, failed)
    kept = price.credits - refund
    assert 0 <= refund <= price.credits
    assert kept == (
        0 if failed == count else price_at_rate(tier, count - failed, price.discount_percent)
    )
