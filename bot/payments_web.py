"""Rupiah payments on the web process: the gateway's notification webhook, the pay links, and
the HTTP API's `/payments` routes.

The webhook answers as soon as the order's state is committed: the receipt goes out from a
queue with its own timeout and retries, so a slow chat platform never makes the gateway wait
(it retries notifications that are slow to answer).
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import dramatiq
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.chat import money
from bot.http_api import ACCOUNT_ID, ApiError
from bot.messages import text
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.clock import utcnow
from services.errors import ServiceError
from services.gateway.base import GatewayError, InvalidNotification
from services.gateway.registry import GatewayConfig, build_gateway
from services.pay_links import PAY_PATH, InvalidPayLink, pay_url, read_pay_token
from services.settings import Settings
from services.topups import (
    Catalog,
    NotificationOutcome,
    OrderView,
    Payments,
    Product,
    UnknownProduct,
    claim_order_notice,
    get_order,
    order_chat,
)

log = logging.getLogger(__name__)

QueueReceipt = Callable[[str], Awaitable[None]]
QueueNotice = Callable[[int], Awaitable[None]]


def notification_path(provider: str) -> str:
    return f"/payments/{provider}/notification"


def build_payments(settings: Settings) -> Payments | None:
    """The rupiah payments of this process, or None when no gateway is configured."""
    if settings.midtrans_server_key is None:
        return None
    gateway = build_gateway(
        settings.payment_gateway,
        GatewayConfig(
            server_key=settings.midtrans_server_key.get_secret_value(),
            production=settings.midtrans_production,
            api_url=settings.midtrans_api_url,
            checkout_url=settings.midtrans_snap_url,
            timeout_seconds=settings.payment_timeout_seconds,
        ),
    )
    return Payments(
        gateway,
        Catalog(settings.rupiah_credit_packs, settings.credit_price_rp),
        link_ttl=timedelta(hours=settings.payment_link_hours),
    )


@dataclass(frozen=True, slots=True)
class PaymentsContext:
    settings: Settings
    uow: Callable[[], UnitOfWork]
    payments: Payments
    queue_receipt: QueueReceipt
    queue_notice: QueueNotice | None = None


PAYMENTS = web.AppKey("payments", PaymentsContext)


async def receive_notification(request: web.Request) -> web.Response:
    """Apply a gateway notification after checking its signature and the gateway's API."""
    context = request.app[PAYMENTS]
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="not a JSON object")
    try:
        order_id, outcome = await context.payments.handle_notification(
            context.uow(), body, dict(request.headers), now=utcnow()
        )
    except InvalidNotification:
        log.warning("refused a payment notification with a bad signature")
        raise web.HTTPUnauthorized(text="bad signature") from None
    except GatewayError as error:
        # Not applied: the gateway notifies again, and the status is asked again then.
        log.warning("payment status check failed: %s", error)
        raise web.HTTPServiceUnavailable(text="status check failed") from None
    log.info("payment notification for %s: %s", order_id, outcome)
    if outcome is NotificationOutcome.PAID:
        try:
            await context.queue_receipt(order_id)
        except (RedisConnectionError, dramatiq.errors.BrokerConnectionError):
            # The money is recorded; the periodic payment upkeep sends receipts lost here.
            log.warning("receipt of order %s not queued; the upkeep will send it", order_id)
    elif outcome is not NotificationOutcome.UNKNOWN_ORDER:
        # A refund, expiry or failure: recorded once per order and event before the answer
        # (a repeated notification records nothing more), sent from the payments queue.
        notice_id = await claim_order_notice(context.uow(), order_id, now=utcnow())
        if notice_id is not None and context.queue_notice is not None:
            try:
                await context.queue_notice(notice_id)
            except (RedisConnectionError, dramatiq.errors.BrokerConnectionError):
                log.warning("notice of order %s not queued; the upkeep will send it", order_id)
    return web.json_response({"status": outcome.value})


def _describe(product: Product, language: str) -> str:
    amount = money(product.amount_rp, language)
    if product.plan is not None:
        return text("pay.page.plan", language, plan=product.plan.title(), amount=amount)
    return text("pay.page.pack", language, credits=money(product.credits, language), amount=amount)


def _page(language: str, body: str, status: int = 200) -> web.Response:
    title = html.escape(text("pay.page.title", language))
    document = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title></head><body style="font-family:sans-serif;max-width:32em;'
        f'margin:2em auto;padding:0 1em">{body}</body></html>'
    )
    return web.Response(text=document, content_type="text/html", status=status)


async def _pay_link(request: web.Request) -> tuple[int, Product, str, str]:
    context = request.app[PAYMENTS]
    try:
        account_id, code, channel = read_pay_token(
            context.settings.payment_link_secret(), request.match_info["token"]
        )
        product = context.payments.catalog.product(code)
        async with context.uow() as uow:
            language = (await existing_account(uow, account_id)).language
    except (InvalidPayLink, UnknownProduct, ServiceError, ValueError):
        language = "id"
        raise web.HTTPNotFound(
            text=text("pay.page.invalid", language), content_type="text/plain"
        ) from None
    return account_id, product, channel, language


