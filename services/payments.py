"""Purchases through a payment provider, applied exactly once per provider charge id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from db.models import LedgerReason, Payment
from db.uow import UnitOfWork
from services.errors import AccountNotFound


@dataclass(frozen=True, slots=True)
class Purchase:
    """What a person paid for: credits, or days of a plan."""

    provider: str
    provider_charge_id: str
    product: str
    amount: int
    currency: str
    credits: int = 0


async def _record(uow: UnitOfWork, account_id: int, purchase: Purchase, now: datetime) -> None:
    await uow.payments.add(
        Payment(
            account_id=account_id,
            provider=purchase.provider,
            provider_charge_id=purchase.provider_charge_id,
            product=purchase.product,
            amount=purchase.amount,
            currency=purchase.currency,
            credits=purchase.credits,
            refunded_at=None,
            created_at=now,
        )
    )
    if purchase.credits:
        await uow.ledger.apply(
            account_id=account_id,
            delta=purchase.credits,
            reason=LedgerReason.PURCHASE,
            reference=f"{purchase.provider}:{purchase.product}",
            idempotency_key=f"purchase:{purchase.provider}:{purchase.provider_charge_id}",
            now=now,
        )


async def record_credit_purchase(
    uow: UnitOfWork, account_id: int, purchase: Purchase, *, now: datetime
) -> bool:
    """Credit a paid pack once; False when this charge id was already recorded.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        if await uow.accounts.get(account_id) is None:
            raise AccountNotFound(f"no account {account_id}")
        if await uow.payments.by_charge_id(purchase.provider_charge_id) is not None:
            return False
        try:
            await _record(uow, account_id, purchase, now)
            await uow.commit()
        except IntegrityError:
            # The same delivery processed concurrently: the unique charge id let one through.
            return False
    return True
