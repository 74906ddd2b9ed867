"""Rupiah top-ups and plans through Midtrans: the real client against a fake Midtrans."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot.cli import cli
from db.models import OrderStatus
from services.gateway.base import GatewayError, InvalidNotification
from services.gateway.registry import GatewayConfig, UnknownGateway, build_gateway
from services.reminders import (
    NOTICE_ATTEMPTS,
    NOTICE_STALE,
    claim_notice,
    lease_notice,
    notice_date,
    notice_delivered,
    undelivered_notices,
)
from services.topups import (
    Catalog,
    NotificationOutcome,
    Payments,
    PaymentsUnavailable,
    claim_order_notice,
    claim_receipt,
    claim_renewals,
    expire_unused_orders,
    get_order,
    income_by_method,
    lost_receipts,
    receipt_not_sent,
    receipt_sent,
    recent_orders,
)
from tests.fakes.midtrans_api import FakeMidtrans
from tests.integration.helpers import NOON, new_account

SERVER_KEY = "SB-Mid-server-test-key"
PACKS = {50_000: 500, 100_000: 1_050, 250_000: 2_750}


@pytest.fixture
async def midtrans():
    fake = FakeMidtrans(server_key=SERVER_KEY)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def payments(midtrans):
    gateway = build_gateway(
        "midtrans",
        GatewayConfig(
            server_key=SERVER_KEY,
            production=False,
            api_url=midtrans.api_url,
            checkout_url=midtrans.snap_url,
            timeout_seconds=5,
        ),
    )
    service = Payments(gateway, Catalog(PACKS), link_ttl=timedelta(hours=24))
    yield service
    service.close()


async def _balance(make_uow, account_id: int) -> int:
    async with make_uow() as uow:
        account = await uow.accounts.get(account_id)
        assert account is not None
        assert await uow.ledger.total(account_id) == account.balance
        return int(account.balance)


async def _open(payments, make_uow, account_id: int, product: str = "pack:100000"):
    return await payments.open_order(
        make_uow(), account_id, product, channel="telegram", chat={"chat_id": 1001}, now=NOON
    )


async def test_paid_pack_credits_once_and_repeat_notification_changes_nothing(
    payments, midtrans, make_uow
):
    # Given an account that opened a payment page for the Rp 100,000 pack
    account_id = await new_account(make_uow(), credits=30)
    order = await _open(payments, make_uow, account_id)
    assert order.payment_url.startswith(midtrans.api_url)
    assert midtrans.transactions[order.order_id].request["transaction_details"] == {
        "order_id": order.order_id,
        "gross_amount": 100_000,
    }
    # When Midtrans notifies the settlement, twice
    midtrans.pay(order.order_id, "gopay")
    body = midtrans.notification(order.order_id)
    first = await payments.handle_notification(make_uow(), body, {}, now=NOON)
    second = await payments.handle_notification(make_uow(), body, {}, now=NOON)
    # Then the pack is credited once, with its bonus, and the order says how it was paid
    assert first == (order.order_id, NotificationOutcome.PAID)
    assert second == (order.order_id, NotificationOutcome.NO_CHANGE)
    assert await _balance(make_uow, account_id) == 30 + 1_050
    view = await get_order(make_uow(), account_id, order.order_id)
    assert (view.status, view.method) == (OrderStatus.PAID, "gopay")


async def test_second_tap_reuses_the_open_payment_page(payments, midtrans, make_uow):
    account_id = await new_account(make_uow())
    first = await _open(payments, make_uow, account_id)
    again = await _open(payments, make_uow, account_id)
    assert again.order_id == first.order_id
    assert len(midtrans.transactions) == 1


async def test_forged_signature_is_refused_and_credits_nothing(payments, midtrans, make_uow):
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id)
    midtrans.pay(order.order_id)
    body = midtrans.notification(order.order_id)
    body["signature_key"] = "0" * 128
    with pytest.raises(InvalidNotification):
        await payments.handle_notification(make_uow(), body, {}, now=NOON)
    assert midtrans.status_calls == 0
    assert await _balance(make_uow, account_id) == 0


async def test_notification_the_api_contradicts_credits_nothing(payments, midtrans, make_uow):
    # Given a page where the person chose QRIS but has not paid
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id)
    midtrans.choose(order.order_id)
    # When a correctly signed notification claims a settlement
    body = midtrans.notification(order.order_id, transaction_status="settlement", status_code="200")
    outcome = await payments.handle_notification(make_uow(), body, {}, now=NOON)
    # Then the API's word (pending) wins
    assert outcome[1] is NotificationOutcome.NO_CHANGE
    assert midtrans.status_calls == 1
    assert await _balance(make_uow, account_id) == 0
    view = await get_order(make_uow(), account_id, order.order_id)
    assert view.status == OrderStatus.PENDING


async def test_expired_order_credits_nothing_and_is_closed(payments, midtrans, make_uow):
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id)
    midtrans.expire(order.order_id)
    outcome = await payments.handle_notification(
        make_uow(), midtrans.notification(order.order_id), {}, now=NOON
    )
    assert outcome[1] is NotificationOutcome.CLOSED
    assert await _balance(make_uow, account_id) == 0
    view = await get_order(make_uow(), account_id, order.order_id)
    assert view.status == OrderStatus.EXPIRED


async def test_underpaid_order_is_held_for_an_operator(payments, midtrans, make_uow):
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id)
    midtrans.pay(order.order_id, amount=50_000)
    outcome = await payments.handle_notification(
        make_uow(), midtrans.notification(order.order_id), {}, now=NOON
    )
    assert outcome[1] is NotificationOutcome.AMOUNT_MISMATCH
    assert await _balance(make_uow, account_id) == 0


async def test_refund_takes_credits_back_once_and_never_below_zero(payments, midtrans, make_uow):
    # Given a paid Rp 50,000 pack (500 credits) of which 400 were spent
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id, "pack:50000")
    midtrans.pay(order.order_id)
    await payments.handle_notification(
        make_uow(), midtrans.notification(order.order_id), {}, now=NOON
    )
    async with make_uow() as uow:
        await uow.ledger.apply(
            account_id=account_id,
            delta=-400,
            reason="charge",
            reference="test",
            idempotency_key="spend",
            now=NOON,
        )
        await uow.commit()
    # When Midtrans refunds half, then the rest, each notified twice
    midtrans.refund(order.order_id, 25_000)
    body = midtrans.notification(order.order_id)
    assert (await payments.handle_notification(make_uow(), body, {}, now=NOON))[1] == "refunded"
    assert (await payments.handle_notification(make_uow(), body, {}, now=NOON))[1] == "no_change"
    assert await _balance(make_uow, account_id) == 0  # 250 owed, 100 left: 150 short
    midtrans.refund(order.order_id, 25_000)
    body = midtrans.notification(order.order_id)
    await payments.handle_notification(make_uow(), body, {}, now=NOON)
    await payments.handle_notification(make_uow(), body, {}, now=NOON)
    # Then the ledger took back what was left, and the order records what had been spent
    view = await get_order(make_uow(), account_id, order.order_id)
    assert view.status == OrderStatus.REFUNDED
    assert (view.refunded_credits, view.refund_shortfall) == (100, 400)
    assert await _balance(make_uow, account_id) == 0


async def test_concurrent_notifications_credit_once(payments, midtrans, make_uow):
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id, "pack:250000")
    midtrans.pay(order.order_id, "shopeepay")
    body = midtrans.notification(order.order_id)
    outcomes = await asyncio.gather(
        *(payments.handle_notification(make_uow(), body, {}, now=NOON) for _ in range(4))
    )
    assert [o for _, o in outcomes].count(NotificationOutcome.PAID) == 1
    assert await _balance(make_uow, account_id) == 2_750


async def test_paid_plan_link_starts_the_plan_and_refund_ends_it(payments, midtrans, make_uow):
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id, "plan:starter")
    assert order.amount_rp == 99_000
    midtrans.pay(order.order_id)
    await payments.handle_notification(
        make_uow(), midtrans.notification(order.order_id), {}, now=NOON
    )
    async with make_uow() as uow:
        active = await uow.subscriptions.active(account_id, NOON)
        assert active is not None
        assert (active.plan, active.period_end) == ("starter", NOON + timedelta(days=30))
    midtrans.refund(order.order_id)
    await payments.handle_notification(
        make_uow(), midtrans.notification(order.order_id), {}, now=NOON + timedelta(days=1)
    )
    async with make_uow() as uow:
        assert await uow.subscriptions.active(account_id, NOON + timedelta(days=1)) is None


async def _paid(payments, midtrans, make_uow, account_id, product, *, now=NOON, method="qris"):
    order = await payments.open_order(
        make_uow(), account_id, product, channel="telegram", chat={"chat_id": 5}, now=now
    )
    midtrans.pay(order.order_id, method)
    await payments.handle_notification(
        make_uow(), midtrans.notification(order.order_id), {}, now=now
    )
    return order.order_id


async def test_bgbot_admin_payments_lists_orders_and_income_counts_by_method(
    payments, midtrans, make_uow, database_url, monkeypatch
):
    account_id = await new_account(make_uow())
    paid = await _paid(payments, midtrans, make_uow, account_id, "pack:50000", method="gopay")
    await _paid(payments, midtrans, make_uow, account_id, "pack:100000", method="gopay")
    await _paid(payments, midtrans, make_uow, account_id, "plan:pro", method="bank_transfer")
    midtrans.refund(paid)
    await payments.handle_notification(make_uow(), midtrans.notification(paid), {}, now=NOON)
    incomes = await income_by_method(make_uow())
    assert [(i.method, i.orders, i.rupiah) for i in incomes] == [
        ("bank_transfer", 1, 299_000),
        ("gopay", 2, 100_000),
    ]
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["admin", "payments"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert any(paid in line and "refunded Rp 50,000 (500 credits)" in line for line in lines)


async def test_receipt_is_claimed_once_and_released_for_a_retry(payments, midtrans, make_uow):
    account_id = await new_account(make_uow(), credits=30)
    order_id = await _paid(payments, midtrans, make_uow, account_id, "pack:250000")
    receipt = await claim_receipt(make_uow(), order_id, now=NOON, stale_after=timedelta(minutes=5))
    assert receipt is not None
    assert (receipt.amount_rp, receipt.credits, receipt.balance) == (250_000, 2_750, 2_780)
    assert (
        await claim_receipt(make_uow(), order_id, now=NOON, stale_after=timedelta(minutes=5))
        is None
    )
    await receipt_not_sent(make_uow(), order_id)
    assert await claim_receipt(make_uow(), order_id, now=NOON, stale_after=timedelta(minutes=5))


async def test_renewal_reminder_is_due_three_days_before_a_link_plan_ends_once(
    payments, midtrans, make_uow
):
    account_id = await new_account(make_uow())
    await _paid(payments, midtrans, make_uow, account_id, "plan:starter")
    ahead = timedelta(days=3)
    early = NOON + timedelta(days=26)
    assert await claim_renewals(make_uow(), now=early, ahead=ahead) == []
    due_at = NOON + timedelta(days=27, hours=1)
    (notice_id,) = await claim_renewals(make_uow(), now=due_at, ahead=ahead)
    due = await lease_notice(make_uow(), notice_id, now=due_at)
    assert due is not None
    assert (due.account_id, due.kind, due.values["plan"]) == (account_id, "renewal", "starter")
    assert notice_date(due.values["ends"]) == NOON + timedelta(days=30)
    assert await claim_renewals(make_uow(), now=due_at, ahead=ahead) == []
    # A renewal paid early extends the plan; its own reminder comes before the new end.
    await _paid(payments, midtrans, make_uow, account_id, "plan:starter", now=due_at)
    assert await claim_renewals(make_uow(), now=due_at, ahead=ahead) == []
    later = NOON + timedelta(days=58)
    (again,) = await claim_renewals(make_uow(), now=later, ahead=ahead)
    leased = await lease_notice(make_uow(), again, now=later)
    assert leased is not None
    assert notice_date(leased.values["ends"]) == NOON + timedelta(days=60)


async def test_a_notice_is_retried_until_delivered_never_after_and_within_its_budget(
    payments, midtrans, make_uow
):
    # Given a recorded renewal notice whose first send is under way
    account_id = await new_account(make_uow())
    await _paid(payments, midtrans, make_uow, account_id, "plan:starter")
    due_at = NOON + timedelta(days=28)
    (notice_id,) = await claim_renewals(make_uow(), now=due_at, ahead=timedelta(days=3))
    assert await lease_notice(make_uow(), notice_id, now=due_at) is not None
    # Then nobody else takes it while that send may still finish
    assert await lease_notice(make_uow(), notice_id, now=due_at + NOTICE_STALE / 2) is None
    assert await undelivered_notices(make_uow(), now=due_at + NOTICE_STALE / 2) == []
    # When that send failed (never marked delivered), the upkeep finds it and tries again
    retry_at = due_at + NOTICE_STALE + timedelta(seconds=1)
    assert await undelivered_notices(make_uow(), now=retry_at) == [notice_id]
    assert await lease_notice(make_uow(), notice_id, now=retry_at) is not None
    # And once a send succeeded it is never sent again
    await notice_delivered(make_uow(), notice_id, now=retry_at)
    much_later = retry_at + NOTICE_STALE * 3
    assert await undelivered_notices(make_uow(), now=much_later) == []
    assert await lease_notice(make_uow(), notice_id, now=much_later) is None


async def test_a_notice_that_always_fails_stops_after_its_attempts(make_uow):
    account_id = await new_account(make_uow())
    notice_id = await claim_notice(
        make_uow(),
        account_id,
        "low_balance",
        "after-credit-1",
        channel="telegram",
        chat={"chat_id": 1001},
        language="id",
        values={"balance": 3},
        now=NOON,
    )
    assert notice_id is not None
    moment = NOON
    for _ in range(NOTICE_ATTEMPTS):
        assert await lease_notice(make_uow(), notice_id, now=moment) is not None
        moment += NOTICE_STALE + timedelta(seconds=1)
    assert await undelivered_notices(make_uow(), now=moment) == []
    assert await lease_notice(make_uow(), notice_id, now=moment) is None


async def test_refund_expiry_and_failure_are_each_recorded_once_per_order_and_event(
    payments, midtrans, make_uow
):
    # Given a paid Rp 50,000 pack of which 400 credits were spent
    account_id = await new_account(make_uow())
    order_id = await _paid(payments, midtrans, make_uow, account_id, "pack:50000")
    async with make_uow() as uow:
        await uow.ledger.apply(
            account_id=account_id,
            delta=-400,
            reason="charge",
            reference="test",
            idempotency_key="spend",
            now=NOON,
        )
        await uow.commit()
    # Nothing to tell about a paid order beyond its receipt
    assert await claim_order_notice(make_uow(), order_id, now=NOON) is None
    # When it is refunded in full, and the notification comes twice
    midtrans.refund(order_id)
    await payments.handle_notification(make_uow(), midtrans.notification(order_id), {}, now=NOON)
    refund = await claim_order_notice(make_uow(), order_id, now=NOON)
    assert refund is not None
    assert await claim_order_notice(make_uow(), order_id, now=NOON) is None
    notice = await lease_notice(make_uow(), refund, now=NOON)
    assert notice is not None and notice.kind == "order_refunded"
    assert (notice.values["refunded_rp"], notice.values["refunded_credits"]) == (50_000, 100)
    assert notice.values["shortfall"] == 400
    # And an expired page and a failed payment are each told once
    expired = await _open(payments, make_uow, account_id, "pack:100000")
    midtrans.expire(expired.order_id)
    body = midtrans.notification(expired.order_id)
    await payments.handle_notification(make_uow(), body, {}, now=NOON)
    kinds = []
    for _ in range(2):
        notice_id = await claim_order_notice(make_uow(), expired.order_id, now=NOON)
        if notice_id is not None:
            leased = await lease_notice(make_uow(), notice_id, now=NOON)
            assert leased is not None
            kinds.append(leased.kind)
    assert kinds == ["order_expired"]
    # Orders made over the HTTP API have no chat to tell
    api_order = await payments.open_order(
        make_uow(), account_id, "pack:250000", channel="api", chat={}, now=NOON
    )
    midtrans.expire(api_order.order_id)
    await payments.handle_notification(
        make_uow(), midtrans.notification(api_order.order_id), {}, now=NOON
    )
    assert await claim_order_notice(make_uow(), api_order.order_id, now=NOON) is None


async def test_gateway_down_refuses_clearly_and_keeps_nothing_open(make_uow):
    # A port nobody listens on: the client's own timeout and connection errors, translated.
    gateway = build_gateway(
        "midtrans",
        GatewayConfig(
            server_key=SERVER_KEY,
            production=False,
            api_url="http://127.0.0.1:9",
            checkout_url="http://127.0.0.1:9/snap/v1",
            timeout_seconds=2,
        ),
    )
    service = Payments(gateway, Catalog(PACKS), link_ttl=timedelta(hours=24))
    try:
        account_id = await new_account(make_uow())
        with pytest.raises(PaymentsUnavailable):
            await _open(service, make_uow, account_id)
        (order,) = await recent_orders(make_uow())
        assert order.status == OrderStatus.FAILED
        with pytest.raises(GatewayError):
            await service.reconcile(make_uow(), order.order_id, now=NOON)
    finally:
        service.close()


def test_an_unknown_gateway_name_fails_loudly():
    with pytest.raises(UnknownGateway, match="midtrans"):
        build_gateway("paypal", GatewayConfig("k", False, None, None, 1))


async def test_a_receipt_lost_on_the_way_is_found_for_a_day(payments, midtrans, make_uow):
    account_id = await new_account(make_uow())
    order_id = await _paid(payments, midtrans, make_uow, account_id, "pack:50000")
    rules = {"grace": timedelta(minutes=10), "give_up_after": timedelta(days=1)}
    assert await lost_receipts(make_uow(), now=NOON + timedelta(minutes=5), **rules) == []
    assert await lost_receipts(make_uow(), now=NOON + timedelta(minutes=11), **rules) == [order_id]
    assert await lost_receipts(make_uow(), now=NOON + timedelta(days=2), **rules) == []
    await receipt_sent(make_uow(), order_id, now=NOON)
    assert await lost_receipts(make_uow(), now=NOON + timedelta(minutes=11), **rules) == []


async def test_an_unused_page_is_closed_after_it_expires_and_a_late_payment_still_counts(
    payments, midtrans, make_uow
):
    account_id = await new_account(make_uow())
    order = await _open(payments, make_uow, account_id, "pack:50000")
    assert await expire_unused_orders(make_uow(), now=NOON + timedelta(hours=24)) == 0
    assert await expire_unused_orders(make_uow(), now=NOON + timedelta(hours=26)) == 1
    assert (await get_order(make_uow(), account_id, order.order_id)).status == "expired"
    midtrans.pay(order.order_id)
    outcome = await payments.handle_notification(
        make_uow(), midtrans.notification(order.order_id), {}, now=NOON + timedelta(hours=26)
    )
    assert outcome[1] is NotificationOutcome.PAID
    assert await _balance(make_uow, account_id) == 500


async def test_a_gateway_answering_html_is_unavailable_not_a_crash(payments, midtrans, make_uow):
    # A proxy in front of the gateway answers its own error page instead of JSON.
    midtrans.answer_html = True
    account_id = await new_account(make_uow())
    with pytest.raises(PaymentsUnavailable):
        await _open(payments, make_uow, account_id)
