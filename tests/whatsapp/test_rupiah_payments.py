"""Paying in rupiah from WhatsApp, through the whole web process, against fake Midtrans and
Graph API servers on 127.0.0.1 with the real clients."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import BROKER, build_web_app
from bot.http_api import PREFIX
from db.models import WhatsAppContact
from services.api_keys import issue_key
from services.clock import utcnow
from services.subscriptions import subscribe
from tests.fakes.midtrans_api import FakeMidtrans
from tests.integration.helpers import NOON, new_account
from tests.whatsapp import payloads
from tests.whatsapp.conftest import NUMBER, Channel, _free_port, whatsapp_settings
from workers.payment_actors import payment_actors

SERVER_KEY = "SB-Mid-server-whatsapp-tests"
NOTIFY = "/payments/midtrans/notification"


@pytest.fixture
async def midtrans():
    fake = FakeMidtrans(server_key=SERVER_KEY)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def shop(tmp_path, database_url, graph_api, midtrans):
    port = _free_port()
    settings = whatsapp_settings(tmp_path, database_url, graph_api, port).model_copy(
        update={
            "midtrans_server_key": SecretStr(SERVER_KEY),
            "midtrans_api_url": midtrans.api_url,
            "midtrans_snap_url": midtrans.snap_url,
        }
    )
    graph_api.templates[(settings.whatsapp_template_receipt, "id")] = 4
    server = TestServer(build_web_app(settings), host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        yield Channel(client, graph_api, settings)


def _texts(sent: list[dict[str, Any]]) -> list[str]:
    return [m["text"]["body"] for m in sent if m["type"] == "text"]


async def _pay_link_order(shop: Channel, midtrans: FakeMidtrans, row_id: str) -> str:
    """Choose a rupiah row, follow its pay link, and return the order the gateway opened."""
    before = len(shop.api.sent)
    await shop.send(payloads.list_reply(row_id, "Rp"))
    sent = await shop.api.wait_for_sent(before + 1)
    url = re.search(r"http://\S+/pay/\S+", _texts(sent[before:])[-1])
    assert url is not None
    path = url.group(0).split(str(shop.client.port), 1)[1]
    page = await shop.client.get(path)
    assert page.status == 200 and "<form" in await page.text()
    assert not midtrans.transactions  # a link preview that fetches the page creates nothing
    opened = await shop.client.post(path, allow_redirects=False)
    assert opened.status == 303
    assert opened.headers["Location"].startswith(midtrans.api_url)
    (order_id,) = midtrans.transactions
    return order_id


async def test_buy_word_lists_packs_and_a_paid_link_sends_a_template_receipt_once(
    shop, midtrans, make_uow
):
    # Given a person who asks to buy and picks the Rp 100,000 pack
    await shop.send(payloads.text("beli"))
    sent = await shop.api.wait_for_sent(1)
    rows = sent[-1]["interactive"]["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == ["rp:pack:50000", "rp:pack:100000", "rp:pack:250000"]
    order_id = await _pay_link_order(shop, midtrans, "rp:pack:100000")
    # ... and whose 24-hour window has closed by the time they pay
    async with make_uow() as uow:
        contact = await uow.session.get(WhatsAppContact, NUMBER)
        assert contact is not None
        contact.last_inbound_at = utcnow() - timedelta(days=2)
        await uow.commit()
    count = len(shop.api.sent)
    # When Midtrans notifies the settlement, twice, and once with a forged signature
    midtrans.pay(order_id, "gopay")
    body = midtrans.notification(order_id)
    forged = {**body, "signature_key": "f" * 128}
    assert (await shop.client.post(NOTIFY, json=forged)).status == 401
    first = await shop.client.post(NOTIFY, json=body)
    assert (first.status, await first.json()) == (200, {"status": "paid"})
    second = await shop.client.post(NOTIFY, json=body)
    assert (await second.json()) == {"status": "no_change"}
    # Then one receipt goes out, as the approved template with the payment's facts
    sent = await shop.api.wait_for_sent(count + 1)
    await asyncio.sleep(0.5)
    receipts = [m for m in shop.api.sent[count:] if m["type"] == "template"]
    assert len(shop.api.sent) == count + 1 and len(receipts) == 1
    values = [p["text"] for p in receipts[0]["template"]["components"][0]["parameters"]]
    assert values[0] == "100.000" and values[3] == order_id
    assert values[2] == "1.150"  # 100 welcome credits + 1,050


async def test_subscribe_list_offers_rupiah_plans_beside_credits(shop, midtrans):
    await shop.send(payloads.text("subscribe"))
    sent = await shop.api.wait_for_sent(1)
    rows = [row["id"] for row in sent[-1]["interactive"]["action"]["sections"][0]["rows"]]
    assert {"plan:starter", "rp:plan:starter", "rp:plan:pro"} <= set(rows)
    order_id = await _pay_link_order(shop, midtrans, "rp:plan:pro")
    assert midtrans.transactions[order_id].gross_amount == 299_000


async def test_http_api_creates_and_shows_a_payment(shop, midtrans, make_uow):
    uow = make_uow()
    account = await new_account(uow, telegram_id=77)
    issued = await issue_key(make_uow(), account, "test", now=NOON)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    created = await shop.client.post(
        f"{PREFIX}/payments", json={"amount_rp": 50_000}, headers=headers
    )
    assert created.status == 201, await created.text()
    order = await created.json()
    assert (order["amount_rp"], order["credits"], order["status"]) == (50_000, 500, "pending")
    unknown = await shop.client.post(
        f"{PREFIX}/payments", json={"amount_rp": 12_345}, headers=headers
    )
    assert unknown.status == 422
    midtrans.pay(order["id"], "other_qris")
    await shop.client.post(NOTIFY, json=midtrans.notification(order["id"]))
    shown = await shop.client.get(f"{PREFIX}/payments/{order['id']}", headers=headers)
    assert (await shown.json())["status"] == "paid"
    other = await shop.client.get(f"{PREFIX}/payments/bg-1-nothing", headers=headers)
    assert other.status == 404


async def test_inside_the_window_the_receipt_is_a_text_and_a_renewal_link_comes_before_the_end(
    shop, midtrans, make_uow
):
    # Given a person who bought the starter plan by link and is still in the 24-hour window
    await shop.send(payloads.text("subscribe"))
    await shop.api.wait_for_sent(1)
    order_id = await _pay_link_order(shop, midtrans, "rp:plan:starter")
    count = len(shop.api.sent)
    midtrans.pay(order_id, "other_qris")
    await shop.client.post(NOTIFY, json=midtrans.notification(order_id))
    # Then the receipt is a plain text naming the plan and its end
    sent = await shop.api.wait_for_sent(count + 1)
    receipt = sent[count]
    assert receipt["type"] == "text"
    assert "Paket Starter aktif sampai" in receipt["text"]["body"]
    assert "QRIS" in receipt["text"]["body"]
    # When the plan is two days from its end, outside the window, and the upkeep runs twice
    async with make_uow() as uow:
        account = await uow.accounts.by_whatsapp_number(NUMBER)
        assert account is not None
        active = await uow.subscriptions.active(account.id, utcnow())
        assert active is not None and active.source == "midtrans"
        active.period_end = utcnow() + timedelta(days=2)
        contact = await uow.session.get(WhatsAppContact, NUMBER)
        assert contact is not None
        contact.last_inbound_at = utcnow() - timedelta(days=2)
        await uow.commit()
    shop.api.templates[(shop.settings.whatsapp_template_renewal, "id")] = 3
    upkeep = payment_actors(shop.client.app[BROKER]).upkeep
    await asyncio.to_thread(upkeep.send)
    sent = await shop.api.wait_for_sent(count + 2)
    await asyncio.to_thread(upkeep.send)
    await asyncio.sleep(1)
    # Then one renewal template goes out, carrying a pay link for the same plan
    renewals = [m for m in shop.api.sent if m["type"] == "template"]
    assert len(renewals) == 1
    plan, _, url = (p["text"] for p in renewals[0]["template"]["components"][0]["parameters"])
    assert plan == "Starter" and "/pay/" in url and "plan:starter" in url


async def test_outside_the_window_a_failed_payment_and_a_plan_reminder_go_as_the_notice_template(
    shop, midtrans, make_uow
):
    # Given a person who opened a pay link and whose 24-hour window then closed
    await shop.send(payloads.text("beli"))
    await shop.api.wait_for_sent(1)
    order_id = await _pay_link_order(shop, midtrans, "rp:pack:50000")
    async with make_uow() as uow:
        contact = await uow.session.get(WhatsAppContact, NUMBER)
        assert contact is not None
        contact.last_inbound_at = utcnow() - timedelta(days=2)
        await uow.commit()
    shop.api.templates[(shop.settings.whatsapp_template_notice, "id")] = 1
    count = len(shop.api.sent)
    # When the e-wallet refuses the payment, and Midtrans notifies twice
    midtrans.fail(order_id)
    for _ in range(2):
        answer = await shop.client.post(NOTIFY, json=midtrans.notification(order_id))
        assert answer.status == 200
    # Then one approved template says that it failed and nothing was charged
    await shop.api.wait_for_sent(count + 1)
    await asyncio.sleep(0.5)
    (failed,) = shop.api.sent[count:]
    assert failed["type"] == "template"
    assert failed["template"]["name"] == shop.settings.whatsapp_template_notice
    (value,) = (p["text"] for p in failed["template"]["components"][0]["parameters"])
    assert "gagal" in value and order_id in value and "Rp 50.000" in value
    # When a plan paid with credits ends in two days and the upkeep runs twice
    async with make_uow() as uow:
        account = await uow.accounts.by_whatsapp_number(NUMBER)
        assert account is not None
        account_id = account.id
    await subscribe(
        make_uow(), account_id, "starter", 2, source="credits", auto_renew=False, now=utcnow()
    )
    upkeep = payment_actors(shop.client.app[BROKER]).upkeep
    await asyncio.to_thread(upkeep.send)
    await shop.api.wait_for_sent(count + 2)
    await asyncio.to_thread(upkeep.send)
    await asyncio.sleep(1)
    # Then the reminder reaches the person once, as the template, on one line
    (reminder,) = shop.api.sent[count + 1 :]
    assert reminder["type"] == "template"
    (value,) = (p["text"] for p in reminder["template"]["components"][0]["parameters"])
    assert "Paket Starter Anda berakhir" in value and "\n" not in value
    assert "*subscribe*" in value
