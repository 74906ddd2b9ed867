"""Webhook mode: Telegram posts updates to the web process, which checks the secret token."""

from __future__ import annotations

from tests.fakes.telegram_api import Person
from tests.telegram.conftest import running_bot

SECRET = "s3cret-token_for-webhook"


async def test_webhook_takes_updates_only_with_the_secret_token(tmp_path, database_url, make_uow):
    async with running_bot(
        tmp_path,
        database_url,
        make_uow,
        telegram_webhook_url="https://bot.example.com/telegram/hook",
        telegram_webhook_secret=SECRET,
    ) as telegram:
        api = telegram.api
        registered = api.called("setWebhook")[0].params
        assert registered["url"] == "https://bot.example.com/telegram/hook"
        assert registered["secret_token"] == SECRET
        sari = Person(user_id=5001, language_code="en")
        update = {"update_id": 1, **sari.command("/help")}

        refused = await telegram.client.post("/telegram/hook", json=update)
        wrong = await telegram.client.post(
            "/telegram/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
        )
        accepted = await telegram.client.post(
            "/telegram/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )

        assert (refused.status, wrong.status, accepted.status) == (403, 403, 200)
        replies = await api.wait_for(
            lambda: [m for m in api.sent_to(sari.user_id) if "How it works" in (m.text or "")]
        )
        assert len(replies) == 1
        assert not api.called("deleteWebhook")  # polling would have removed the webhook
