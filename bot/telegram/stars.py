"""Telegram Stars: the catalogue, invoices, pre-checkout checks and crediting once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update

from bot.chat import error_text, plan_started_text
from bot.messages import text
from bot.telegram.context import BotContext
from bot.telegram.session import person
from services.accounts import balance_of, language_from_client
from services.clock import utcnow
from services.errors import ServiceError
from services.payments import (
    SUBSCRIPTION_START,
    Purchase,
    record_credit_purchase,
    record_plan_purchase,
)
from services.plans import PLANS, get_plan
from services.settings import Settings
from services.subscriptions import PLAN_DAYS

STARS = "XTR"  # Telegram's currency for digital goods; no payment provider token
PROVIDER = "telegram_stars"
SUBSCRIPTION_PERIOD = 30 * 24 * 3600  # the only period Telegram offers for Stars subscriptions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Product:
    """Something sold for Stars; its invoice payload names it and its price."""

    kind: str  # "pack" or "plan"
    code: str  # credits of a pack, or a plan code
    stars: int

    @property
    def payload(self) -> str:
        return f"{self.kind}:{self.code}:{self.stars}"

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.code}"


def plan_prices(settings: Settings) -> dict[str, int]:
    return {"starter": settings.stars_plan_starter, "pro": settings.stars_plan_pro}


def product_for(settings: Settings, kind: str, code: str) -> Product | None:
    """The product on sale now, or None when it is not sold (any more)."""
    if kind == "pack" and code.isdigit() and int(code) in settings.stars_credit_packs:
        return Product("pack", code, settings.stars_credit_packs[int(code)])
    if kind == "plan" and code in plan_prices(settings):
        return Product("plan", code, plan_prices(settings)[code])
    return None


def product_of_payload(settings: Settings, payload: str) -> Product | None:
    """The product an invoice names, if it is still sold at the price the invoice shows."""
    kind, _, rest = payload.partition(":")
    code, _, stars = rest.partition(":")
    product = product_for(settings, kind, code)
    if product is None or str(product.stars) != stars:
        return None
    return product


async def send_product_invoice(
    update: Update, context: BotContext, product: Product, language: str
) -> None:
    """Send the invoice of a pack or of 30 days of a plan."""
    settings = context.deps.settings
    if product.kind == "pack":
        title = text("tg.invoice.pack_title", language, credits=product.code)
        description = text(
            "tg.invoice.pack_description",
            language,
            credits=product.code,
            credit_rp=settings.credit_price_rp,
        )
    else:
        plan = get_plan(product.code)
        title = text("tg.invoice.plan_title", language, plan=plan.code.value.title())
        description = text("tg.invoice.plan_description", language, daily=plan.daily_removals)
    assert update.effective_chat is not None
    if product.kind == "plan":
        # A plan is a Stars subscription: Telegram charges it again every 30 days and sends a
        # successful payment each time. Subscriptions are sold through invoice links only.
        link = await context.bot.create_invoice_link(
            title=title,
            description=description,
            payload=product.payload,
            currency=STARS,
            prices=[LabeledPrice(title, product.stars)],
            subscription_period=SUBSCRIPTION_PERIOD,
        )
        await context.bot.send_message(
            chat_id=update.effective_chat.id,
            text=f"{title}\n{description}",
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            text("tg.invoice.pay", language, stars=product.stars), url=link
                        )
                    ]
                ]
            ),
        )
        return
    await context.bot.send_invoice(
        chat_id=update.effective_chat.id,
        title=title,
        description=description,
        payload=product.payload,
        currency=STARS,
        prices=[LabeledPrice(title, product.stars)],
    )


async def check_pre_checkout(update: Update, context: BotContext) -> None:
    """Accept a checkout only for a product still sold at the invoiced price, in Stars."""
    query = update.pre_checkout_query
    assert query is not None
    product = product_of_payload(context.deps.settings, query.invoice_payload)
    # Telegram cancels the payment unless it is answered within 10 seconds: answer first.
    if product is None or query.currency != STARS or query.total_amount != product.stars:
        language = language_from_client(query.from_user.language_code)
        await query.answer(ok=False, error_message=text("tg.precheckout.invalid", language))
        return
    await query.answer(ok=True)


async def credit_successful_payment(update: Update, context: BotContext) -> None:
    """Apply a successful Stars payment once, keyed by its Telegram charge id."""
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    payment = message.successful_payment
    settings = context.deps.settings
    account = await person(update, context)
    language = account.language
    kind, _, rest = payment.invoice_payload.partition(":")
    code = rest.partition(":")[0]
    product = f"{kind}:{code}"
    if payment.is_first_recurring:
        # The first charge names the subscription when the plan is cancelled later.
        product += SUBSCRIPTION_START
    purchase = Purchase(
        provider=PROVIDER,
        provider_charge_id=payment.telegram_payment_charge_id,
        product=product,
        amount=payment.total_amount,
        currency=payment.currency,
        credits=int(code) if kind == "pack" and code.isdigit() else 0,
    )
    try:
        if kind == "pack":
            if await record_credit_purchase(context.deps.uow(), account.id, purchase, now=utcnow()):
                balance = await balance_of(context.deps.uow(), account.id)
                await message.reply_text(
                    text("chat.purchase.credited", language, credits=code, balance=balance)
                )
        elif kind == "plan" and code in PLANS:
            status = await record_plan_purchase(
                context.deps.uow(),
                account.id,
                purchase,
                code,
                days=PLAN_DAYS,
                now=utcnow(),
                auto_renew=bool(payment.is_recurring),
            )
            if status is not None:
                await message.reply_text(plan_started_text(status, language, zone=settings.zone))
        else:
            # Paid, but for nothing sold: keep it visible for an operator's /refund.
            log.error(
                "payment %s names no product: %r",
                payment.telegram_payment_charge_id,
                payment.invoice_payload,
            )
    except ServiceError as error:
        await message.reply_text(error_text(error, language))
