"""Purchases through a payment provider, applied exactly once per provider charge id."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from db.models import LedgerReason, Payment
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import ServiceError
from services.plans import get_plan
from services.subscriptions import (
    DEFAULT_CREDIT_PRICE_RP,
    PlanStatus,
    plan_status,
    start_or_extend_plan,
)

# A plan payment that starts a recurring subscription; renewals are charged against it.
SUBSCRIPTION_START = ":subscription"
# A renewal of a plan that was replaced or cancelled: recorded, never applied, refunded.
DECLINED = ":declined"


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
        await existing_account(uow, account_id)
        if await uow.payments.by_charge_id(purchase.provider_charge_id) is not None:
            return False
        try:
            await _record(uow, account_id, purchase, now)
            await uow.commit()
        except IntegrityError:
            # The same delivery processed concurrently: the unique charge id let one through.
            return False
    return True


class PaymentNotFound(ServiceError):
    code = "payment_not_found"


class PaymentAlreadyRefunded(ServiceError):
    code = "payment_already_refunded"


class RenewalDeclined(ServiceError):
    """A renewal of a plan that was replaced or whose renewal was stopped.

    The payment is recorded, applies to no plan, and waits for its refund
    (`declined_renewals`); the current plan stays as it is.
    """

    code = "renewal_declined"

    def __init__(self, provider_charge_id: str, plan_code: str) -> None:
        super().__init__(f"renewal {provider_charge_id} of a {plan_code} plan no longer current")
        self.provider_charge_id = provider_charge_id
        self.plan_code = plan_code


async def record_plan_purchase(
    uow: UnitOfWork,
    account_id: int,
    purchase: Purchase,
    plan_code: str,
    *,
    days: int,
    now: datetime,
    auto_renew: bool = False,
    credit_price_rp: int = DEFAULT_CREDIT_PRICE_RP,
) -> PlanStatus | None:
    """Apply a paid plan once per charge id; None when this charge was already recorded.

    The plan is started, extended or switched to by the rule of `services.subscriptions`. A
    purchase whose product ends with `SUBSCRIPTION_START` starts a recurring subscription
    named by its charge id; with `auto_renew` and without that ending it is a renewal, applied
    only while the plan it renews is still the account's current, renewing plan.

    Args:
        credit_price_rp: what a credit is worth, to credit back a replaced plan's unused days.

    Raises:
        AccountNotFound: when the account does not exist.
        UnknownPlan: for a plan the product does not sell.
        RenewalDeclined: a renewal of a replaced or cancelled plan; recorded for its refund.
    """
    plan = get_plan(plan_code)
    starts = purchase.product.endswith(SUBSCRIPTION_START)
    async with uow:
        await existing_account(uow, account_id)
        await uow.accounts.lock(account_id)
        if await uow.payments.by_charge_id(purchase.provider_charge_id) is not None:
            return None
        subscription_id = purchase.provider_charge_id if starts else None
        try:
            if auto_renew and not starts:
                renewed = await uow.subscriptions.renewed_by(
                    account_id, plan.code, purchase.provider
                )
                active = await uow.subscriptions.active(account_id, now)
                live = renewed is None or (
                    renewed.replaced_at is None and renewed.cancelled_at is None
                )
                current = active is None or (
                    active.plan == plan.code and (renewed is None or active.id == renewed.id)
                )
                if not (live and current):
                    declined = replace(purchase, product=f"plan:{plan.code.value}{DECLINED}")
                    await _record(uow, account_id, declined, now)
                    await uow.commit()
                    raise RenewalDeclined(purchase.provider_charge_id, plan.code.value)
                if renewed is not None:
                    subscription_id = renewed.provider_subscription_id
            await _record(uow, account_id, purchase, now)
            subscription, credited = await start_or_extend_plan(
                uow,
                account_id,
                plan,
                days=days,
                source=purchase.provider,
                auto_renew=auto_renew,
                now=now,
                paid=True,
                credit_price_rp=credit_price_rp,
                provider_subscription_id=subscription_id,
            )
            await uow.commit()
        except IntegrityError:
            return None  # the same delivery processed concurrently; the other one recorded it
        return plan_status(subscription, credited)


@dataclass(frozen=True, slots=True)
class RefundablePayment:
    account_id: int
    provider: str
    provider_charge_id: str
    product: str
    credits: int
    telegram_id: int | None


async def find_refundable(uow: UnitOfWork, provider_charge_id: str) -> RefundablePayment:
    """Look up a payment an operator wants to refund.

    Raises:
        PaymentNotFound: no payment has this charge id.
        PaymentAlreadyRefunded: it was refunded before.
    """
    async with uow:
        payment = await uow.payments.by_charge_id(provider_charge_id)
        if payment is None:
            raise PaymentNotFound(f"no payment {provider_charge_id}")
        if payment.refunded_at is not None:
            raise PaymentAlreadyRefunded(f"payment {provider_charge_id} was refunded")
        account = await uow.accounts.get(payment.account_id)
        assert account is not None
        return RefundablePayment(
            account_id=payment.account_id,
            provider=payment.provider,
            provider_charge_id=payment.provider_charge_id,
            product=payment.product,
            credits=payment.credits,
            telegram_id=account.telegram_id,
        )


async def record_refund(uow: UnitOfWork, provider_charge_id: str, *, now: datetime) -> int:
    """Mark a payment refunded by its provider and take back its credits, once.

    Credits already spent cannot be taken back: the balance goes to zero at most. A plan
    bought by the payment ends now. Returns the credits taken back.

    Raises:
        PaymentNotFound: no payment has this charge id.
        PaymentAlreadyRefunded: it was recorded as refunded before.
    """
    async with uow:
        payment = await uow.payments.by_charge_id(provider_charge_id)
        if payment is None:
            raise PaymentNotFound(f"no payment {provider_charge_id}")
        if payment.refunded_at is not None:
            raise PaymentAlreadyRefunded(f"payment {provider_charge_id} was refunded")
        payment.refunded_at = now
        taken = 0
        if payment.credits:
            balance = await uow.ledger.total(payment.account_id)
            taken = min(payment.credits, max(balance, 0))
        if taken:
            await uow.ledger.apply(
                account_id=payment.account_id,
                delta=-taken,
                reason=LedgerReason.PURCHASE_REFUND,
                reference=f"{payment.provider}:{payment.product}",
                idempotency_key=f"purchase_refund:{payment.provider}:{provider_charge_id}",
                now=now,
            )
        if payment.product.startswith("plan:") and not payment.product.endswith(DECLINED):
            active = await uow.subscriptions.active(payment.account_id, now)
            if active is not None and active.plan == payment.product.split(":")[1]:
                active.period_end = now
                active.auto_renew = False
                if active.cancelled_at is None:
                    active.cancelled_at = now
        await uow.commit()
        return taken


async def declined_renewals(uow: UnitOfWork, provider: str) -> list[RefundablePayment]:
    """Renewals through `provider` that were declined and are not refunded yet, oldest first."""
    async with uow:
        payments = await uow.payments.unrefunded(provider, DECLINED)
        refundable = []
        for payment in payments:
            account = await uow.accounts.get(payment.account_id)
            assert account is not None
            refundable.append(
                RefundablePayment(
                    account_id=payment.account_id,
                    provider=payment.provider,
                    provider_charge_id=payment.provider_charge_id,
                    product=payment.product,
                    credits=payment.credits,
                    telegram_id=account.telegram_id,
                )
            )
    return refundable


async def subscription_charge_id(uow: UnitOfWork, account_id: int, provider: str) -> str | None:
    """The charge id that started the account's newest recurring plan with `provider`, if any."""
    async with uow:
        for payment in await uow.payments.for_account(account_id, provider):
            if payment.product.endswith(SUBSCRIPTION_START) and payment.refunded_at is None:
                return payment.provider_charge_id
    return None
