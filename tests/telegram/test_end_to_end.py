"""End-to-end chats: the real bot client, the whole process, and a fake Bot API on loopback."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from db.models import Batch
from tests.telegram.conftest import Harness, button, photo_bytes, zip_of


async def test_photo_is_quoted_and_comes_back_as_png_document_with_alpha(telegram: Harness):
    # Given a new person who sends one photo
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes((160, 100))))

    # When they tap Basic on the quote
    quote = await telegram.quote_for(sari)
    assert "1 gambar" in (quote.text or "")
    assert "Basic: 3 kredit" in (quote.text or "")
    assert "Kirim sebagai file" in (quote.text or "")  # photos are compressed: suggest files
    query = telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":basic")

    # Then the charge is confirmed and a PNG document with transparency arrives
    await telegram.answered(query)
    documents = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.document], what="the result"
    )
    name, content = documents[0].document
    assert name.endswith(".png")
    with Image.open(io.BytesIO(content)) as result:
        assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (160, 100))
    assert await telegram.balance(sari.user_id) == 30 - 3


async def test_album_of_three_becomes_one_quote_for_three_images(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    for _ in range(3):
        api.push(sari.photo(api, photo_bytes(), media_group_id="album-1"))

    quote = await telegram.quote_for(sari)

    assert "3 gambar" in (quote.text or "")
    quotes = [m for m in api.sent_to(sari.user_id) if m.buttons()]
    assert len(quotes) == 1
    assert len(quote.buttons()) == 5  # four tiers and Cancel


async def test_zip_of_25_shows_the_5_percent_discount_and_returns_one_zip(telegram: Harness):
    api = telegram.api
    budi = telegram.person(5002, language="en")
    api.push(budi.document(api, zip_of(25), "products.zip", "application/zip"))

    quote = await telegram.quote_for(budi)
    assert "25 images" in (quote.text or "")
    assert "5% volume discount" in (quote.text or "")
    assert "Basic: 71 credits" in (quote.text or "")  # 25 x 3 x 0.95 = 71.25
    operator = telegram.person(9001, language="en")
    api.push(operator.command(f"/grant tg:{budi.user_id} 100"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(operator.user_id) if "balance now 130" in (m.text or "")],
        what="the grant",
    )
    telegram.tap(budi, quote, button(quote, "q:").rsplit(":", 1)[0] + ":basic")

    documents = await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if m.document], what="the ZIP"
    )
    name, content = documents[0].document
    assert name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".png")]) == 25
    summary = await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if m.text and "Done: 25 of 25" in m.text],
        what="the summary",
    )
    assert summary
    assert len([m for m in api.sent_to(budi.user_id) if m.document]) == 1


async def test_double_tap_on_tier_button_charges_once(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    data = button(quote, "q:").rsplit(":", 1)[0] + ":standard"

    first = telegram.tap(sari, quote, data)
    second = telegram.tap(sari, quote, data)

    await telegram.answered(first)
    repeated = await telegram.answered(second)
    assert "sudah dipakai" in repeated.get("text", "")
    assert await telegram.balance(sari.user_id) == 30 - 8
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(sari.user_id)
        assert account is not None
        batches = await uow.batches.for_account(account.id)
        assert len(batches) == 1
        assert isinstance(batches[0], Batch)


async def test_not_enough_credits_charges_nothing_and_offers_buy(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    for _ in range(2):  # 2 x 25 credits, with 30 in the balance
        api.push(sari.photo(api, photo_bytes(), media_group_id="album-2"))
    quote = await telegram.quote_for(sari)

    query = telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":industry")

    answer = await telegram.answered(query)
    assert answer.get("show_alert") in (True, "true", "True")
    offer = await api.wait_for(
        lambda: [
            m
            for m in api.sent_to(sari.user_id)
            if any(b["callback_data"].startswith("buy:") for b in m.buttons())
        ],
        what="the offer of credit packs",
    )
    assert "/buy" in (offer[0].text or "")
    assert await telegram.balance(sari.user_id) == 30
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(sari.user_id)
        assert account is not None
        assert await uow.batches.for_account(account.id) == []
