"""Switching Stars plans through the real client and the fake Bot API: one renewing plan."""

from __future__ import annotations

from services.accounts import grant_credits
from services.clock import utcnow
from services.subscriptions import buy_plan_with_credits
from tests.telegram.conftest import Harness, running_bot


async def _text_containing(telegram: Harness, chat_id: int, fragment: str) -> str:
    found = await telegram.api.wait_for(
        lambda: [m.text for m in telegram.api.sent_to(chat_id) if fragment in (m.text or "")],
        what=f"a message containing {fragment!r}",
    )
    return str(found[-1])


async def test_upgrading_stops_the_old_renewal_and_refunds_its_late_renewal(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    # Given a starter Stars subscription
    api.push(sari.paid("plan:starter:480", 480, "st-1", recurring="first"))
    await _text_containing(telegram, sari.user_id, "Paket Starter aktif")
    # When Sari upgrades to pro with Stars
    api.push(sari.paid("plan:pro:1450", 1450, "pro-1", recurring="first"))
    started = await _text_containing(telegram, sari.user_id, "Paket Pro aktif")
    # Then the starter subscription renews no more at Telegram, and its unused days are credited
    await api.wait_for(lambda: "st-1" in api.cancelled_subscriptions, what="starter stopped")
    assert "pro-1" not in api.cancelled_subscriptions
    assert "Sisa hari paket sebelumnya dikembalikan: 990 kredit" in started
    assert await telegram.balance(sari.user_id) == 30 + 990

    # When Telegram still renews the starter (it charged before the stop reached it)
    api.push(sari.paid("plan:starter:480", 480, "st-2", recurring="renewal"))
    # Then its Stars go back and pro stays
    await _text_containing(telegram, sari.user_id, "tidak dipakai")
    await api.wait_for(lambda: "st-2" in api.refunded, what="the renewal refunded")
    api.push(sari.command("/subscribe"))
    plans = await _text_containing(telegram, sari.user_id, "Paket Anda:")
    assert "Paket Anda: Pro" in plans
    assert "Satu paket aktif per akun" in plans
    assert await telegram.balance(sari.user_id) == 30 + 990


async def test_stop_renewal_stops_every_renewal_even_after_a_failed_stop(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    # Given a starter subscription whose stop fails at the upgrade (Telegram is down)
    api.failures["editUserStarSubscription"] = 1
    api.push(sari.paid("plan:starter:480", 480, "st-1", recurring="first"))
    await _text_containing(telegram, sari.user_id, "Starter plan is active")
    api.push(sari.paid("plan:pro:1450", 1450, "pro-1", recurring="first"))
    await _text_containing(telegram, sari.user_id, "Pro plan is active")
    await api.wait_for(lambda: api.called("editUserStarSubscription"), what="a stop attempt")
    assert not api.cancelled_subscriptions
    # When Sari taps "Stop renewal"
    api.push(sari.command("/subscribe"))
    plans = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "One plan per account" in (m.text or "")]
    )
    query = telegram.tap(sari, plans[0], "plan:cancel")
    await telegram.answered(query)
    # Then neither subscription renews any more
    await api.wait_for(
        lambda: api.cancelled_subscriptions == {"st-1", "pro-1"}, what="both renewals stopped"
    )
    assert await _text_containing(telegram, sari.user_id, "Renewal stopped")


async def test_a_plan_bought_elsewhere_stops_the_stars_renewal_on_the_next_tick(
    tmp_path, database_url, make_uow
):
    async with running_bot(tmp_path, database_url, make_uow, sweep_interval_seconds=1) as bot:
        api = bot.api
        sari = bot.person()
        api.push(sari.paid("plan:starter:480", 480, "st-1", recurring="first"))
        await _text_containing(bot, sari.user_id, "Paket Starter aktif")
        async with bot.uow() as uow:
            account = await uow.accounts.by_telegram_id(sari.user_id)
            assert account is not None
        # Pro bought with credits over WhatsApp or the HTTP API, outside this chat
        await grant_credits(
            make_uow(), account.id, 3000, reference="t", idempotency_key="t-1", now=utcnow()
        )
        await buy_plan_with_credits(
            make_uow(), account.id, "pro", credit_price_rp=100, request_key="wa-1", now=utcnow()
        )

        await api.wait_for(
            lambda: "st-1" in api.cancelled_subscriptions, within=20, what="starter stopped"
        )
