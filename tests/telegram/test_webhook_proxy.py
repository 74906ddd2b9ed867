"""Webhook mode behind a reverse proxy, with several web processes registering the webhook."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from bot.telegram.application import webhook_secret
from services.settings import Settings
from tests.api.conftest import service_settings
from tests.fakes.telegram_api import TOKEN, Person
from tests.telegram.conftest import running_bot


def test_processes_without_a_configured_secret_register_the_same_unguessable_one():
    one = Settings(_env_file=None, telegram_bot_token=TOKEN)
    other = Settings(_env_file=None, telegram_bot_token=TOKEN)
    stranger = Settings(_env_file=None, telegram_bot_token=TOKEN.replace("A", "B"))

    assert webhook_secret(one) == webhook_secret(other) != webhook_secret(stranger)
    assert TOKEN not in webhook_secret(one)
    assert webhook_secret(one).replace("_", "").replace("-", "").isalnum()


async def test_a_proxy_that_rewrites_the_public_path_reaches_the_configured_route(
    tmp_path, database_url, make_uow
):
    async with running_bot(
        tmp_path,
        database_url,
        make_uow,
        telegram_webhook_url="https://shop.example.com/bots/cutout/hook",
        telegram_webhook_path="/hook",
    ) as telegram:
        registered = telegram.api.called("setWebhook")[0].params
        sari = Person(user_id=5001, language_code="en")
        update = {"update_id": 1, **sari.command("/help")}
        secret = {"X-Telegram-Bot-Api-Secret-Token": webhook_secret(telegram.settings)}

        public = await telegram.client.post("/bots/cutout/hook", json=update, headers=secret)
        served = await telegram.client.post("/hook", json=update, headers=secret)

        assert registered["url"] == "https://shop.example.com/bots/cutout/hook"
        assert registered["secret_token"] == webhook_secret(telegram.settings)
        assert (public.status, served.status) == (404, 200)
        await telegram.api.wait_for(
            lambda: [
                m for m in telegram.api.sent_to(sari.user_id) if "How it works" in (m.text or "")
            ]
        )


async def _seen_by_handlers(settings: Settings, headers: dict[str, str]) -> dict[str, str]:
    app = build_web_app(settings)

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"remote": request.remote, "scheme": request.scheme})

    app.router.add_get("/test-whoami", whoami)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/test-whoami", headers=headers)
        assert response.status == 200
        seen: dict[str, str] = await response.json()
        return seen


async def test_forwarded_headers_count_only_from_the_configured_proxies(tmp_path, database_url):
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}

    ignored = await _seen_by_handlers(service_settings(tmp_path, database_url), forwarded)
    believed = await _seen_by_handlers(
        service_settings(tmp_path, database_url, trusted_proxies="127.0.0.1"), forwarded
    )
    health_check = await _seen_by_handlers(
        service_settings(tmp_path, database_url, trusted_proxies="10.0.0.0/8,127.0.0.1"), {}
    )
    stranger = await _seen_by_handlers(
        service_settings(tmp_path, database_url, trusted_proxies="10.0.0.0/8"), forwarded
    )

    assert ignored == {"remote": "127.0.0.1", "scheme": "http"}
    assert believed == {"remote": "203.0.113.9", "scheme": "https"}
    assert health_check == {"remote": "127.0.0.1", "scheme": "http"}
    assert stranger == {"remote": "127.0.0.1", "scheme": "http"}
