"""Actors that tell people about their money: rupiah receipts; refunds, expiries and
failures; renewal links; the reminders they want; and the inviter's referral reward.

Every notice but a receipt and the inviter's message is recorded before it is sent
(`reminders_sent`) and marked delivered only after the send succeeded; the periodic upkeep
retries the undelivered ones a bounded number of times, so a failed send is retried and a
delivered one never repeats.

They run on a queue of their own with a short time limit and a bounded retry budget, so a
slow chat platform neither delays the gateway's webhook nor holds a thread that images need.
Outside WhatsApp's 24-hour window a notice goes out as an approved template message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import dramatiq

from bot.chat import money
from bot.messages import text
from services.clock import utcnow
from services.pay_links import pay_url
from services.plans import get_plan
from services.referrals import (
    ReferrerNotice,
    claim_referrer_notice,
    release_referrer_notice,
    unannounced_rewards,
)
from services.reminders import (
    Reminder,
    ReminderRules,
    claim_due_reminders,
    lease_notice,
    notice_date,
    notice_delivered,
    reminders_enabled,
    undelivered_notices,
)
from services.settings import Settings
from services.topups import (
    Receipt,
    claim_receipt,
    claim_renewals,
    expire_unused_orders,
    lost_receipts,
    receipt_not_sent,
    receipt_sent,
)
from workers.actors import REFERRER_NOTICE_ACTOR, Runtime
from workers.delivery import Chat, DeliveryError, UnknownChannel

log = logging.getLogger(__name__)

PAYMENTS_QUEUE = "payments"
RECEIPT_ACTOR = "send_payment_receipt"
NOTICE_ACTOR = "send_chat_notice"
# Notices a person may turn off under /settings (payment news and renewal links stay on).
REMINDER_KINDS = frozenset({"low_balance", "plan_ending", "results_expiring"})
UPKEEP_ACTOR = "payment_upkeep"
# Rewards still announced by the upkeep when their first message was lost.
REFERRER_NOTICE_HORIZON = timedelta(days=7)
NOTICE_TIME_LIMIT_MS = 60_000
NOTICE_RETRIES = 6  # about an hour of backoff between 10 s and 15 min
RECEIPT_CLAIM_STALE = timedelta(minutes=5)
RECEIPT_GRACE = timedelta(minutes=10)
RECEIPT_GIVE_UP = timedelta(days=1)


# Midtrans's payment_type codes as people know the methods.
METHOD_NAMES = {
    "qris": "QRIS",
    "other_qris": "QRIS",
    "gopay": "GoPay",
    "shopeepay": "ShopeePay",
    "bank_transfer": "virtual account",
    "echannel": "Mandiri Bill",
    "permata": "Permata VA",
    "cstore": "Indomaret/Alfamart",
    "credit_card": "card",
}


@dataclass(frozen=True, slots=True)
class Template:
    """An approved WhatsApp template and the values of its body's {{1}}, {{2}}, ..."""

    name: str
    language: str
    parameters: Sequence[str]


@runtime_checkable
class SendsNotices(Protocol):
    """A channel that may reach a person outside a conversation (WhatsApp's templates)."""

    async def send_notice(self, chat: Chat, message: str, template: Template) -> None: ...


@dataclass(frozen=True, slots=True)
class PaymentActors:
    send_receipt: dramatiq.Actor[[str], None]
    upkeep: dramatiq.Actor[[], None]
    notify_referrer: dramatiq.Actor[[int], None]
    send_notice: dramatiq.Actor[[int], None]


def payment_actors(broker: dramatiq.Broker) -> PaymentActors:
    """The payment actors declared on `broker` by `declare_payment_actors`."""
    return PaymentActors(
        broker.get_actor(RECEIPT_ACTOR),
        broker.get_actor(UPKEEP_ACTOR),
        broker.get_actor(REFERRER_NOTICE_ACTOR),
        broker.get_actor(NOTICE_ACTOR),
    )


