"""Rupiah payments by payment link: credit packs and a month of a plan, paid through a gateway.

The flow: an order row is written, the gateway opens a hosted payment page for it, the person
pays there (QRIS, e-wallet, virtual account). The gateway's notification is authenticated, then
the gateway's API is asked what really happened, and only that answer moves money: credits
through `record_credit_purchase`, a plan through `record_plan_purchase`, each once per order id
(the payment row's unique charge id and the ledger's idempotency key). A refund takes credits
back once, and never below zero: what was already spent is recorded as a shortfall.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from db.models import LedgerReason, OrderStatus, PaymentOrder
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import ServiceError
from services.gateway.base import (
    CheckoutRequest,
    GatewayError,
    GatewayStatus,
    OrderUnknownToGateway,
    PaymentGateway,
    PaymentState,
)
from services.payments import (
    PaymentAlreadyRefunded,
    PaymentNotFound,
    Purchase,
    record_credit_purchase,
    record_plan_purchase,
    record_refund,
)
from services.plans import PlanCode, get_plan
from services.reminders import notice_payload
from services.subscriptions import DEFAULT_CREDIT_PRICE_RP, PLAN_DAYS

CURRENCY = "IDR"
T = TypeVar("T")


class UnknownProduct(ServiceError):
    code = "unknown_product"


class PaymentsUnavailable(ServiceError):
    """Rupiah payments are not configured, or the gateway could not open a page just now."""

    code = "payments_unavailable"


class OrderNotFound(ServiceError):
    code = "order_not_found"


@dataclass(frozen=True, slots=True)
class Product:
    code: str  # pack:<rupiah> or plan:<plan code>
    amount_rp: int
    credits: int = 0
    plan: str | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    """What can be bought in rupiah: credit packs (rupiah to credits) and the plans."""

    packs: Mapping[int, int]
    # What one credit is worth: a plan switch credits the old plan's unused days at it.
    credit_price_rp: int = DEFAULT_CREDIT_PRICE_RP

    def pack_products(self) -> list[Product]:
        return [
            Product(code=f"pack:{amount}", amount_rp=amount, credits=credits)
            for amount, credits in sorted(self.packs.items())
        ]

    def plan_products(self) -> list[Product]:
        return [
            Product(code=f"plan:{code.value}", amount_rp=get_plan(code).price_rp, plan=code.value)
            for code in PlanCode
        ]

    def product(self, code: str) -> Product:
        """The product called `code`.

        Raises:
            UnknownProduct: for a code not on sale.
        """
        for product in (*self.pack_products(), *self.plan_products()):
            if product.code == code:
                return product
        raise UnknownProduct(f"no product {code!r}")


def bonus_percent(product: Product, credit_price_rp: int) -> int:
    """How many percent more credits a pack gives than its rupiah at the credit price."""
    base = product.amount_rp // credit_price_rp
    if not product.credits or base <= 0 or product.credits <= base:
        return 0
    return (product.credits - base) * 100 // base


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    account_id: int
    product: str
    amount_rp: int
    credits: int
    plan: str | None
    status: str
    method: str
    payment_url: str
    expires_at: datetime
    paid_at: datetime | None
    refunded_amount_rp: int
    refunded_credits: int
    refund_shortfall: int
    created_at: datetime


def _view(order: PaymentOrder) -> OrderView:
    return OrderView(
        order_id=order.id,
        account_id=order.account_id,
        product=order.product,
        amount_rp=order.amount_rp,
        credits=order.credits,
        plan=order.plan,
        status=order.status,
        method=order.method,
        payment_url=order.payment_url,
        expires_at=order.expires_at,
        paid_at=order.paid_at,
        refunded_amount_rp=order.refunded_amount_rp,
        refunded_credits=order.refunded_credits,
        refund_shortfall=order.refund_shortfall,
        created_at=order.created_at,
    )


def new_order_id(account_id: int) -> str:
    """An order id the gateway accepts (letters, digits, dashes; under 50 characters)."""
    return f"bg-{account_id}-{secrets.token_hex(6)}"


class NotificationOutcome(StrEnum):
    PAID = "paid"  # money moved now: a receipt is due
    REFUNDED = "refunded"
    CLOSED = "closed"  # expired or failed
    NO_CHANGE = "no_change"  # pending, or applied before
    AMOUNT_MISMATCH = "amount_mismatch"
    UNKNOWN_ORDER = "unknown_order"


class Payments:
    """Rupiah payments of one process: the gateway, its own threads, and the catalog.

    The gateway's client blocks on the network, so its calls run on a small pool of their
    own: a slow gateway never holds the threads that other work needs.
    """

    def __init__(
        self,
        gateway: PaymentGateway,
        catalog: Catalog,
        *,
        link_ttl: timedelta,
        threads: int = 4,
    ) -> None:
        self.gateway = gateway
        self.catalog = catalog
        self.link_ttl = link_ttl
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="gateway")

    @property
    def provider(self) -> str:
        return self.gateway.name

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def open_order(
        self,
        uow: UnitOfWork,
        account_id: int,
        product_code: str,
        *,
        channel: str,
        chat: Mapping[str, Any],
        now: datetime,
    ) -> OrderView:
        """Return a payment page for the product: an open one of the same kind, or a new one.

        Raises:
            AccountNotFound: when the account does not exist.
            UnknownProduct: for a product not on sale.
            PaymentsUnavailable: when the gateway could not open a page.
        """
        product = self.catalog.product(product_code)
        async with uow:
            account = await existing_account(uow, account_id)
            # A second tap on the same offer reuses the page while it has an hour left.
            reusable = await uow.orders.open_link(
                account_id, product.code, channel, valid_after=now + timedelta(hours=1)
            )
            if reusable is not None:
                return _view(reusable)
            order = await uow.orders.add(
                PaymentOrder(
                    id=new_order_id(account_id),
                    account_id=account_id,
                    provider=self.provider,
                    product=product.code,
                    amount_rp=product.amount_rp,
                    credits=product.credits,
                    plan=product.plan,
                    status=OrderStatus.PENDING,
                    channel=channel,
                    chat=dict(chat),
                    language=account.language,
                    expires_at=now + self.link_ttl,
                    created_at=now,
                )
            )
            customer = account.display_name
            language = account.language
            await uow.commit()
        request = CheckoutRequest(
            order_id=order.id,
            amount_rp=product.amount_rp,
            item_name=_item_name(product),
            customer_name=customer,
            language=language,
            expiry_minutes=int(self.link_ttl.total_seconds() // 60),
        )
        try:
            link = await self._off_loop(self.gateway.create_link, request)
        except GatewayError as error:
            async with uow:
                await uow.orders.transition(
                    order.id, {OrderStatus.PENDING}, OrderStatus.FAILED, gateway_status="error"
                )
                await uow.commit()
            raise PaymentsUnavailable(str(error)) from error
        async with uow:
            await uow.orders.transition(
                order.id,
                {OrderStatus.PENDING},
                OrderStatus.PENDING,
                payment_url=link.url,
                reference=link.reference[:128],
            )
            await uow.commit()
            saved = await uow.orders.get(order.id)
            assert saved is not None
            return _view(saved)

    async def handle_notification(
        self,
        uow: UnitOfWork,
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        *,
        now: datetime,
    ) -> tuple[str, NotificationOutcome]:
        """Authenticate a gateway notification, ask the API, and apply what the API says.

        Raises:
            InvalidNotification: when the notification is not the gateway's.
            GatewayError: when the API could not be asked (the gateway will notify again).
        """
        order_id = self.gateway.verify_notification(body, headers)
        return order_id, await self.reconcile(uow, order_id, now=now)

    async def reconcile(
        self, uow: UnitOfWork, order_id: str, *, now: datetime
    ) -> NotificationOutcome:
        """Ask the gateway about one order and apply its answer.

        Raises:
            GatewayError: when the API could not be asked.
        """
        async with uow:
            if await uow.orders.get(order_id) is None:
                return NotificationOutcome.UNKNOWN_ORDER
        try:
            status = await self._off_loop(self.gateway.fetch_status, order_id)
        except OrderUnknownToGateway:
            return NotificationOutcome.NO_CHANGE  # nobody opened the page yet
        return await apply_status(
            uow,
            status,
            provider=self.provider,
            now=now,
            credit_price_rp=self.catalog.credit_price_rp,
        )


def _item_name(product: Product) -> str:
    if product.plan is not None:
        return f"Background Remover {product.plan} 30 days"
    return f"Background Remover {product.credits} credits"


_CLOSED = {PaymentState.EXPIRED: OrderStatus.EXPIRED, PaymentState.FAILED: OrderStatus.FAILED}
_PAYABLE = (OrderStatus.PENDING, OrderStatus.EXPIRED, OrderStatus.FAILED)
_PAID = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


async def apply_status(
    uow: UnitOfWork,
    status: GatewayStatus,
    *,
    provider: str,
    now: datetime,
    credit_price_rp: int = DEFAULT_CREDIT_PRICE_RP,
) -> NotificationOutcome:
    """Apply the gateway API's answer about an order; applying it again changes nothing."""
    async with uow:
        order = await uow.orders.get(status.order_id)
        if order is None:
            return NotificationOutcome.UNKNOWN_ORDER
    if status.state is PaymentState.PAID:
        return await _apply_paid(
            uow, order, status, provider=provider, now=now, credit_price_rp=credit_price_rp
        )
    if status.state in _CLOSED:
        async with uow:
            moved = await uow.orders.transition(
                order.id,
                {OrderStatus.PENDING},
                _CLOSED[status.state],
                gateway_status=status.raw_status,
            )
            await uow.commit()
        return NotificationOutcome.CLOSED if moved else NotificationOutcome.NO_CHANGE
    if status.state in (PaymentState.REFUNDED, PaymentState.PARTIALLY_REFUNDED):
        return await _apply_refund(uow, order, status, now=now)
    async with uow:
        await uow.orders.transition(
            order.id, {OrderStatus.PENDING}, OrderStatus.PENDING, gateway_status=status.raw_status
        )
        await uow.commit()
    return NotificationOutcome.NO_CHANGE


