"""Text commands, account linking, plans and held results over WhatsApp."""

from __future__ import annotations

import re

from services.account_links import issue_link_code, redeem_link_code
from services.accounts import ChannelIdentity, get_or_register, grant_credits
from services.clock import utcnow
from services.whatsapp import hold_message
from tests.integration.helpers import new_account
from tests.whatsapp import payloads
from tests.whatsapp.conftest import NUMBER

ENGLISH_NUMBER = "447700900123"


async def reply_to(channel, message, number=NUMBER):
    before = len(channel.api.sent)
    await channel.send(message, number)
    sent = await channel.api.wait_for_sent(before + 1)
    return sent[before:]


async def test_first_message_greets_in_the_numbers_language_and_help_lists_the_words(channel):
    await channel.send(payloads.text("help"), ENGLISH_NUMBER)

    welcome, help_reply = (m["text"]["body"] for m in await channel.api.wait_for_sent(2))

    assert "100" in welcome  # the welcome balance
    assert "How it works" in help_reply
    assert "*balance*" in help_reply


async def test_saldo_replies_with_the_balance_in_indonesian(channel):
    await reply_to(channel, payloads.text("hai"))
    [reply] = await reply_to(channel, payloads.text("Saldo"))

    assert "Saldo: 100 kredit" in reply["text"]["body"]


async def test_link_word_gives_a_code_that_telegram_redeems(channel, uow):
    await reply_to(channel, payloads.text("hai"))
    [reply] = await reply_to(channel, payloads.text("link"))
    found = re.search(r"/link ([A-Z0-9]{8})", reply["text"]["body"])
    assert found is not None
    code = found.group(1)
    telegram = await new_account(uow, telegram_id=4242, credits=0)

    survivor = await redeem_link_code(uow, code, telegram, now=utcnow())

    async with uow:
        account = await uow.accounts.by_telegram_id(4242)
        assert account.id == survivor
        assert account.whatsapp_number == NUMBER


async def test_a_code_from_telegram_sent_on_whatsapp_joins_the_number(channel, uow):
    telegram = await new_account(uow, telegram_id=4343, credits=7)
    code = await issue_link_code(uow, telegram, now=utcnow())

    await channel.send(payloads.text(code.lower()))
    _, linked = await channel.api.wait_for_sent(2)  # the welcome, then the answer to the code
    [balance] = await reply_to(channel, payloads.text("saldo"))

    assert linked["text"]["body"].startswith("✅")
    assert "Saldo: 7 kredit" in balance["text"]["body"]


async def test_held_results_are_sent_when_the_person_writes_again(channel, uow):
    await hold_message(uow, NUMBER, "📥 hasil.png https://x/d/t", now=utcnow())

    replies = await reply_to(channel, payloads.text("hai"))

    assert replies[0]["text"]["body"] == "📥 hasil.png https://x/d/t"


async def test_a_pdf_is_refused_without_being_downloaded(channel):
    media_id = channel.api.add_media(b"%PDF-1.4", "application/pdf", "invoice.pdf")
    await reply_to(channel, payloads.text("hai"))

    [reply] = await reply_to(channel, payloads.document(media_id, "invoice.pdf", "application/pdf"))

    assert "ZIP" in reply["text"]["body"]
    assert channel.api.downloads == 0


async def test_subscribe_offers_plans_and_a_choice_pays_once_from_credits(channel, uow):
    registration = await get_or_register(
        uow,
        ChannelIdentity(whatsapp_number=NUMBER),
        language="id",
        display_name="Sari",
        welcome_credits=0,
        now=utcnow(),
    )
    await grant_credits(
        uow,
        registration.account.id,
        2000,
        reference="test",
        idempotency_key="grant:plan",
        now=utcnow(),
    )
    [plans] = await reply_to(channel, payloads.text("subscribe"))
    rows = [r for s in plans["interactive"]["action"]["sections"] for r in s["rows"]]
    starter = next(r for r in rows if r["id"] == "plan:starter")
    choice = payloads.list_reply(starter["id"], starter["title"])

    [started] = await reply_to(channel, choice)
    await channel.send(choice)

    assert "Starter" in started["text"]["body"]
    async with uow:
        account = await uow.accounts.get(registration.account.id)
    assert account.balance == 2000 - 990


async def test_media_that_whatsapp_no_longer_has_asks_for_the_file_again(channel):
    await reply_to(channel, payloads.text("hai"))

    [reply] = await reply_to(channel, payloads.image("999999"))

    assert "kirim ulang" in reply["text"]["body"]
