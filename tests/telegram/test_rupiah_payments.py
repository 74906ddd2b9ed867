"""Paying in rupiah from Telegram: URL buttons beside Stars, a receipt in chat, /admin income."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from bot.app import BROKER
from db.models import ReminderSent
from services.clock import utcnow
from services.reminders import NOTICE_STALE
from tests.fakes.midtrans_api import FakeMidtrans
from tests.integration.test_reminders import _delivered_batch
from tests.telegram.conftest import Harness, button, running_bot
from tests.telegram.test_payments_and_commands import _text_containing
from workers.payment_actors import payment_actors

SERVER_KEY = "SB-Mid-server-telegram-tests"
NOTIFY = "/payments/midtrans/notification"


@pytest.fixture
async def midtrans():
    fake = FakeMidtrans(server_key=SERVER_KEY)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def telegram(tmp_path, database_url, make_uow, midtrans):
    async with running_bot(
        tmp_path,
        database_url,
        make_uow,
        midtrans_server_key=SERVER_KEY,
        midtrans_api_url=midtrans.api_url,
        midtrans_snap_url=midtrans.snap_url,
        public_base_url="https://bg.example.id",
    ) as harness:
        yield harness


async def test_buy_offers_rupiah_links_and_a_payment_sends_a_receipt(
    telegram: Harness, midtrans: FakeMidtrans
):
    api = telegram.api
    sari = telegram.person()
    # Given the packs message, with rupiah URL buttons under the Stars ones
    api.push(sari.command("/buy"))
    packs = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.buttons()], what="the packs"
    )
    links = [b["url"] for b in packs[0].buttons() if "url" in b]
    assert len(links) == 3 and all(u.startswith("https://bg.example.id/pay/") for u in links)
    assert any("callback_data" in b for b in packs[0].buttons())  # Stars stay
    # When Sari opens the Rp 250,000 link and pays with ShopeePay
    opened = await telegram.client.post(urlsplit(links[2]).path, allow_redirects=False)
    assert opened.status == 303
    (order_id,) = midtrans.transactions
    assert midtrans.transactions[order_id].gross_amount == 250_000
    midtrans.pay(order_id, "shopeepay")
    answer = await telegram.client.post(NOTIFY, json=midtrans.notification(order_id))
    assert (await answer.json()) == {"status": "paid"}
    # Then a receipt in Indonesian says what was paid, added and kept
    receipt = await _text_containing(telegram, sari.user_id, "Pembayaran diterima")
    assert "Rp 250.000" in receipt and "+2.750 kredit" in receipt and order_id in receipt
    assert "2.780" in receipt
    assert await telegram.balance(sari.user_id) == 30 + 2_750
    # And the operator's /admin counts it under its method
    operator = telegram.person(9001, language="en")
    api.push(operator.command("/admin"))
    report = await _text_containing(telegram, operator.user_id, "Rupiah income")
    assert "shopeepay: 1 orders, Rp 250,000" in report


async def test_subscribe_offers_rupiah_plans(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.command("/subscribe"))
    plans = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.buttons()], what="the plans"
    )
    labels = [b["text"] for b in plans[0].buttons() if "url" in b]
    assert labels == ["💳 Paket Starter: Rp 99.000 / 30 hari", "💳 Paket Pro: Rp 299.000 / 30 hari"]


async def test_settings_switch_turns_reminders_off_and_the_upkeep_sends_them_otherwise(
    telegram: Harness,
):
    api = telegram.api
    sari = telegram.person()
    ana = telegram.person(5002)
    for person in (sari, ana):
        api.push(person.command("/start"))
        await _text_containing(telegram, person.user_id, "")
    # Given Ana turns reminders off in /settings
    api.push(ana.command("/settings"))
    shown = await api.wait_for(
        lambda: [m for m in api.sent_to(ana.user_id) if m.buttons()], what="the settings"
    )
    telegram.tap(ana, shown[-1], button(shown[-1], "set:reminders"))
    await api.wait_for(
        lambda: [
            m
            for m in api.sent_to(ana.user_id)
            if any("Pengingat: mati" in b["text"] for b in m.buttons())
        ],
        what="the switch showing off",
    )
    # When both run low after a batch and the upkeep runs
    for person in (sari, ana):
        async with telegram.uow() as uow:
            account = await uow.accounts.by_telegram_id(person.user_id)
            assert account is not None
        await _delivered_batch(telegram.uow, account.id, 3, at=utcnow())
    await asyncio.to_thread(payment_actors(telegram.client.app[BROKER]).upkeep.send)
    # Then only Sari is reminded
    reminder = await _text_containing(telegram, sari.user_id, "Saldo Anda tinggal")
    assert "/buy" in reminder and "/settings" in reminder
    assert not [m for m in api.sent_to(ana.user_id) if "Saldo Anda tinggal" in (m.text or "")]
    async with telegram.uow() as uow:  # claimed (and so sent) for Sari alone
        claimed = (await uow.session.execute(select(ReminderSent.account_id))).scalars().all()
        sari_account = await uow.accounts.by_telegram_id(sari.user_id)
        assert sari_account is not None and claimed == [sari_account.id]


async def _notices(telegram: Harness, user_id: int, words: str) -> list[str]:
    return [m.text or "" for m in telegram.api.sent_to(user_id) if words in (m.text or "")]


async def test_a_refund_and_an_expiry_are_told_once_and_a_failed_send_is_retried(
    telegram: Harness, midtrans: FakeMidtrans
):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.command("/buy"))
    packs = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.buttons()], what="the packs"
    )
    links = [b["url"] for b in packs[0].buttons() if "url" in b]
    # Given Sari paid the Rp 50,000 pack (500 credits), then spent 400 of her 530 credits
    await telegram.client.post(urlsplit(links[0]).path, allow_redirects=False)
    (paid,) = midtrans.transactions
    midtrans.pay(paid)
    await telegram.client.post(NOTIFY, json=midtrans.notification(paid))
    await _text_containing(telegram, sari.user_id, "Pembayaran diterima")
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(sari.user_id)
        assert account is not None
        await uow.ledger.apply(
            account_id=account.id,
            delta=-400,
            reason="charge",
            reference="test",
            idempotency_key="spend",
            now=utcnow(),
        )
        await uow.commit()
    # When Midtrans refunds it in full and notifies twice
    midtrans.refund(paid)
    for _ in range(2):
        answer = await telegram.client.post(NOTIFY, json=midtrans.notification(paid))
        assert answer.status == 200
    # Then she is told once: the amount, the credits taken back, and what was already spent
    refund = await _text_containing(telegram, sari.user_id, "dikembalikan")
    assert "Rp 50.000" in refund and paid in refund
    assert "130 kredit ditarik" in refund and "370 kredit sudah terpakai" in refund
    # When a second page expires while Telegram is down
    await telegram.client.post(urlsplit(links[1]).path, allow_redirects=False)
    (expired,) = [order for order in midtrans.transactions if order != paid]
    api.failures["sendMessage"] = 1_000
    midtrans.expire(expired)
    await telegram.client.post(NOTIFY, json=midtrans.notification(expired))
    await api.wait_for(
        lambda: [
            c for c in api.called("sendMessage") if "kedaluwarsa" in str(c.params.get("text", ""))
        ],
        what="the refused try",
    )
    await asyncio.sleep(0.5)
    notices = select(ReminderSent).where(ReminderSent.kind == "order_expired")
    async with telegram.uow() as uow:
        row = (await uow.session.execute(notices)).scalar_one()
    assert row.delivered_at is None and row.attempts == 1
    assert not await _notices(telegram, sari.user_id, "kedaluwarsa")
    # ... and Telegram is back by the time the upkeep looks again (after the try went stale)
    api.failures["sendMessage"] = 0
    async with telegram.uow() as uow:
        stored = await uow.session.get(ReminderSent, row.id)
        assert stored is not None
        stored.sent_at = utcnow() - NOTICE_STALE * 2
        await uow.commit()
    upkeep = payment_actors(telegram.client.app[BROKER]).upkeep
    await asyncio.to_thread(upkeep.send)
    notice = await _text_containing(telegram, sari.user_id, "kedaluwarsa")
    # Then the expiry is told, with how to get a new link, and never repeated
    assert "Rp 100.000" in notice and expired in notice and "/buy" in notice
    await asyncio.to_thread(upkeep.send)
    await asyncio.sleep(1)
    assert len(await _notices(telegram, sari.user_id, "kedaluwarsa")) == 1
    assert len(await _notices(telegram, sari.user_id, "dikembalikan")) == 1