async def _apply_paid(
    uow: UnitOfWork,
    order: PaymentOrder,
    status: GatewayStatus,
    *,
    provider: str,
    now: datetime,
    credit_price_rp: int,
) -> NotificationOutcome:
    if order.status not in _PAYABLE:
        return NotificationOutcome.NO_CHANGE
    if status.gross_amount_rp != order.amount_rp:
        # Paid, but not what the order asks (a partial payment, an edited amount): nothing is
        # applied automatically; the order waits for an operator with the gateway's word.
        async with uow:
            await uow.orders.transition(
                order.id,
                _PAYABLE,
                OrderStatus.AMOUNT_MISMATCH,
                gateway_status=status.raw_status,
                method=status.method[:32],
            )
            await uow.commit()
        return NotificationOutcome.AMOUNT_MISMATCH
    purchase = Purchase(
        provider=provider,
        provider_charge_id=order.id,
        product=order.product,
        amount=order.amount_rp,
        currency=CURRENCY,
        credits=order.credits,
    )
    # Each records once per order id; a repeated or concurrent notification records nothing.
    if order.plan is not None:
        await record_plan_purchase(
            uow,
            order.account_id,
            purchase,
            order.plan,
            days=PLAN_DAYS,
            now=now,
            credit_price_rp=credit_price_rp,
        )
    else:
        await record_credit_purchase(uow, order.account_id, purchase, now=now)
    # The order reads as paid only once the money is committed; one caller wins this move.
    async with uow:
        moved = await uow.orders.transition(
            order.id,
            _PAYABLE,
            OrderStatus.PAID,
            paid_at=now,
            gateway_status=status.raw_status,
            method=status.method[:32],
        )
        await uow.commit()
    return NotificationOutcome.PAID if moved else NotificationOutcome.NO_CHANGE


