"""The Telegram delivery on its own, as worker processes use it: a bare client, made lazily."""

from __future__ import annotations

from bot.telegram.delivery import TelegramDelivery
from services.settings import Settings
from tests.fakes.telegram_api import TOKEN, FakeBotApi


def settings_for(api: FakeBotApi) -> Settings:
    return Settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_url=api.base_url,
        telegram_file_url=api.base_file_url,
    )


async def test_result_over_the_upload_limit_is_explained_instead_of_sent(tmp_path):
    async with FakeBotApi() as api:
        delivery = TelegramDelivery(settings_for(api))
        delivery.upload_limit = 1000
        result = tmp_path / "big.png"
        result.write_bytes(b"\x89PNG" + bytes(2000))

        await delivery.send_document({"chat_id": 77, "language": "en"}, result, "big.png")
        await delivery.close()

    assert not api.called("sendDocument")
    (message,) = api.sent_to(77)
    assert "over Telegram's" in (message.text or "")


async def test_unchanged_progress_edit_is_not_a_failure(tmp_path):
    async with FakeBotApi() as api:
        delivery = TelegramDelivery(settings_for(api))
        chat = {"chat_id": 77, "language": "en"}
        await delivery.send_text(chat, "start")
        status = {**chat, "message_id": api.sent_to(77)[0].message_id}

        await delivery.edit_status(status, "⏳ 1 / 2")
        await delivery.edit_status(status, "⏳ 1 / 2")  # Telegram: "message is not modified"
        await delivery.close()

    assert api.sent_to(77)[0].text == "⏳ 1 / 2"