async def show_pay_page(request: web.Request) -> web.Response:
    """Show what the link buys, with one button; link previewers that fetch it create nothing."""
    _, product, _, language = await _pay_link(request)
    body = (
        f"<h1>{html.escape(_describe(product, language))}</h1>"
        '<form method="post"><button type="submit" style="font-size:1.2em;padding:.6em 1.2em">'
        f"{html.escape(text('pay.page.button', language))}</button></form>"
    )
    return _page(language, body)


async def open_payment_page(request: web.Request) -> web.Response:
    """Open (or reuse) the gateway's payment page for the link and send the person there."""
    context = request.app[PAYMENTS]
    account_id, product, channel, language = await _pay_link(request)
    try:
        chat = await order_chat(context.uow(), account_id, channel)
        order = await context.payments.open_order(
            context.uow(), account_id, product.code, channel=channel, chat=chat, now=utcnow()
        )
    except ServiceError as error:
        message = text(f"chat.error.{error.code}", language)
        return _page(language, f"<p>{html.escape(message)}</p>", status=503)
    raise web.HTTPSeeOther(order.payment_url)


def chat_pay_url(settings: Settings, account_id: int, product: str, channel: str) -> str:
    """The pay link a chat message carries for one account and product."""
    return pay_url(
        settings.public_base_url, settings.payment_link_secret(), account_id, product, channel
    )


def add_payment_routes(
    app: web.Application,
    settings: Settings,
    uow: Callable[[], UnitOfWork],
    payments: Payments,
    queue_receipt: QueueReceipt,
    *,
    queue_notice: QueueNotice | None = None,
) -> None:
    """Serve the gateway's notifications and the pay links; close the gateway's threads at exit."""
    app[PAYMENTS] = PaymentsContext(settings, uow, payments, queue_receipt, queue_notice)
    app.router.add_post(notification_path(payments.provider), receive_notification)
    app.router.add_get(PAY_PATH + "{token}", show_pay_page)
    app.router.add_post(PAY_PATH + "{token}", open_payment_page)

    async def close_gateway(app: web.Application) -> AsyncIterator[None]:
        yield
        payments.close()

    app.cleanup_ctx.append(close_gateway)


# --- The HTTP API's routes, registered on its sub-application ---

API_PAYMENTS = web.AppKey("api_payments", PaymentsContext)


def order_json(order: OrderView) -> dict[str, object]:
    return {
        "id": order.order_id,
        "product": order.product,
        "amount_rp": order.amount_rp,
        "credits": order.credits,
        "plan": order.plan,
        "status": order.status,
        "method": order.method or None,
        "payment_url": order.payment_url,
        "expires_at": order.expires_at.isoformat(),
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "refunded_amount_rp": order.refunded_amount_rp,
        "refunded_credits": order.refunded_credits,
        "created_at": order.created_at.isoformat(),
    }


async def create_payment(request: web.Request) -> web.Response:
    """Open a payment page for a credit pack (or a plan) of the key's account."""
    context = request.app[API_PAYMENTS]
    try:
        body = await request.json() if request.can_read_body else {}
    except (ValueError, json.JSONDecodeError):
        raise ApiError("invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("invalid_json", "the body must be a JSON object")
    if "plan" in body:
        product = f"plan:{body['plan']}"
    elif "amount_rp" in body:
        product = f"pack:{body['amount_rp']}"
    else:
        packs = ", ".join(str(p.amount_rp) for p in context.payments.catalog.pack_products())
        raise ApiError("invalid_product", f"send amount_rp (one of {packs}) or plan")
    try:
        order = await context.payments.open_order(
            context.uow(), request[ACCOUNT_ID], product, channel="api", chat={}, now=utcnow()
        )
    except UnknownProduct as error:
        raise ApiError("unknown_product", str(error), 422) from None
    except ServiceError as error:
        if error.code == "payments_unavailable":
            raise ApiError(error.code, str(error), 503) from None
        raise
    return web.json_response(order_json(order), status=201)


async def show_payment(request: web.Request) -> web.Response:
    """One payment order of the key's account."""
    context = request.app[API_PAYMENTS]
    try:
        order = await get_order(context.uow(), request[ACCOUNT_ID], request.match_info["order_id"])
    except ServiceError:
        raise ApiError("not_found", "no such payment", 404) from None
    return web.json_response(order_json(order))


def add_payment_api_routes(api: web.Application, context: PaymentsContext) -> None:
    """Register `POST /payments` and `GET /payments/{order_id}` on the API sub-application."""
    api[API_PAYMENTS] = context
    api.router.add_post("/payments", create_payment)
    api.router.add_get("/payments/{order_id}", show_payment)