def credits_to_take_back(
    *,
    credits: int,
    amount_rp: int,
    refunded_rp: int,
    full: bool,
    taken_before: int,
    short_before: int,
    balance: int,
) -> tuple[int, int]:
    """Credits a refund takes back now, and those it cannot because they were spent.

    A pack gives back credits in proportion to the rupiah refunded so far (rounded down, all
    of them for a full refund), less what earlier refunds of the order took or found spent;
    the balance never goes below zero.
    """
    owed = credits if full else credits * min(refunded_rp, amount_rp) // amount_rp
    wanted = max(0, owed - taken_before - short_before)
    taken = min(wanted, max(balance, 0))
    return taken, wanted - taken


async def _apply_refund(
    uow: UnitOfWork, order: PaymentOrder, status: GatewayStatus, *, now: datetime
) -> NotificationOutcome:
    if order.status not in _PAID or status.refunded_amount_rp <= order.refunded_amount_rp:
        return NotificationOutcome.NO_CHANGE
    full = status.state is PaymentState.REFUNDED or status.refunded_amount_rp >= order.amount_rp
    refunded_rp = min(status.refunded_amount_rp, order.amount_rp)
    new_status = OrderStatus.REFUNDED if full else OrderStatus.PARTIALLY_REFUNDED
    if order.plan is not None:
        if full:
            # Ends the plan bought by this order, once.
            # Already recorded by a concurrent notification, or never recorded as paid.
            with suppress(PaymentNotFound, PaymentAlreadyRefunded):
                await record_refund(uow, order.id, now=now)
        async with uow:
            moved = await uow.orders.transition(
                order.id,
                _PAID,
                new_status,
                refunded_rp_was=order.refunded_amount_rp,
                refunded_amount_rp=refunded_rp,
                refunded_at=now,
                gateway_status=status.raw_status,
            )
            await uow.commit()
        return NotificationOutcome.REFUNDED if moved else NotificationOutcome.NO_CHANGE
    try:
        async with uow:
            balance = (await existing_account(uow, order.account_id)).balance
            taken, short = credits_to_take_back(
                credits=order.credits,
                amount_rp=order.amount_rp,
                refunded_rp=refunded_rp,
                full=full,
                taken_before=order.refunded_credits,
                short_before=order.refund_shortfall,
                balance=balance,
            )
            if taken:
                await uow.ledger.apply(
                    account_id=order.account_id,
                    delta=-taken,
                    reason=LedgerReason.PURCHASE_REFUND,
                    reference=f"{order.provider}:{order.product}",
                    idempotency_key=f"gateway_refund:{order.id}:{refunded_rp}",
                    now=now,
                )
            moved = await uow.orders.transition(
                order.id,
                _PAID,
                new_status,
                refunded_rp_was=order.refunded_amount_rp,
                refunded_amount_rp=refunded_rp,
                refunded_credits=order.refunded_credits + taken,
                refund_shortfall=order.refund_shortfall + short,
                refunded_at=now,
                gateway_status=status.raw_status,
            )
            if not moved:
                return NotificationOutcome.NO_CHANGE  # rolled back: applied concurrently
            if full:
                payment = await uow.payments.by_charge_id(order.id)
                if payment is not None and payment.refunded_at is None:
                    payment.refunded_at = now
            await uow.commit()
    except IntegrityError:
        return NotificationOutcome.NO_CHANGE  # the same refund applied concurrently
    return NotificationOutcome.REFUNDED


