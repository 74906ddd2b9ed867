"""A stateful property test of the money, on real SQLite and PostgreSQL.

Hypothesis interleaves what people and Telegram do to one account (quotes, accepts, double
taps, settlements with failed images, Stars packs, Stars plans and their renewals, plans paid
with credits, switches, stop renewal, refunds, time passing) through the service layer, and
after every step checks what must always hold:

- the balance equals the ledger's sum and is never negative;
- no idempotency key or provider charge id is used twice;
- no day's quota is used beyond the largest plan active that day;
- every finished batch is refunded at most once, and by what it records;
- at most one plan is active, and at most one run renews;
- the plan is the one a small model of the rule expects (the same plan extends, another plan
  switches now and credits the old plan's unused days, a renewal of a replaced or stopped
  plan changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from db.engine import create_engine, create_session_factory
from db.models import Batch, DailyUsage, Job, JobStatus, LedgerEntry, Payment, Subscription
from db.uow import UnitOfWork
from services.billing import accept_quote, settle_batch
from services.errors import CannotAfford, InsufficientBalance, QuoteAlreadyUsed, QuoteExpired
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
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote

T = TypeVar("T")
STARS = "telegram_stars"
PLAN_CODES = st.sampled_from(["starter", "pro"])
_accounts = itertools.count(7_000_000)


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

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
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


def test_money_holds_under_any_interleaving(database_url: str) -> None:
    machine = type("Machine", (MoneyMachine,), {"database_url": database_url})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