def referrer_notice_text(notice: ReferrerNotice) -> str:
    language = notice.language
    return text(
        "invite.referrer_rewarded",
        language,
        credits=money(notice.credits, language),
        balance=money(notice.balance, language),
    )


def _date(moment: datetime | None, settings: Settings) -> str:
    return moment.astimezone(settings.zone).strftime("%d-%m-%Y") if moment else "-"


def receipt_notice(receipt: Receipt, settings: Settings) -> tuple[str, Template]:
    """The receipt's text, and the same facts for the WhatsApp template."""
    language = receipt.language
    values: dict[str, Any] = {
        "amount": money(receipt.amount_rp, language),
        "method": METHOD_NAMES.get(receipt.method, receipt.method or "-"),
        "credits": money(receipt.credits, language),
        "balance": money(receipt.balance, language),
        "order_id": receipt.order_id,
    }
    if receipt.plan is not None:
        values["plan"] = receipt.plan.title()
        values["ends"] = _date(receipt.plan_ends, settings)
        body = text("pay.receipt.plan", language, **values)
        what = text("pay.plan.line", language, plan=values["plan"], amount=values["amount"])
    else:
        body = text("pay.receipt.credits", language, **values)
        what = text("pay.pack.line", language, amount=values["amount"], credits=values["credits"])
    template = Template(
        settings.whatsapp_template_receipt,
        language,
        [values["amount"], what, values["balance"], receipt.order_id],
    )
    return body, template


def renewal_notice(due: Reminder, settings: Settings) -> tuple[str, Template]:
    language = due.language
    plan_code = str(due.values["plan"])
    url = pay_url(
        settings.public_base_url,
        settings.payment_link_secret(),
        due.account_id,
        f"plan:{plan_code}",
        due.channel,
    )
    plan = plan_code.title()
    amount = money(get_plan(plan_code).price_rp, language)
    ends = _date(notice_date(due.values["ends"]), settings)
    body = text("pay.renewal", language, plan=plan, ends=ends, amount=amount, url=url)
    return body, Template(settings.whatsapp_template_renewal, language, [plan, ends, url])


def order_notice_text(notice: Reminder) -> str:
    """What became of an order: refunded (and what that took back), expired, or failed."""
    language = notice.language
    values = notice.values
    order_id = str(values["order_id"])
    amount = money(int(values["amount_rp"]), language)
    if notice.kind == "order_expired":
        how = _HOW.get(notice.channel, _HOW["telegram"])
        again = how["plan_ending"] if values.get("plan") else how["low_balance"]
        return text("pay.expired", language, amount=amount, order_id=order_id, how=again)
    if notice.kind == "order_failed":
        return text("pay.failed", language, amount=amount, order_id=order_id)
    refunded = money(int(values["refunded_rp"]), language)
    if values.get("plan"):
        key = "pay.refunded.plan_ended" if values.get("full") else "pay.refunded.plan_kept"
        plan = str(values["plan"]).title()
        return text(key, language, refunded=refunded, plan=plan, order_id=order_id)
    lines = [
        text(
            "pay.refunded.credits",
            language,
            refunded=refunded,
            credits=money(int(values["refunded_credits"]), language),
            order_id=order_id,
        )
    ]
    if int(values.get("shortfall") or 0) > 0:
        lines.append(
            text(
                "pay.refunded.shortfall",
                language,
                shortfall=money(int(values["shortfall"]), language),
            )
        )
    return "\n".join(lines)


def _as_template_value(message: str) -> str:
    """A template's body value may hold no line breaks (nor runs of spaces)."""
    return " · ".join(line.strip() for line in message.splitlines() if line.strip())


def notice_message(notice: Reminder, settings: Settings) -> tuple[str, Template]:
    """The text of a recorded notice, and the WhatsApp template that carries it outside the
    24-hour window."""
    if notice.kind == "renewal":
        return renewal_notice(notice, settings)
    if notice.kind.startswith("order_"):
        message = order_notice_text(notice)
    else:
        message = reminder_text(notice, settings)
    template = Template(
        settings.whatsapp_template_notice, notice.language, [_as_template_value(message)]
    )
    return message, template