async def order_chat(uow: UnitOfWork, account_id: int, channel: str) -> dict[str, Any]:
    """The chat address of the account on `channel`, where its receipts go; {} for the API.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        account = await existing_account(uow, account_id)
    if channel == "telegram" and account.telegram_id is not None:
        return {"chat_id": account.telegram_id, "language": account.language}
    if channel == "whatsapp" and account.whatsapp_number is not None:
        return {"number": account.whatsapp_number, "language": account.language}
    return {}


async def get_order(uow: UnitOfWork, account_id: int, order_id: str) -> OrderView:
    """One order of the account.

    Raises:
        OrderNotFound: when the account has no such order.
    """
    async with uow:
        order = await uow.orders.for_account(account_id, order_id)
        if order is None:
            raise OrderNotFound(f"no order {order_id}")
        return _view(order)


async def recent_orders(uow: UnitOfWork, limit: int = 20) -> list[OrderView]:
    """The newest orders of every account, for operators."""
    async with uow:
        return [_view(order) for order in await uow.orders.recent(limit)]


@dataclass(frozen=True, slots=True)
class MethodIncome:
    method: str
    orders: int
    rupiah: int


async def income_by_method(uow: UnitOfWork) -> list[MethodIncome]:
    """Rupiah kept (paid less refunded) by payment method."""
    async with uow:
        return [
            MethodIncome(method or "unknown", count, total)
            for method, count, total in await uow.orders.income_by_method()
        ]


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a person is told after paying: from committed facts only."""

    order_id: str
    amount_rp: int
    credits: int
    balance: int
    plan: str | None
    plan_ends: datetime | None
    method: str
    channel: str
    chat: Mapping[str, Any]
    language: str


async def claim_receipt(
    uow: UnitOfWork, order_id: str, *, now: datetime, stale_after: timedelta
) -> Receipt | None:
    """Claim the sending of a paid order's receipt; None when it is sent or being sent."""
    async with uow:
        order = await uow.orders.get(order_id)
        if order is None or order.paid_at is None:
            return None
        if not await uow.orders.claim_notice(order_id, now, now - stale_after):
            return None
        account = await existing_account(uow, order.account_id)
        plan_ends = None
        if order.plan is not None:
            active = await uow.subscriptions.active(order.account_id, now)
            plan_ends = active.period_end if active is not None else None
        await uow.commit()
        return Receipt(
            order_id=order.id,
            amount_rp=order.amount_rp,
            credits=order.credits,
            balance=account.balance,
            plan=order.plan,
            plan_ends=plan_ends,
            method=order.method,
            channel=order.channel,
            chat=dict(order.chat),
            language=order.language,
        )


