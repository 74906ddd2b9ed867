"""Operators' side of the API: JSON errors always, /metrics behind a token, no secret logged."""

import io
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from bot.http_api import PREFIX
from bot.observability import configure_logging
from services.api_keys import issue_key
from tests.api.conftest import service_settings
from tests.api.test_images_api import key_for
from tests.integration.helpers import NOON, new_account


async def test_malformed_and_deeply_nested_bodies_get_json_errors(service, uow):
    _, _, headers = await key_for(uow)
    json_headers = {**headers, "Content-Type": "application/json"}
    for body in [b"{not json", b"\xff\xfe", b"[" * 100_000, b'{"a":' * 50_000]:
        response = await service.post(
            f"{PREFIX}/pricing/calculate", data=body, headers=json_headers
        )
        assert response.status == 400, body[:10]
        assert response.content_type == "application/json"
        assert (await response.json())["error"]["code"] == "invalid_json"


async def test_metrics_need_the_bearer_token_when_one_is_set(tmp_path, database_url):
    settings = service_settings(tmp_path, database_url, metrics_token="scrape-me-0123456789")
    async with TestClient(TestServer(build_web_app(settings))) as client:
        assert (await client.get("/metrics")).status == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("/metrics", headers=wrong)).status == 401
        right = {"Authorization": "Bearer scrape-me-0123456789"}
        response = await client.get("/metrics", headers=right)
        assert response.status == 200
        assert "bgbot_accounts" in await response.text()


async def test_without_a_token_metrics_answer_only_direct_loopback_clients(service):
    assert (await service.get("/metrics")).status == 200
    relayed = await service.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status == 401


@pytest.fixture
def captured_log():
    """The process's own log format and filters, writing to a buffer at DEBUG."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("DEBUG")
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:], level = saved
    root.setLevel(level)


async def test_the_verify_token_and_new_api_keys_never_reach_the_log(
    tmp_path, database_url, uow, captured_log
):
    token = "verify-token-0123456789"
    settings = service_settings(
        tmp_path,
        database_url,
        whatsapp_access_token="access-token-0123456789",
        whatsapp_phone_number_id="1234",
        whatsapp_app_secret="app-secret-0123456789",
        whatsapp_verify_token=token,
        whatsapp_api_url="http://127.0.0.1:9/",
    )
    async with TestClient(TestServer(build_web_app(settings))) as client:
        # Meta's subscription check puts the token in the query string, which is logged
        query = f"hub.mode=subscribe&hub.verify_token={token}&hub.challenge=42"
        response = await client.get(f"/whatsapp/webhook?{query}")
        assert await response.text() == "42"
        wrong = await client.get("/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=x%20y")
        assert wrong.status == 403
    account = await new_account(uow, telegram_id=5)
    issued = await issue_key(uow, account, "shop", now=NOON)
    # The chat client logs what it sends at DEBUG, parameters included
    logging.getLogger("telegram.ext.ExtBot").debug(
        "Calling Bot API endpoint `sendMessage` with parameters `%s`",
        {"chat_id": 5, "text": f"Your new key: {issued.secret}"},
    )
    output = captured_log.getvalue()
    assert "hub.verify_token=" in output  # the access log line was written, redacted
    assert token not in output
    assert issued.secret not in output and issued.secret[4:] not in output
