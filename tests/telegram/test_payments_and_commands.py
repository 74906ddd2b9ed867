"""Stars purchases, commands and operators, through the real client and the fake Bot API."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from db.models import LedgerReason
from tests.fakes.telegram_api import TOKEN
from tests.telegram.conftest import Harness, button, photo_bytes


async def _text_containing(telegram: Harness, chat_id: int, fragment: str) -> str:
    found = await telegram.api.wait_for(
        lambda: [m.text for m in telegram.api.sent_to(chat_id) if fragment in (m.text or "")],
        what=f"a message containing {fragment!r}",
    )
    return str(found[0])


async def test_stars_purchase_credits_once_even_when_the_payment_is_delivered_twice(
    telegram: Harness,
):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.command("/buy"))
    packs = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.buttons()], what="the packs"
    )
    telegram.tap(sari, packs[0], button(packs[0], "buy:100"))
    invoice = (await api.wait_for(lambda: api.called("sendInvoice"), what="the invoice"))[0]
    assert invoice.params["currency"] == "XTR"
    assert invoice.params["prices"] == [{"label": invoice.params["title"], "amount": 50}]
    payload = invoice.params["payload"]

    api.push(sari.pre_checkout("pcq-1", payload, 50))
    checkout = (
        await api.wait_for(lambda: api.called("answerPreCheckoutQuery"), what="the checkout")
    )[0]
    assert checkout.params["ok"] in ("true", True)

    # Telegram delivers the successful payment, then (a retry) the same charge again
    api.push(sari.paid(payload, 50, "tg-charge-1"))
    api.push(sari.paid(payload, 50, "tg-charge-1"))
    api.push(sari.command("/help"))  # handled after both payments: a marker to wait for
    await _text_containing(telegram, sari.user_id, "Cara pakai")

    credited = [m for m in api.sent_to(sari.user_id) if "ditambahkan" in (m.text or "")]
    assert len(credited) == 1
    assert await telegram.balance(sari.user_id) == 30 + 100


async def test_checkout_of_a_price_no_longer_offered_is_refused(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.pre_checkout("pcq-2", "pack:100:1", 1))

    checkout = (
        await api.wait_for(lambda: api.called("answerPreCheckoutQuery"), what="the checkout")
    )[0]

    assert checkout.params["ok"] in ("false", False)
    assert checkout.params["error_message"]


async def test_operator_refunds_a_stars_payment_and_takes_the_credits_back(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.paid("pack:100:50", 50, "tg-charge-9"))
    await _text_containing(telegram, sari.user_id, "ditambahkan")
    operator = telegram.person(9001, language="en")

    api.push(operator.command("/refund tg-charge-9"))

    await _text_containing(telegram, operator.user_id, "refunded")
    refund = api.called("refundStarPayment")[0]
    assert refund.params == {
        "user_id": str(sari.user_id),
        "telegram_payment_charge_id": "tg-charge-9",
    }
    assert await telegram.balance(sari.user_id) == 30


async def test_stats_numbers_match_the_ledger(telegram: Harness):
    # Given a person whose photo was cut out at the standard tier
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":standard")
    await api.wait_for(lambda: [m for m in api.sent_to(sari.user_id) if m.document])

    # When they ask for their statistics
    api.push(sari.command("/stats"))
    stats = await _text_containing(telegram, sari.user_id, "Statistik")

    # Then spending and balance are the ledger's
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(sari.user_id)
        assert account is not None
        entries = await uow.ledger.entries(account.id)
    spent = -sum(e.delta for e in entries if e.reason in {LedgerReason.CHARGE, LedgerReason.REFUND})
    balance = sum(e.delta for e in entries)
    assert (spent, balance) == (8, 22)
    assert f"Kredit terpakai: {spent} " in stats
    assert f"Saldo: {balance} kredit" in stats
    assert "Gambar diproses: 1" in stats
    assert "Standar: 1" in stats


async def test_operator_stats_are_for_operators_only(telegram: Harness):
    api = telegram.api
    stranger = telegram.person(5003, language="en")
    operator = telegram.person(9001, language="en")
    api.push(stranger.command("/admin"))
    api.push(operator.command("/admin"))

    assert await _text_containing(telegram, stranger.user_id, "Operators only")
    figures = await _text_containing(telegram, operator.user_id, "Users:")
    assert "Users: 2" in figures
    assert "Margin" in figures


async def test_language_switch_changes_the_replies(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.command("/language"))
    choice = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.buttons()], what="the languages"
    )
    query = telegram.tap(sari, choice[0], "lang:en")
    await telegram.answered(query)
    api.push(sari.command("/help"))

    assert await _text_containing(telegram, sari.user_id, "How it works")


async def test_a_file_over_the_download_limit_is_refused_with_the_limit(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.document(api, b"tiny", "huge.tif", "image/tiff", size=25 * 10**6))

    refusal = await _text_containing(telegram, sari.user_id, "terlalu besar")

    assert "20 MB" in refusal
    assert not api.called("getFile")


async def test_api_key_is_shown_once_and_listed_by_prefix(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    api.push(sari.command("/apikey new shop"))
    created = await _text_containing(telegram, sari.user_id, "brp_")
    secret = created.split("\n")[-1]
    api.push(sari.command("/apikey"))

    listing = await _text_containing(telegram, sari.user_id, "#1")

    assert "shop" in listing
    assert secret not in listing


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    watched = [logging.getLogger(name) for name in ("telegram", "httpx", "bot", "workers")]
    levels = [logger.level for logger in watched]
    root.addHandler(handler)
    for logger in watched:
        logger.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    for logger, level in zip(watched, levels, strict=True):
        logger.setLevel(level)


async def test_bot_token_never_appears_in_logs(captured_logs: io.StringIO, telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":basic")
    await api.wait_for(lambda: [m for m in api.sent_to(sari.user_id) if m.document])

    logs = captured_logs.getvalue()
    assert "getFile" in logs or "Bot API" in logs  # the client did log its requests
    assert TOKEN not in logs
    assert TOKEN.split(":")[1] not in logs


async def test_link_shows_a_code_and_refuses_an_unknown_one(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    api.push(sari.command("/link"))
    shown = await _text_containing(telegram, sari.user_id, "Send this code from WhatsApp")
    code = shown.rsplit(" ", 1)[-1]
    assert len(code) == 8

    api.push(sari.command("/link ZZZZ2222"))

    assert await _text_containing(telegram, sari.user_id, "Unknown link code")


async def test_operator_sets_a_plan_by_command(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.command("/start"))
    await _text_containing(telegram, sari.user_id, "30 kredit gratis")
    operator = telegram.person(9001, language="en")

    api.push(operator.command(f"/setplan tg:{sari.user_id} pro 30"))
    await _text_containing(telegram, operator.user_id, "Pro plan until")
    api.push(sari.command("/subscribe"))

    plans = await _text_containing(telegram, sari.user_id, "Paket Anda: Pro")
    assert "aktif sampai" in plans


async def test_operator_commands_refuse_others_and_explain_bad_arguments(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.command("/start"))
    await _text_containing(telegram, sari.user_id, "30 kredit gratis")
    operator = telegram.person(9001, language="en")

    # Someone not in ADMIN_IDS is told so, and nothing is granted.
    api.push(sari.command(f"/grant tg:{sari.user_id} 1000"))
    await _text_containing(telegram, sari.user_id, "Perintah khusus operator")
    # An operator naming a plan or an account that does not exist is told which.
    api.push(operator.command(f"/setplan tg:{sari.user_id} gold 30"))
    await _text_containing(telegram, operator.user_id, "Unknown plan: choose starter or pro")
    api.push(operator.command("/grant tg:424242 10"))
    await _text_containing(telegram, operator.user_id, "Account not found")
    api.push(sari.command("/stats"))
    assert "Saldo: 30 kredit" in await _text_containing(telegram, sari.user_id, "Saldo:")
