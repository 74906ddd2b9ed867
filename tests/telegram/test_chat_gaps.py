"""End-to-end chats: a callback signing secret from `/apikey`, the inviter told of the reward,
and one image of a batch redone at another tier."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

from sqlalchemy import select

from bot.app import BROKER
from bot.observability import RedactSecrets
from db.models import Job, Quote
from services.api_keys import callback_signing_key, derive_callback_secret
from tests.telegram.conftest import Harness, button, zip_of
from tests.telegram.test_chat_extras import _basic_batch, _invite_link, _ledger, _tier
from workers.payment_actors import PAYMENTS_QUEUE, payment_actors

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


# --- The inviter hears of the reward --------------------------------------------------------


async def test_inviter_is_told_once_after_the_reward_is_committed(telegram: Harness):
    api = telegram.api
    ana = telegram.person(6001, language="id")
    link = await _invite_link(telegram, ana)
    budi = telegram.person(6002, language="en")
    api.push(budi.command(f"/start {link.split('start=')[1]}"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if "A friend invited you" in (m.text or "")]
    )

    def notices() -> list[str]:
        return [
            m.text or ""
            for m in api.sent_to(ana.user_id)
            if "Teman yang Anda undang" in (m.text or "")
        ]

    # Given Budi's batch on welcome credits earns nothing, and tells Ana nothing
    await _basic_batch(telegram, budi, 0)
    assert notices() == []
    # When he has bought credits and his next batch succeeds
    api.push(budi.paid("pack:100:50", 50, "tg-ref-notice"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if "100 credits added" in (m.text or "")]
    )
    await _basic_batch(telegram, budi, 1)

    # Then Ana is told in her language, with the credits already in her ledger
    found = await api.wait_for(notices, what="the inviter's notice")
    assert "50 kredit" in found[0] and "Saldo: 80" in found[0]
    referral = [e for e in await _ledger(telegram, ana.user_id) if e.reason == "referral"]
    assert [e.delta for e in referral] == [50]

    # And neither another batch, the upkeep nor a repeated message tells her twice
    await _basic_batch(telegram, budi, 2)
    broker = telegram.client.app[BROKER]
    actors = payment_actors(broker)
    async with telegram.uow() as uow:
        invitee = await uow.accounts.by_telegram_id(budi.user_id)
        assert invitee is not None
    await asyncio.to_thread(actors.notify_referrer.send, invitee.id)
    await asyncio.to_thread(actors.upkeep.send)
    await asyncio.to_thread(broker.join, PAYMENTS_QUEUE, timeout=20_000)
    assert len(notices()) == 1


# --- One image of a batch, redone at another tier --------------------------------------------


def _with_button(telegram: Harness, user_id: int, prefix: str):
    return [
        m
        for m in telegram.api.sent_to(user_id)
        if any(b.get("callback_data", "").startswith(prefix) for b in m.buttons())
    ]


async def test_one_image_of_a_batch_is_redone_alone_and_charged_once(telegram: Harness):
    api = telegram.api
    budi = telegram.person(5002, language="en")
    # Given a delivered batch of three images at Basic
    api.push(budi.document(api, zip_of(3), "products.zip", "application/zip"))
    quote = await telegram.quote_for(budi)
    telegram.tap(budi, quote, _tier(quote, "basic"))
    await telegram.delivered(budi.user_id)
    summary = await api.wait_for(
        lambda: _with_button(telegram, budi.user_id, "ri:"), what="the summary's one-image redo"
    )

    # When Budi picks the second image from the summary's list
    await telegram.answered(telegram.tap(budi, summary[0], button(summary[0], "ri:")))
    listing = await api.wait_for(
        lambda: _with_button(telegram, budi.user_id, "rj:"), what="the batch's images"
    )
    assert "batch #" in (listing[0].text or "") and "1-3 of 3" in (listing[0].text or "")
    picks = [b["callback_data"] for b in listing[0].buttons()]
    assert len(picks) == 3 and all(len(data.encode()) <= 64 for data in picks)
    async with telegram.uow() as uow:
        jobs = (await uow.session.scalars(select(Job).order_by(Job.id))).all()
    second = jobs[1]
    assert picks[1] == f"rj:{second.id}"
    await telegram.answered(telegram.tap(budi, listing[0], picks[1]))

    # Then it is quoted alone, and a double tap on a tier charges once
    redo = await telegram.quote_for(budi)  # the first quote lost its buttons when tapped
    assert "1 image ready" in (redo.text or "")
    data = _tier(redo, "professional")
    telegram.tap(budi, redo, data)
    telegram.tap(budi, redo, data)
    # The higher tier's model may load for the first time here: a patient wait on a busy box.
    await api.wait_for(
        lambda: len([m for m in api.sent_to(budi.user_id) if m.document]) == 2, within=180
    )
    await telegram.delivered(budi.user_id)
    charges = [e.delta for e in await _ledger(telegram, budi.user_id) if e.reason == "charge"]
    assert charges == [-9, -15]
    async with telegram.uow() as uow:
        after = (await uow.session.scalars(select(Job).order_by(Job.id))).all()
    assert len(after) == 4 and after[3].input_path == second.input_path
    assert after[3].batch_id != second.batch_id


async def test_one_image_past_retention_is_explained_from_history(telegram: Harness):
    api = telegram.api
    budi = telegram.person(5002, language="en")
    api.push(budi.document(api, zip_of(2), "products.zip", "application/zip"))
    quote = await telegram.quote_for(budi)
    telegram.tap(budi, quote, _tier(quote, "basic"))
    await telegram.delivered(budi.user_id)
    async with telegram.uow() as uow:
        first = (await uow.session.scalars(select(Job).order_by(Job.id))).first()
    assert first is not None
    # The retention clean-up deleted the original
    await asyncio.to_thread(Path(telegram.settings.data_dir / first.input_path).unlink)

    api.push(budi.command("/history"))
    history = await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if "Recent jobs" in (m.text or "")]
    )
    await telegram.answered(telegram.tap(budi, history[0], button(history[0], "ri:")))
    listing = await api.wait_for(lambda: _with_button(telegram, budi.user_id, "rj:"))
    await telegram.answered(telegram.tap(budi, listing[0], f"rj:{first.id}"))

    await api.wait_for(
        lambda: [
            m for m in api.sent_to(budi.user_id) if "original file was deleted" in (m.text or "")
        ],
        what="the explanation",
    )
    assert await telegram.balance(budi.user_id) == 30 - 6
    async with telegram.uow() as uow:
        assert len((await uow.session.scalars(select(Quote))).all()) == 1  # no new quote
