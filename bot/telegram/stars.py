"""Telegram Stars: the catalogue, invoices, pre-checkout checks and crediting once."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.error import BadRequest, TelegramError

from bot.chat import error_text, plan_started_text
from bot.messages import text
from bot.telegram.context import BotContext, TelegramDeps
from bot.telegram.session import person
from services.accounts import balance_of, language_from_client
from services.clock import utcnow
from services.errors import ServiceError
from services.payments import (
    SUBSCRIPTION_START,
    PaymentAlreadyRefunded,
    Purchase,
    RenewalDeclined,
    declined_renewals,
    record_credit_purchase,
    record_plan_purchase,
    record_refund,
)
from services.plans import PLANS, get_plan
from services.settings import Settings
from services.subscriptions import PLAN_DAYS, renewal_stopped, renewals_to_stop

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
            try:
                status = await record_plan_purchase(
                    context.deps.uow(),
                    account.id,
                    purchase,
                    code,
                    days=PLAN_DAYS,
                    now=utcnow(),
                    auto_renew=bool(payment.is_recurring),
                    credit_price_rp=settings.credit_price_rp,
                )
            except RenewalDeclined as declined:
                await message.reply_text(
                    text("chat.plans.renewal_declined", language, plan=declined.plan_code.title())
                )
            else:
                if status is not None:
                    await message.reply_text(
                        plan_started_text(status, language, zone=settings.zone)
                    )
            # A new plan may have replaced one that Telegram would renew, and a declined
            # renewal waits for its refund: settle both now rather than at the next tick.
            await settle_star_subscriptions(context.bot, context.deps)
        else:
            # Paid, but for nothing sold: keep it visible for an operator's /refund.
            log.error(
                "payment %s names no product: %r",
                payment.telegram_payment_charge_id,
                payment.invoice_payload,
            )
    except ServiceError as error:
        await message.reply_text(error_text(error, language))


async def settle_star_subscriptions(bot: Bot, deps: TelegramDeps) -> None:
    """Stop at Telegram the Stars renewals of replaced or cancelled plans, and refund the
    renewals that were declined; each is confirmed in the database once Telegram agreed.

    Runs after every plan change made in this chat and on a timer, for changes made
    elsewhere (credits, an operator, another channel). A failure leaves the rest for later.
    """
    async with deps.stars_settling:
        await _stop_renewals(bot, deps)
        await _refund_declined_renewals(bot, deps)


async def _stop_renewals(bot: Bot, deps: TelegramDeps) -> None:
    for stop in await renewals_to_stop(deps.uow(), PROVIDER):
        if stop.telegram_id is None:
            log.error(
                "renewal %s cannot be stopped: account %s left Telegram", stop, stop.account_id
            )
            continue
        try:
            await bot.edit_user_star_subscription(
                stop.telegram_id, stop.provider_subscription_id, is_canceled=True
            )
        except BadRequest as error:
            # Telegram knows no renewing subscription by this id (it expired or was
            # refunded): nothing is left to stop, and a declined renewal stays refundable.
            log.warning("stopping renewal %s: %s", stop.provider_subscription_id, error.message)
        except TelegramError:
            log.warning("renewal %s not stopped yet", stop.provider_subscription_id, exc_info=True)
            continue
        await renewal_stopped(deps.uow(), stop.subscription_id, now=utcnow())


async def _refund_declined_renewals(bot: Bot, deps: TelegramDeps) -> None:
    for payment in await declined_renewals(deps.uow(), PROVIDER):
        if payment.telegram_id is None:
            log.error("declined renewal %s: account left Telegram", payment.provider_charge_id)
            continue
        try:
            await bot.refund_star_payment(payment.telegram_id, payment.provider_charge_id)
        except BadRequest as error:
            if "REFUNDED" not in error.message.upper():
                log.error("refund of %s refused: %s", payment.provider_charge_id, error.message)
                continue
        except TelegramError:
            log.warning("refund of %s not made yet", payment.provider_charge_id, exc_info=True)
            continue
        # An operator's /refund may have recorded it meanwhile.
        with contextlib.suppress(PaymentAlreadyRefunded):
            await record_refund(deps.uow(), payment.provider_charge_id, now=utcnow())