async def send_notice(
    runtime: Runtime, channel: str, chat: Chat, message: str, template: Template
) -> None:
    """Send on the order's channel; orders made over the HTTP API have no chat to tell."""
    if channel == "api" or not chat:
        return
    delivery = runtime.channel(channel)
    if isinstance(delivery, SendsNotices):
        await delivery.send_notice(chat, message, template)
    else:
        await delivery.send_text(chat, message)


def declare_payment_actors(
    broker: dramatiq.Broker, runtime: Runtime, settings: Settings
) -> PaymentActors:
    """Declare the payment notice actors on `broker`, bound to this process's runtime."""

    async def send_payment_receipt(order_id: str) -> None:
        """Tell the person what they paid and what they got, once."""
        receipt = await claim_receipt(
            runtime.uow(), order_id, now=utcnow(), stale_after=RECEIPT_CLAIM_STALE
        )
        if receipt is None:
            return
        message, template = receipt_notice(receipt, settings)
        try:
            await send_notice(runtime, receipt.channel, receipt.chat, message, template)
        except BaseException:
            await receipt_not_sent(runtime.uow(), order_id)
            raise
        await receipt_sent(runtime.uow(), order_id, now=utcnow())

    async def notify_referrer(invitee_account_id: int) -> None:
        """Tell the inviter, once, that the invitation's reward is in their balance."""
        notice = await claim_referrer_notice(runtime.uow(), invitee_account_id, now=utcnow())
        if notice is None:
            return
        try:
            await runtime.channel(notice.channel).send_text(
                notice.chat, referrer_notice_text(notice)
            )
        except BaseException:
            # Not sent: the claim goes, and the retry (or the upkeep) claims it again.
            await release_referrer_notice(runtime.uow(), notice)
            raise

    async def send_chat_notice(notice_id: int) -> None:
        """Send one recorded notice (an order's refund, expiry or failure, or a retry of any
        notice), unless it was delivered or is being sent."""
        await deliver_notice(runtime, settings, notice_id)

    async def payment_upkeep() -> None:
        """Send renewal links of plans ending soon, reminders, the inviter's lost messages, and
        what else was lost on the way."""
        since = utcnow() - REFERRER_NOTICE_HORIZON
        for invitee in await unannounced_rewards(runtime.uow(), since=since):
            await asyncio.to_thread(actors.notify_referrer.send, invitee)
        await send_reminders(
            runtime,
            settings,
            skip_sources=frozenset({settings.payment_gateway})
            if settings.payments_enabled
            else frozenset(),
        )
        if settings.payments_enabled:
            await expire_unused_orders(runtime.uow(), now=utcnow())
            ahead = timedelta(days=settings.renewal_reminder_days)
            for notice_id in await claim_renewals(runtime.uow(), now=utcnow(), ahead=ahead):
                await deliver_notice(runtime, settings, notice_id)
        # Notices whose send failed or whose sender died: tried again, a bounded number of
        # times, each on the queue with its own time limit (an outage never stalls the upkeep).
        for notice_id in await undelivered_notices(runtime.uow(), now=utcnow()):
            await asyncio.to_thread(actors.send_notice.send, notice_id)
        if not settings.payments_enabled:
            return
        lost = await lost_receipts(
            runtime.uow(), now=utcnow(), grace=RECEIPT_GRACE, give_up_after=RECEIPT_GIVE_UP
        )
        for order_id in lost:
            await asyncio.to_thread(actors.send_receipt.send, order_id)

    def on_payments_queue(
        name: str, fn: Any, *, time_limit: int = NOTICE_TIME_LIMIT_MS, retries: int = NOTICE_RETRIES
    ) -> Any:
        return dramatiq.actor(
            actor_name=name,
            queue_name=PAYMENTS_QUEUE,
            broker=broker,
            time_limit=time_limit,
            max_retries=retries,
            min_backoff=10_000,
            max_backoff=15 * 60_000,
        )(fn)

    actors = PaymentActors(
        send_receipt=on_payments_queue(RECEIPT_ACTOR, send_payment_receipt),
        upkeep=on_payments_queue(UPKEEP_ACTOR, payment_upkeep, time_limit=10 * 60_000, retries=0),
        notify_referrer=on_payments_queue(REFERRER_NOTICE_ACTOR, notify_referrer),
        # Retried by the upkeep (after NOTICE_STALE, NOTICE_ATTEMPTS tries at most), not here.
        send_notice=on_payments_queue(NOTICE_ACTOR, send_chat_notice, retries=0),
    )
    return actors


