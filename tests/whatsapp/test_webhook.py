"""The webhook's door: Meta's verification, signatures, repeated deliveries."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from bot.channels import build_deliveries
from tests.api.conftest import service_settings
from tests.whatsapp import payloads
from tests.whatsapp.conftest import APP_SECRET, NUMBER, PHONE_NUMBER_ID, VERIFY_TOKEN


async def test_verification_echoes_the_challenge_only_for_the_verify_token(channel):
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    good = await channel.client.get(
        "/whatsapp/webhook", params={**query, "hub.verify_token": VERIFY_TOKEN}
    )
    bad = await channel.client.get(
        "/whatsapp/webhook", params={**query, "hub.verify_token": "guess"}
    )

    assert (good.status, await good.text()) == (200, "1158201444")
    assert bad.status == 403


async def test_unsigned_or_wrongly_signed_notifications_are_refused_and_not_processed(channel, uow):
    body = payloads.notification(NUMBER, payloads.text("help"), phone_number_id=PHONE_NUMBER_ID)
    tampered = body.replace(b"help", b"stats")

    unsigned = await channel.post(body, signature=None)
    wrong = await channel.post(body, signature=payloads.signature("not-the-secret", body))
    altered = await channel.post(tampered, signature=payloads.signature(APP_SECRET, body))

    assert (unsigned.status, wrong.status, altered.status) == (401, 403, 403)
    assert channel.api.sent == []
    async with uow:
        assert await uow.accounts.by_whatsapp_number(NUMBER) is None


async def test_a_repeated_text_delivery_is_answered_once(channel):
    message = payloads.text("help")

    await channel.send(message)
    await channel.send(message)

    sent = await channel.api.wait_for_sent(2)  # the welcome and the help
    assert len(sent) == 2
    assert "stats" in sent[1]["text"]["body"]


async def test_status_notifications_are_acknowledged_and_ignored(channel):
    body = payloads.status_notification(NUMBER, phone_number_id=PHONE_NUMBER_ID)

    response = await channel.post(body)

    assert response.status == 200
    assert channel.api.sent == []


async def test_without_whatsapp_settings_there_is_no_webhook_and_links_open_nothing(
    tmp_path, database_url
):
    app = build_web_app(service_settings(tmp_path, database_url))
    async with TestClient(TestServer(app)) as client:
        webhook = await client.post("/whatsapp/webhook", data=b"{}")
        link = await client.get("/d/eyJ9.c2ln")

    assert (webhook.status, link.status) == (404, 404)
    settings = service_settings(tmp_path, database_url)
    assert "whatsapp" not in build_deliveries(settings, lambda: None)  # type: ignore[arg-type,return-value]


def test_worker_processes_get_a_whatsapp_delivery_when_it_is_configured(tmp_path):
    settings = service_settings(
        tmp_path,
        "sqlite+aiosqlite:///unused.sqlite3",
        whatsapp_access_token="token",
        whatsapp_phone_number_id="1",
        whatsapp_app_secret="secret",
        whatsapp_verify_token="verify",
    )

    deliveries = build_deliveries(settings, lambda: None)  # type: ignore[arg-type,return-value]

    assert deliveries["whatsapp"].progress_interval.total_seconds() >= 6
