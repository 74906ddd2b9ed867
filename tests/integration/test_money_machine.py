"""A stateful property test of the money, on real SQLite and PostgreSQL.

Hypothesis interleaves what people, Telegram and the rupiah gateway do to one account (quotes,
accepts, double taps, settlements with failed images, Stars packs, Stars plans and their
renewals, plans paid with credits, switches, stop renewal, refunds, time passing; rupiah pack and
plan orders opened through `midtransclient` against the fake Midtrans on 127.0.0.1, paid with
the notification delivered once, twice or concurrently, underpaid, expired by the gateway or by
the sweep, refunded in part and in full after credits were spent) through the service layer,
and after every step checks what must always hold:

- the balance equals the ledger's sum and is never negative;
- no idempotency key or provider charge id is used twice;
- no day's quota is used beyond the largest plan active that day;
- every finished batch is refunded at most once, and by what it records;
- at most one plan is active, and at most one run renews;
- the plan is the one a small model of the rule expects (the same plan extends, another plan
  switches now and credits the old plan's unused days, a renewal of a replaced or stopped
  plan changes nothing), whether it was paid in Stars, in credits or by a rupiah order;
- a rupiah order moves money only once it reads as paid, and then exactly once (one payment
  row, one purchase entry of its credits);
- a refunded order takes back, through its own ledger entries, what was still there and records
  the rest as its shortfall: taken + shortfall is what the refunded rupiah owe, never more.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from db.engine import create_engine, create_session_factory
from db.models import (
    Batch,
    DailyUsage,
    Job,
    JobStatus,
    LedgerEntry,
    OrderStatus,
    Payment,
    PaymentOrder,
    Subscription,
)
from db.uow import UnitOfWork
from services.billing import accept_quote, settle_batch
from services.errors import CannotAfford, InsufficientBalance, QuoteAlreadyUsed, QuoteExpired
from services.gateway.registry import GatewayConfig, build_gateway
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
from services.plans import PLAN_PERIOD, get_plan, quota_day, unused_plan_credits
from services.pricing import Tier
from services.subscriptions import (
    NoActiveSubscription,
    buy_plan_with_credits,
    cancel,
    renewal_stopped,
    renewals_to_stop,
)
from services.topups import Catalog, NotificationOutcome, Payments, expire_unused_orders
from tests.fakes.midtrans_api import FakeMidtrans
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote

T = TypeVar("T")
STARS = "telegram_stars"
PLAN_CODES = st.sampled_from(["starter", "pro"])
_accounts = itertools.count(7_000_000)
SERVER_KEY = "SB-Mid-server-money-machine"
RUPIAH_PACKS = {50_000: 500, 100_000: 1_050}
ORDER_PRODUCTS = st.sampled_from(["pack:50000", "pack:100000", "plan:starter", "plan:pro"])
DELIVERIES = st.sampled_from(["once", "twice", "concurrently"])
WAITING = (None, "pending")  # Midtrans's word on an order nobody paid yet
SETTLED = ("settlement", "partial_refund")
PAID_ORDER = {OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED}


class MoneyMachine(RuleBasedStateMachine):
    """One account, driven by Hypothesis; `database_url` is set by the test."""

    database_url: str

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(self.database_url)
        self.sessions = create_session_factory(self.engine)
        self.now = NOON
        self.charges = itertools.count(1)
        self.telegram_id = next(_accounts)
        self.account = self.run(new_account(self.uow(), telegram_id=self.telegram_id, credits=200))
        self.quotes: list[str] = []
        self.batches: list[int] = []
        self.packs: list[str] = []
        self.last_charge: dict[str, str] = {}
        # The model: the current plan and its end, the plan whose Stars subscription renews,
        # the credits every switch gave back, and the request keys of plans paid in credits.
        self.plan: tuple[str, datetime] | None = None
        self.renewing: str | None = None
        self.plan_credits = 0
        self.keys_used: set[int] = set()
        # What Telegram holds: the Stars subscriptions it still renews.
        self.telegram_renews_ids: set[str] = set()
        # The rupiah gateway: the fake Midtrans on this loop, the real client, and the orders
        # opened (order id to product) and those whose payment was applied.
        self.midtrans = FakeMidtrans(server_key=SERVER_KEY)
        self.run(self.midtrans.start())
        gateway = build_gateway(
            "midtrans",
            GatewayConfig(
                server_key=SERVER_KEY,
                production=False,
                api_url=self.midtrans.api_url,
                checkout_url=self.midtrans.snap_url,
                timeout_seconds=5,
            ),
        )
        self.payments = Payments(
            gateway, Catalog(RUPIAH_PACKS), link_ttl=timedelta(hours=24), threads=3
        )
        self.orders: dict[str, str] = {}
        self.orders_paid: set[str] = set()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.payments.close()
        self.run(self.midtrans.close())
        self.run(self.engine.dispose())
        self.loop.close()

    def charge_id(self) -> str:
        return f"{self.telegram_id}-{next(self.charges)}"

    async def balance(self) -> int:
        async with self.uow() as uow:
            account = await uow.accounts.get(self.account)
            assert account is not None
            return account.balance

    def model_apply(self, plan: str) -> None:
        """The rule: the same active plan extends; another plan switches now."""
        if self.plan is not None and self.plan[1] > self.now and self.plan[0] == plan:
            self.plan = (plan, self.plan[1] + PLAN_PERIOD)
            return
        if self.plan is not None and self.plan[1] > self.now:
            self.plan_credits += unused_plan_credits(
                get_plan(self.plan[0]), paid_until=self.plan[1], now=self.now, credit_price_rp=100
            )
        self.plan = (plan, self.now + PLAN_PERIOD)

    # --- quotes and batches ---

    @rule(images=st.integers(1, 60))
    def quote(self, images: int) -> None:
        offer = self.run(new_quote(self.uow(), self.account, images, now=self.now))
        self.quotes.append(offer.quote_id)

    @rule(data=st.data(), tier=st.sampled_from(list(Tier)))
    def accept(self, data: st.DataObject, tier: Tier) -> None:
        if not self.quotes:
            return
        quote_id = data.draw(st.sampled_from(self.quotes))
        before = self.run(self.balance())
        try:
            accepted = self.run(
                accept_quote(self.uow(), quote_id, self.account, tier, zone=JAKARTA, now=self.now)
            )
        except (CannotAfford, QuoteAlreadyUsed, QuoteExpired):
            assert self.run(self.balance()) == before  # a refusal takes nothing
            return
        assert self.run(self.balance()) == before - accepted.credits_charged
        self.batches.append(accepted.batch_id)
        # A double tap on the same quote, whatever tier, charges nothing more
        try:
            self.run(
                accept_quote(self.uow(), quote_id, self.account, tier, zone=JAKARTA, now=self.now)
            )
        except QuoteAlreadyUsed:
            pass
        else:
            raise AssertionError("a quote was accepted twice")
        assert self.run(self.balance()) == before - accepted.credits_charged

    @rule(data=st.data(), failed_share=st.floats(0, 1), twice=st.booleans())
    def settle(self, data: st.DataObject, failed_share: float, twice: bool) -> None:
        if not self.batches:
            return
        batch_id = data.draw(st.sampled_from(self.batches))

        async def finish_jobs() -> None:
            async with self.uow() as uow:
                jobs = await uow.jobs.for_batch(batch_id)
                failed = round(len(jobs) * failed_share)
                for job in jobs:
                    if job.status in {JobStatus.QUEUED, JobStatus.RUNNING}:
                        job.status = JobStatus.FAILED if job.position < failed else JobStatus.DONE
                await uow.commit()

        self.run(finish_jobs())
        first = self.run(settle_batch(self.uow(), batch_id, now=self.now))
        if twice:
            again = self.run(settle_batch(self.uow(), batch_id, now=self.now))
            assert again == first

    # --- Stars and credits ---

    @rule(credits=st.sampled_from([100, 500]), twice=st.booleans())
    def buy_pack(self, credits: int, twice: bool) -> None:
        purchase = Purchase(
            STARS, self.charge_id(), f"pack:{credits}", credits // 2, "XTR", credits
        )
        assert self.run(record_credit_purchase(self.uow(), self.account, purchase, now=self.now))
        self.packs.append(purchase.provider_charge_id)
        if twice:  # Telegram delivers the same payment again
            assert not self.run(
                record_credit_purchase(self.uow(), self.account, purchase, now=self.now)
            )

    async def _pay_plan(self, plan: str, charge_id: str, *, first: bool) -> bool:
        """Pay a Stars plan; False when it was a renewal that was declined."""
        purchase = Purchase(
            STARS, charge_id, f"plan:{plan}" + (SUBSCRIPTION_START if first else ""), 480, "XTR"
        )
        try:
            await record_plan_purchase(
                self.uow(), self.account, purchase, plan, days=30, now=self.now, auto_renew=True
            )
        except RenewalDeclined:
            return False
        return True

    @rule(plan=PLAN_CODES, twice=st.booleans())
    def subscribe_with_stars(self, plan: str, twice: bool) -> None:
        charge_id = self.charge_id()
        assert self.run(self._pay_plan(plan, charge_id, first=True))
        self.model_apply(plan)
        self.renewing = plan
        self.last_charge[plan] = charge_id
        self.telegram_renews_ids.add(charge_id)
        if twice:  # a repeated delivery changes nothing
            assert self.run(self._pay_plan(plan, charge_id, first=True))

    @rule(plan=PLAN_CODES)
    def telegram_renews(self, plan: str) -> None:
        # Telegram renews what it still thinks renews: possibly a plan replaced or cancelled
        if plan not in self.last_charge:
            return
        applied = self.run(self._pay_plan(plan, self.charge_id(), first=False))
        assert applied == (self.renewing == plan)
        if applied:
            self.model_apply(plan)

    @rule(plan=PLAN_CODES, key=st.integers(0, 3))
    def buy_plan_with_credits(self, plan: str, key: int) -> None:
        try:
            self.run(
                buy_plan_with_credits(
                    self.uow(),
                    self.account,
                    plan,
                    credit_price_rp=100,
                    request_key=f"{self.telegram_id}-{key}",
                    now=self.now,
                )
            )
        except (InsufficientBalance, NoActiveSubscription):
            return
        if key in self.keys_used:
            return  # the same request again: nothing more is bought
        self.keys_used.add(key)
        extends = self.plan is not None and self.plan[1] > self.now and self.plan[0] == plan
        self.model_apply(plan)
        if not extends:
            self.renewing = None

    @rule()
    def stop_renewal(self) -> None:
        with contextlib.suppress(NoActiveSubscription):
            self.run(cancel(self.uow(), self.account, now=self.now))
        self.renewing = None

    @rule()
    def telegram_settles(self) -> None:
        """What the bot does with Telegram: stop renewals, refund declined renewals."""

        async def settle() -> None:
            for stop in await renewals_to_stop(self.uow(), STARS):
                self.telegram_renews_ids.discard(stop.provider_subscription_id)
                await renewal_stopped(self.uow(), stop.subscription_id, now=self.now)
            for payment in await declined_renewals(self.uow(), STARS):
                await record_refund(self.uow(), payment.provider_charge_id, now=self.now)

        self.run(settle())

    @rule(data=st.data())
    def operator_refunds_a_pack(self, data: st.DataObject) -> None:
        if self.packs:
            charge_id = data.draw(st.sampled_from(self.packs))
            with contextlib.suppress(PaymentAlreadyRefunded):
                self.run(record_refund(self.uow(), charge_id, now=self.now))

    @rule(hours=st.sampled_from([1, 7, 30, 24 * 10, 24 * 29, 24 * 31]))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # --- rupiah orders through the gateway ---

    def gateway_state(self, order_id: str) -> str | None:
        """What Midtrans says of the order: None until a method is picked on the page."""
        return self.midtrans.transactions[order_id].status

    def orders_in(self, states: tuple[str | None, ...]) -> list[str]:
        return [o for o in self.orders if self.gateway_state(o) in states]

    async def order(self, order_id: str) -> PaymentOrder:
        async with self.uow() as uow:
            order = await uow.orders.get(order_id)
            assert order is not None
            return order

    def notify(self, order_id: str, delivery: str) -> list[NotificationOutcome]:
        """Midtrans posts what it knows of the order: once, twice, or three times at once."""
        body = self.midtrans.notification(order_id)

        async def deliver() -> NotificationOutcome:
            found, outcome = await self.payments.handle_notification(
                self.uow(), body, {}, now=self.now
            )
            assert found == order_id
            return outcome

        if delivery == "concurrently":

            async def together() -> list[NotificationOutcome]:
                return list(await asyncio.gather(*(deliver() for _ in range(3))))

            return self.run(together())
        return [self.run(deliver()) for _ in range(2 if delivery == "twice" else 1)]

    def spend_most_of_the_balance(self) -> None:
        """Accept the largest quote the balance pays at the dearest tier."""
        images = min(60, self.run(self.balance()) // Tier.INDUSTRY.credits_per_image)
        if images < 1:
            return
        offer = self.run(new_quote(self.uow(), self.account, images, now=self.now))
        with contextlib.suppress(CannotAfford):
            accepted = self.run(
                accept_quote(
                    self.uow(),
                    offer.quote_id,
                    self.account,
                    Tier.INDUSTRY,
                    zone=JAKARTA,
                    now=self.now,
                )
            )
            self.batches.append(accepted.batch_id)

    def open_page(self, product: str) -> str:
        before = self.run(self.balance())
        order = self.run(
            self.payments.open_order(
                self.uow(),
                self.account,
                product,
                channel="telegram",
                chat={"chat_id": self.telegram_id},
                now=self.now,
            )
        )
        assert (order.product, order.status) == (product, OrderStatus.PENDING)
        assert order.payment_url
        self.orders[order.order_id] = product  # a second tap gets the same open page back
        assert self.run(self.balance()) == before  # a page costs nothing
        return order.order_id

    def pay(self, order_id: str, delivery: str, short: bool) -> None:
        """The person pays (in full, or half the amount); Midtrans notifies."""
        product = self.payments.catalog.product(self.orders[order_id])
        before = self.run(self.balance())
        self.midtrans.pay(order_id, "qris", amount=product.amount_rp // 2 if short else None)
        outcomes = self.notify(order_id, delivery)
        if short:  # nothing is applied: the order waits for an operator
            assert NotificationOutcome.AMOUNT_MISMATCH in outcomes
            assert set(outcomes) <= {
                NotificationOutcome.AMOUNT_MISMATCH,
                NotificationOutcome.NO_CHANGE,
            }
            assert self.run(self.balance()) == before
            return
        # However often and however concurrently it is delivered, it is applied once
        assert outcomes.count(NotificationOutcome.PAID) == 1
        assert outcomes.count(NotificationOutcome.NO_CHANGE) == len(outcomes) - 1
        self.orders_paid.add(order_id)
        event(f"rupiah {product.code.split(':')[0]} paid, delivered {delivery}")
        credited = product.credits
        if product.plan is not None:
            extends = (
                self.plan is not None and self.plan[1] > self.now and self.plan[0] == product.plan
            )
            switch_credits = self.plan_credits
            self.model_apply(product.plan)
            credited = self.plan_credits - switch_credits
            if not extends:
                self.renewing = None
        assert self.run(self.balance()) == before + credited

    @rule(product=ORDER_PRODUCTS)
    def open_order(self, product: str) -> None:
        self.open_page(product)

    @rule(product=ORDER_PRODUCTS, delivery=DELIVERIES)
    def open_order_and_pay(self, product: str, delivery: str) -> None:
        order_id = self.open_page(product)
        if self.gateway_state(order_id) in WAITING:
            self.pay(order_id, delivery, short=False)

    @precondition(lambda self: self.orders_in(WAITING))
    @rule(data=st.data(), delivery=DELIVERIES, short=st.sampled_from([False, False, True]))
    def gateway_pays(self, data: st.DataObject, delivery: str, short: bool) -> None:
        self.pay(data.draw(st.sampled_from(self.orders_in(WAITING))), delivery, short)

    @precondition(lambda self: self.orders_in(WAITING))
    @rule(data=st.data())
    def gateway_expires(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.orders_in(WAITING)))
        status = self.run(self.order(order_id)).status
        before = self.run(self.balance())
        if self.gateway_state(order_id) is None:
            self.midtrans.choose(order_id)  # the person picked QRIS and never paid
        self.midtrans.expire(order_id)
        (outcome,) = self.notify(order_id, "once")
        event(f"rupiah order expired by the gateway: {outcome}")
        expected = NotificationOutcome.CLOSED if status == OrderStatus.PENDING else "no_change"
        assert outcome == expected
        assert self.run(self.balance()) == before

    @rule()
    def the_sweep_closes_unused_pages(self) -> None:
        before = self.run(self.balance())
        self.run(expire_unused_orders(self.uow(), now=self.now))
        assert self.run(self.balance()) == before

    @precondition(lambda self: self.orders_in(SETTLED))
    @rule(
        data=st.data(),
        share=st.sampled_from([None, 4, 2]),
        spend_first=st.booleans(),
        delivery=DELIVERIES,
    )
    def gateway_refunds(
        self, data: st.DataObject, share: int | None, spend_first: bool, delivery: str
    ) -> None:
        """Midtrans refunds a quarter, a half, or all that is left of a paid order."""
        order_id = data.draw(st.sampled_from(self.orders_in(SETTLED)))
        if spend_first:
            self.spend_most_of_the_balance()
        was = self.run(self.order(order_id))
        before = self.run(self.balance())
        txn = self.midtrans.transactions[order_id]
        if share is None:
            self.midtrans.refund(order_id)
        else:
            left = txn.gross_amount - txn.refund_amount
            self.midtrans.refund(order_id, min(left, txn.gross_amount // share))
        outcomes = self.notify(order_id, delivery)
        after = self.run(self.balance())
        event(f"rupiah refund of a {was.product.split(':')[0]}: {done_kind(was, share)}")
        if was.status not in PAID_ORDER:  # underpaid: never applied, nothing to take back
            assert set(outcomes) == {NotificationOutcome.NO_CHANGE}
            assert after == before
            return
        assert outcomes.count(NotificationOutcome.REFUNDED) == 1
        assert outcomes.count(NotificationOutcome.NO_CHANGE) == len(outcomes) - 1
        done = self.run(self.order(order_id))
        taken = done.refunded_credits - was.refunded_credits
        short = done.refund_shortfall - was.refund_shortfall
        assert after == before - taken
        if was.plan is None:
            # What the refunded rupiah owe is taken back, or recorded as spent, never below 0
            assert taken + short == _owed(done) - _owed(was)
            assert short == 0 or after == 0
            if short:
                event("rupiah pack refund met spent credits: shortfall recorded")
            return
        # A refunded plan order ends the plan it bought, if that plan is still the one
        current = self.plan if self.plan is not None and self.plan[1] > self.now else None
        if done.status == OrderStatus.REFUNDED and current is not None and current[0] == was.plan:
            self.plan = (was.plan, self.now)
            if self.renewing == was.plan:
                self.renewing = None

    # --- what always holds ---

    @invariant()
    def balance_is_the_ledger_sum_and_never_negative(self) -> None:
        async def check() -> None:
            async with self.uow() as uow:
                account = await uow.accounts.get(self.account)
                assert account is not None
                total = await uow.ledger.total(self.account)
                assert account.balance == total >= 0

        self.run(check())

    @invariant()
    def no_key_or_charge_is_used_twice(self) -> None:
        async def check() -> None:
            async with self.uow() as uow:
                for column in (LedgerEntry.idempotency_key, Payment.provider_charge_id):
                    repeated = await uow.session.execute(
                        select(column).group_by(column).having(func.count() > 1)
                    )
                    assert repeated.all() == []

        self.run(check())

    @invariant()
    def quota_used_fits_the_plans_of_the_day(self) -> None:
        async def check() -> None:
            async with self.uow() as uow:
                days = await uow.session.execute(
                    select(DailyUsage).where(DailyUsage.account_id == self.account)
                )
                runs = (
                    await uow.session.execute(
                        select(Subscription).where(Subscription.account_id == self.account)
                    )
                ).scalars()
                spans = [(run.period_start, run.period_end, get_plan(run.plan)) for run in runs]
                for usage in days.scalars():
                    plans = [
                        plan
                        for start, end, plan in spans
                        if quota_day(start, JAKARTA) <= usage.day <= quota_day(end, JAKARTA)
                    ]
                    daily = max((p.daily_removals for p in plans), default=0)
                    premium = max((p.premium_daily_cap or 0 for p in plans), default=0)
                    assert 0 <= usage.removals <= daily
                    assert 0 <= usage.premium_removals <= premium

        self.run(check())

    @invariant()
    def each_finished_batch_is_refunded_at_most_once(self) -> None:
        async def check() -> None:
            async with self.uow() as uow:
                for batch_id in self.batches:
                    batch = await uow.session.get(Batch, batch_id)
                    assert batch is not None
                    refunds = (
                        (
                            await uow.session.execute(
                                select(LedgerEntry.delta).where(
                                    LedgerEntry.reference == f"batch:{batch_id}",
                                    LedgerEntry.reason == "refund",
                                )
                            )
                        )
                        .scalars()
                        .all()
                    )
                    assert len(refunds) <= 1
                    assert sum(refunds) == batch.refunded_credits <= batch.credits_charged
                    if batch.settled_at is None:
                        assert not refunds
                    else:
                        failed = await uow.session.scalar(
                            select(func.count(Job.id)).where(
                                Job.batch_id == batch_id, Job.status == JobStatus.FAILED
                            )
                        )
                        assert batch.failed_count == failed

        self.run(check())

    @invariant()
    def one_plan_is_active_and_one_run_renews(self) -> None:
        async def check(now: datetime) -> None:
            async with self.uow() as uow:
                runs = (
                    (
                        await uow.session.execute(
                            select(Subscription).where(Subscription.account_id == self.account)
                        )
                    )
                    .scalars()
                    .all()
                )
                active = [
                    r
                    for r in runs
                    if r.replaced_at is None and r.period_start <= now < r.period_end
                ]
                renewing = [
                    r for r in runs if r.provider_subscription_id and r.cancelled_at is None
                ]
                assert len(active) <= 1 and len(renewing) <= 1

        self.run(check(self.now))

    @invariant()
    def the_subscription_wanted_is_never_stopped(self) -> None:
        if self.renewing is not None:
            assert self.last_charge[self.renewing] in self.telegram_renews_ids

    @invariant()
    def the_plan_follows_the_rule(self) -> None:
        async def check() -> None:
            async with self.uow() as uow:
                active = await uow.subscriptions.active(self.account, self.now)
                entries = await uow.ledger.entries(self.account)
            expected = self.plan if self.plan is not None and self.plan[1] > self.now else None
            found = (active.plan, active.period_end) if active else None
            assert found == expected
            credited = sum(e.delta for e in entries if e.reason == "plan_credit")
            assert credited == self.plan_credits

        self.run(check())

    @invariant()
    def an_order_moves_money_once_and_only_when_paid(self) -> None:
        async def check() -> None:
            async with self.uow() as uow:
                orders = (
                    await uow.session.execute(
                        select(PaymentOrder).where(PaymentOrder.account_id == self.account)
                    )
                ).scalars()
                for order in orders:
                    payments = (
                        (
                            await uow.session.execute(
                                select(Payment).where(Payment.provider_charge_id == order.id)
                            )
                        )
                        .scalars()
                        .all()
                    )
                    credited = (
                        (
                            await uow.session.execute(
                                select(LedgerEntry.delta).where(
                                    LedgerEntry.idempotency_key
                                    == f"purchase:{order.provider}:{order.id}"
                                )
                            )
                        )
                        .scalars()
                        .all()
                    )
                    paid = order.status in PAID_ORDER
                    assert paid == (order.id in self.orders_paid) == (order.paid_at is not None)
                    assert len(payments) == (1 if paid else 0)
                    assert credited == ([order.credits] if paid and order.credits else [])
                    for payment in payments:
                        assert payment.amount == order.amount_rp
                        refunded = order.status == OrderStatus.REFUNDED
                        assert (payment.refunded_at is not None) == refunded

        self.run(check())

    @invariant()
    def a_refund_takes_back_what_is_left_and_records_the_shortfall(self) -> None:
        async def check() -> None:
            async with self.uow() as uow:
                orders = (
                    await uow.session.execute(
                        select(PaymentOrder).where(PaymentOrder.account_id == self.account)
                    )
                ).scalars()
                for order in orders:
                    taken = await uow.session.scalar(
                        select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
                            LedgerEntry.idempotency_key.like(f"gateway_refund:{order.id}:%")
                        )
                    )
                    assert order.refunded_credits == -(taken or 0)
                    assert 0 <= order.refunded_credits <= order.credits
                    assert order.refund_shortfall >= 0
                    assert 0 <= order.refunded_amount_rp <= order.amount_rp
                    if order.status not in {
                        OrderStatus.PARTIALLY_REFUNDED,
                        OrderStatus.REFUNDED,
                    }:
                        assert order.refunded_amount_rp == 0
                    if order.plan is not None:
                        assert order.refunded_credits == order.refund_shortfall == 0
                    else:
                        assert order.refunded_credits + order.refund_shortfall == _owed(order)

        self.run(check())


def done_kind(order: PaymentOrder, share: int | None) -> str:
    if order.status not in PAID_ORDER:
        return "never applied"
    return "all that is left" if share is None else f"1/{share}"


def _owed(order: PaymentOrder) -> int:
    """The credits a pack order's refunds so far take back: in proportion, all when full."""
    if order.status == OrderStatus.REFUNDED:
        return order.credits
    return order.credits * order.refunded_amount_rp // order.amount_rp


def test_money_holds_under_any_interleaving(database_url: str) -> None:
    machine = type("Machine", (MoneyMachine,), {"database_url": database_url})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