# How each channel says "do this": a command on Telegram, a word on WhatsApp.
_HOW = {
    "telegram": {
        "low_balance": "/buy",
        "plan_ending": "/subscribe",
        "results_expiring": "/history",
        "off": "/settings",
    },
    "whatsapp": {
        "low_balance": "*beli*",
        "plan_ending": "*subscribe*",
        "results_expiring": "📥",
        "off": "*pengingat mati*",
    },
}


def reminder_text(reminder: Reminder, settings: Settings) -> str:
    language = reminder.language
    how = _HOW.get(reminder.channel, _HOW["telegram"])
    values = reminder.values
    if reminder.kind == "low_balance":
        body = text(
            "remind.low_balance",
            language,
            balance=money(int(values["balance"]), language),
            how=how["low_balance"],
        )
    elif reminder.kind == "plan_ending":
        body = text(
            "remind.plan_ending",
            language,
            plan=str(values["plan"]).title(),
            ends=_date(notice_date(values["ends"]), settings),
            how=how["plan_ending"],
        )
    else:
        body = text(
            "remind.results_expiring",
            language,
            batch=values["batch_id"],
            ends=_date(notice_date(values["deleted_at"]), settings),
            how=how["results_expiring"],
        )
    return f"{body}\n{text('remind.off_hint', language, how=how['off'])}"


async def deliver_notice(runtime: Runtime, settings: Settings, notice_id: int) -> bool:
    """Send a recorded notice if nobody else is, and mark it delivered only once the send
    succeeded; a failed send is left for the upkeep to retry. True when delivered now."""
    notice = await lease_notice(runtime.uow(), notice_id, now=utcnow())
    if notice is None:
        return False
    if notice.kind in REMINDER_KINDS and not await reminders_enabled(
        runtime.uow(), notice.account_id
    ):
        # Turned off since it was recorded: settled without a word.
        await notice_delivered(runtime.uow(), notice_id, now=utcnow())
        return False
    message, template = notice_message(notice, settings)
    try:
        await send_notice(runtime, notice.channel, notice.chat, message, template)
    except (DeliveryError, UnknownChannel):
        log.warning(
            "%s notice of account %s not sent; the upkeep tries again",
            notice.kind,
            notice.account_id,
            exc_info=True,
        )
        return False
    await notice_delivered(runtime.uow(), notice_id, now=utcnow())
    return True


async def send_reminders(
    runtime: Runtime, settings: Settings, *, skip_sources: frozenset[str]
) -> None:
    """Send the reminders due now, each recorded once and delivered at least once; on WhatsApp
    outside the 24-hour window as the approved template `WHATSAPP_TEMPLATE_NOTICE`."""
    rules = ReminderRules(
        low_balance_credits=settings.low_balance_credits,
        plan_ahead=timedelta(days=settings.renewal_reminder_days),
        retention=timedelta(days=settings.retention_days),
        skip_plan_sources=skip_sources,
    )
    for reminder in await claim_due_reminders(runtime.uow(), rules, now=utcnow()):
        await deliver_notice(runtime, settings, reminder.notice_id)
