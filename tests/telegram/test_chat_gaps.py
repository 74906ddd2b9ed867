"""End-to-end chats: a callback signing secret from `/apikey`, the inviter told of the reward,
and one image of a batch redone at another tier."""

from __future__ import annotations

import io
import logging

from bot.observability import RedactSecrets
from services.api_keys import callback_signing_key, derive_callback_secret
from tests.telegram.conftest import Harness, button

# --- The callback signing secret in /apikey ---------------------------------------------------


async def _nonce(telegram: Harness, telegram_id: int) -> str | None:
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(telegram_id)
        assert account is not None
        return account.callback_secret_nonce


async def test_apikey_rotates_the_callback_secret_once_and_never_logs_it(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    # Whatever the client libraries log at DEBUG passes the redaction every handler carries.
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        api.push(sari.command("/apikey"))
        keys = await api.wait_for(
            lambda: [m for m in api.sent_to(sari.user_id) if "/apikey new" in (m.text or "")]
        )
        await telegram.answered(telegram.tap(sari, keys[0], button(keys[0], "cs")))
        warning = await api.wait_for(
            lambda: [m for m in api.sent_to(sari.user_id) if "AT ONCE" in (m.text or "")],
            what="the warning before rotating",
        )
        confirm = button(warning[0], "cs:")
        assert len(confirm.encode()) <= 64

        # When the person confirms twice (a double tap)
        first = telegram.tap(sari, warning[0], confirm)
        await telegram.answered(first)
        second = await telegram.answered(telegram.tap(sari, warning[0], confirm))
        shown = await api.wait_for(
            lambda: [m for m in api.sent_to(sari.user_id) if "whsec_" in (m.text or "")],
            what="the new secret",
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    # Then the secret shown is the one callbacks are signed with, made once
    secret = next(word for word in (shown[0].text or "").split() if word.startswith("whsec_"))
    assert "replaced already" in second.get("text", "")
    nonce = await _nonce(telegram, sari.user_id)
    assert nonce is not None
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(sari.user_id)
        assert account is not None
    server_key = callback_signing_key(None, telegram.settings.data_dir)
    assert derive_callback_secret(server_key, account.id, nonce) == secret
    assert len([m for m in api.sent_to(sari.user_id) if "whsec_" in (m.text or "")]) == 1
    assert secret not in captured.getvalue()
