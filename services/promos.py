"""Promo codes: operators create them (credits, uses, expiry); a person redeems each once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from db.models import LedgerReason, PromoCode
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import InvalidAmount, ServiceError

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,32}$")


class PromoUnknown(ServiceError):
    code = "promo_unknown"


class PromoExpired(ServiceError):
    code = "promo_expired"


class PromoUsedUp(ServiceError):
    code = "promo_used_up"


class PromoAlreadyRedeemed(ServiceError):
    code = "promo_already_redeemed"


class PromoExists(ServiceError):
    code = "promo_exists"


def normalise_code(code: str) -> str:
    """Codes are case-insensitive for people: stored and compared in capitals."""
    return code.strip().upper()


@dataclass(frozen=True, slots=True)
class PromoView:
    code: str
    credits: int
    max_uses: int
    uses: int
    expires_at: datetime


async def create_promo(
    uow: UnitOfWork,
    code: str,
    *,
    credits: int,
    uses: int,
    valid_for: timedelta,
    created_by: str,
    now: datetime,
) -> PromoView:
    """Create a promo code.

    Raises:
        InvalidAmount: credits or uses not positive, a validity not in the future, or a code
            not made of 3 to 32 letters, digits, `_` or `-`.
        PromoExists: the code exists already.
    """
    code = normalise_code(code)
    if credits <= 0 or uses <= 0 or valid_for <= timedelta(0) or not CODE_PATTERN.match(code):
        raise InvalidAmount("a promo code needs a name, credits, uses and days above zero")
    promo = PromoCode(
        code=code,
        credits=credits,
        max_uses=uses,
        uses=0,
        expires_at=now + valid_for,
        created_by=created_by[:64],
        created_at=now,
    )
    async with uow:
        if not await uow.extras.add_promo(promo):
            raise PromoExists(f"promo code {code} exists")
        await uow.commit()
    return PromoView(code, credits, uses, 0, promo.expires_at)


@dataclass(frozen=True, slots=True)
class Redemption:
    credits: int
    balance: int


async def redeem_promo(uow: UnitOfWork, account_id: int, code: str, *, now: datetime) -> Redemption:
    """Give a promo code's credits to a person, once per person, while uses and time remain.

    Raises:
        PromoUnknown, PromoExpired, PromoUsedUp, PromoAlreadyRedeemed: nothing is credited.
    """
    code = normalise_code(code)
    async with uow:
        await existing_account(uow, account_id)
        promo = await uow.extras.promo(code)
        if promo is None:
            raise PromoUnknown(f"no promo code {code}")
        # The person's row first: a second redemption by the same person takes no use.
        if not await uow.extras.add_redemption(code, account_id, now):
            raise PromoAlreadyRedeemed(f"account {account_id} redeemed {code}")
        if not await uow.extras.take_promo_use(code, now):
            if promo.expires_at <= now:
                raise PromoExpired(f"promo code {code} expired")
            raise PromoUsedUp(f"promo code {code} is used up")
        entry = await uow.ledger.apply(
            account_id=account_id,
            delta=promo.credits,
            reason=LedgerReason.PROMO,
            reference=f"promo:{code}",
            idempotency_key=f"promo:{code}:{account_id}",
            now=now,
        )
        assert entry is not None  # a credit never takes the balance below zero
        await uow.commit()
    return Redemption(promo.credits, entry.balance_after)