async def receipt_sent(uow: UnitOfWork, order_id: str, *, now: datetime) -> None:
    async with uow:
        await uow.orders.mark_notice_sent(order_id, now)
        await uow.commit()


async def receipt_not_sent(uow: UnitOfWork, order_id: str) -> None:
    """Give the claim back, so that a retry or the sweep sends it."""
    async with uow:
        await uow.orders.release_notice(order_id)
        await uow.commit()


async def expire_unused_orders(uow: UnitOfWork, *, now: datetime) -> int:
    """Close orders whose payment page closed an hour ago without a word from the gateway
    (nobody chose a method, so it sends none). A late payment still counts: an expired order
    is paid like a pending one when the gateway says so."""
    async with uow:
        closed = await uow.orders.expire_pending(now - timedelta(hours=1))
        await uow.commit()
    return closed


async def lost_receipts(
    uow: UnitOfWork, *, now: datetime, grace: timedelta, give_up_after: timedelta
) -> list[str]:
    """Paid orders whose receipt has not gone out within `grace`; after `give_up_after` (a
    person who blocked the bot, say) they are no longer tried."""
    async with uow:
        return list(await uow.orders.unsent_notices(now - give_up_after, now - grace))


async def claim_renewals(uow: UnitOfWork, *, now: datetime, ahead: timedelta) -> list[int]:
    """Plans bought by link that end within `ahead`, each claimed once for its renewal link:
    the ids of the notices recorded (sent, and retried until delivered, by the caller).

    Only the account's newest plan order counts: a renewal paid early is a new order, and
    its own reminder comes before the new end.
    """
    due: list[int] = []
    async with uow:
        newest: dict[int, PaymentOrder] = {}
        for order in await uow.orders.paid_plan_orders():
            newest[order.account_id] = order
        for order in newest.values():
            if order.renewal_sent_at is not None or order.plan is None:
                continue
            active = await uow.subscriptions.active(order.account_id, now)
            if active is None or active.plan != order.plan or active.period_end > now + ahead:
                continue
            if active.auto_renew:
                continue  # renews by itself (a Stars subscription bought later)
            if not order.chat or order.channel not in ("telegram", "whatsapp"):
                continue  # bought over the HTTP API: no chat to tell
            if not await uow.orders.claim_renewal(order.id, now):
                continue
            # Recorded with the claim, in one commit: a failed send is retried, never lost.
            values = {"plan": order.plan, "ends": active.period_end}
            payload = notice_payload(order.channel, order.chat, order.language, values)
            notice_id = await uow.reminders.claim(
                order.account_id, "renewal", order.id, now, payload
            )
            if notice_id is not None:
                due.append(notice_id)
        await uow.commit()
    return due


# The order's state that a person hears about, and the notice it makes.
_ORDER_NOTICES = {
    OrderStatus.REFUNDED: "order_refunded",
    OrderStatus.PARTIALLY_REFUNDED: "order_refunded",
    OrderStatus.EXPIRED: "order_expired",
    OrderStatus.FAILED: "order_failed",
}


async def claim_order_notice(uow: UnitOfWork, order_id: str, *, now: datetime) -> int | None:
    """Record the notice of the order's refund, expiry or failure, once per order and event
    (each refunded amount is an event); its id when new, else None.

    Only what is committed is told: call it after the gateway's status was applied.
    """
    async with uow:
        order = await uow.orders.get(order_id)
        if order is None or order.status not in _ORDER_NOTICES:
            return None
        if not order.chat or order.channel not in ("telegram", "whatsapp"):
            return None  # made over the HTTP API: the order itself says what happened
        kind = _ORDER_NOTICES[OrderStatus(order.status)]
        subject = order.id
        if kind == "order_refunded":
            subject = f"{order.id}:{order.refunded_amount_rp}"
        values = {
            "order_id": order.id,
            "amount_rp": order.amount_rp,
            "refunded_rp": order.refunded_amount_rp,
            "refunded_credits": order.refunded_credits,
            "shortfall": order.refund_shortfall,
            "credits": order.credits,
            "plan": order.plan,
            "full": order.status == OrderStatus.REFUNDED,
        }
        payload = notice_payload(order.channel, order.chat, order.language, values)
        notice_id = await uow.reminders.claim(order.account_id, kind, subject, now, payload)
        await uow.commit()
    return notice_id
