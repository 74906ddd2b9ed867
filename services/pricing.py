"""Quality tiers, volume discounts and batch prices, in whole credits.

Pure functions: the one rounding rule of the product lives in `round_half_up`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_BATCH_IMAGES = 500


class Tier(StrEnum):
    BASIC = "basic"
    STANDARD = "standard"
    PROFESSIONAL = "professional"
    INDUSTRY = "industry"

    @property
    def credits_per_image(self) -> int:
        return _CREDITS_PER_IMAGE[self]

    @property
    def is_premium(self) -> bool:
        """Premium tiers share the pro plan's separate daily cap."""
        return self in (Tier.PROFESSIONAL, Tier.INDUSTRY)


_CREDITS_PER_IMAGE = {
    Tier.BASIC: 3,
    Tier.STANDARD: 8,
    Tier.PROFESSIONAL: 15,
    Tier.INDUSTRY: 25,
}

# (smallest batch size, discount percent), ascending; a batch gets the last row it reaches.
_VOLUME_DISCOUNTS: tuple[tuple[int, int], ...] = ((1, 0), (20, 5), (51, 10), (101, 15), (201, 20))


class BatchTooLarge(ValueError):
    """More images than one batch may hold."""


def round_half_up(numerator: int, denominator: int) -> int:
    """Divide two non-negative integers, rounding a half up (1912.5 -> 1913)."""
    return (2 * numerator + denominator) // (2 * denominator)


def discount_percent(image_count: int) -> int:
    """Return the volume discount, in percent, for a batch of `image_count` images.

    Raises:
        BatchTooLarge: when the batch holds more than `MAX_BATCH_IMAGES` images.
        ValueError: when the count is not positive.
    """
    if image_count < 1:
        raise ValueError("a batch holds at least one image")
    if image_count > MAX_BATCH_IMAGES:
        raise BatchTooLarge(f"a batch holds at most {MAX_BATCH_IMAGES} images")
    percent = 0
    for smallest, rate in _VOLUME_DISCOUNTS:
        if image_count >= smallest:
            percent = rate
    return percent


def discount_bands() -> list[tuple[int, int, int]]:
    """The volume discount table as (smallest, largest batch, percent) rows."""
    bounds = [smallest for smallest, _ in _VOLUME_DISCOUNTS[1:]] + [MAX_BATCH_IMAGES + 1]
    return [
        (smallest, upper - 1, rate)
        for (smallest, rate), upper in zip(_VOLUME_DISCOUNTS, bounds, strict=True)
    ]


def next_discount(image_count: int) -> tuple[int, int] | None:
    """How many more images reach the next volume discount, and that discount in percent.

    None when the batch already has the last discount. Adding images can make a batch
    cheaper (51 standard images cost less than 50), so quotes say so.
    """
    for smallest, rate in _VOLUME_DISCOUNTS:
        if smallest > image_count:
            return smallest - image_count, rate
    return None


def price_at_rate(tier: Tier, image_count: int, percent: int) -> int:
    """Price `image_count` images of `tier` at a given discount, rounded half up."""
    return round_half_up(image_count * tier.credits_per_image * (100 - percent), 100)


@dataclass(frozen=True, slots=True)
class BatchPrice:
    tier: Tier
    image_count: int
    discount_percent: int
    gross_credits: int
    credits: int

    @property
    def saved_credits(self) -> int:
        return self.gross_credits - self.credits


def batch_price(tier: Tier, image_count: int) -> BatchPrice:
    """Price a batch: n x tier credits x (1 - volume discount), rounded half up."""
    percent = discount_percent(image_count)
    return BatchPrice(
        tier=tier,
        image_count=image_count,
        discount_percent=percent,
        gross_credits=image_count * tier.credits_per_image,
        credits=price_at_rate(tier, image_count, percent),
    )


def refund_for_failures(
    tier: Tier, image_count: int, percent: int, charged: int, failed: int
) -> int:
    """Credits to give back when `failed` images of a paid batch did not succeed.

    The person keeps paying for the images that succeeded, at the batch's own discount rate;
    a batch where every image failed is refunded in full.
    """
    if not 0 <= failed <= image_count:
        raise ValueError("failed images must be between 0 and the batch size")
    if failed == image_count:
        return charged
    return max(0, charged - price_at_rate(tier, image_count - failed, percent))


def credits_to_rupiah(credits: int, credit_price_rp: int) -> int:
    return credits * credit_price_rp
