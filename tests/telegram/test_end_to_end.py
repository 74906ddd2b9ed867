"""End-to-end chats: the real bot client, the whole process, and a fake Bot API on loopback."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

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
            if any(b.get("callback_data", "").startswith("buy:") for b in m.buttons())
        ],
        what="the offer of credit packs",
    )
    assert "/buy" in (offer[0].text or "")
    assert await telegram.balance(sari.user_id) == 30
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(sari.user_id)
        assert account is not None
        assert await uow.batches.for_account(account.id) == []


async def test_tap_on_a_cancelled_quote_is_answered_and_charges_nothing(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    quote_data = button(quote, "q:").rsplit(":", 1)[0]
    cancelled = telegram.tap(sari, quote, f"{quote_data}:cancel")
    await telegram.answered(cancelled)

    stale = telegram.tap(sari, quote, f"{quote_data}:basic")

    answer = await telegram.answered(stale)
    assert "sudah dipakai" in answer["text"]
    assert "Dibatalkan" in (quote.text or "")
    assert await telegram.balance(sari.user_id) == 30


async def test_progress_is_shown_by_editing_the_quote_message(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    for _ in range(3):
        api.push(sari.photo(api, photo_bytes((64, 48)), media_group_id="album-3"))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":basic")

    await api.wait_for(lambda: "Done: 3 of 3" in (quote.text or ""), what="the settled status")

    # Edited into the charge confirmation, into progress as images finished, then the outcome
    assert quote.edits >= 3
    progress = [
        c for c in api.called("editMessageText") if "Processing images:" in c.params["text"]
    ]
    assert progress
    assert not quote.buttons()


async def test_results_are_resent_from_history_while_kept(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":basic")
    first = await api.wait_for(lambda: [m for m in api.sent_to(sari.user_id) if m.document])
    await telegram.delivered(sari.user_id)

    api.push(sari.command("/history"))
    history = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Riwayat" in (m.text or "")]
    )
    query = telegram.tap(sari, history[0], button(history[0], "h:"))
    await telegram.answered(query)

    documents = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.document][1:], what="the re-send"
    )
    assert documents[0].document[1] == first[0].document[1]


async def test_white_background_setting_gives_an_opaque_result(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.command("/settings"))
    panel = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Pengaturan" in (m.text or "")]
    )
    await telegram.answered(telegram.tap(sari, panel[0], "set:bg:white"))
    # The tap is answered first (no spinner), and the panel edited after it.
    await api.wait_for(
        lambda: [m for m in panel[:1] if "Latar: white" in (m.text or "")], what="the edit"
    )

    api.push(sari.photo(api, photo_bytes((120, 80))))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":basic")
    documents = await api.wait_for(lambda: [m for m in api.sent_to(sari.user_id) if m.document])

    with Image.open(io.BytesIO(documents[0].document[1])) as result:
        assert (result.mode, result.size) == ("RGB", (120, 80))


async def test_plan_bought_with_stars_covers_the_next_quote(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    api.push(sari.command("/subscribe"))
    plans = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Plans" in (m.text or "")]
    )
    telegram.tap(sari, plans[0], "plan:starter")
    link = (await api.wait_for(lambda: api.called("createInvoiceLink")))[0].params
    assert (link["payload"], link["currency"], link["subscription_period"]) == (
        "plan:starter:480",
        "XTR",
        "2592000",
    )
    offer = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "renewed every 30 days" in (m.text or "")]
    )
    assert offer[0].buttons()[0]["url"].startswith("https://t.me/")

    api.push(sari.paid("plan:starter:480", 480, "tg-plan-1", recurring="first"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Starter plan is active" in (m.text or "")]
    )
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)

    assert "★ Basic" in (quote.text or "")
    assert "Today's quota: 50 more images" in (quote.text or "")
    assert await telegram.balance(sari.user_id) == 30


async def test_stopping_a_stars_subscription_cancels_its_renewal_at_telegram(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    api.push(sari.paid("plan:pro:1450", 1450, "tg-sub-1", recurring="first"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Pro plan is active" in (m.text or "")]
    )
    api.push(sari.paid("plan:pro:1450", 1450, "tg-sub-2", recurring="renewal"))
    api.push(sari.command("/subscribe"))
    plans = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Your plan: Pro" in (m.text or "")]
    )

    telegram.tap(sari, plans[0], button(plans[0], "plan:cancel"))

    edit = (await api.wait_for(lambda: api.called("editUserStarSubscription")))[0].params
    assert edit == {
        "user_id": str(sari.user_id),
        "telegram_payment_charge_id": "tg-sub-1",
        "is_canceled": "true",
    }
    stopped = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Renewal stopped" in (m.text or "")]
    )
    async with telegram.uow() as uow:
        account = await uow.accounts.by_telegram_id(sari.user_id)
        assert account is not None
        subscription = await uow.subscriptions.active(account.id, datetime.now(UTC))
        assert subscription is not None
    # Renewed once: two paid months from the first payment
    assert (subscription.period_end - subscription.period_start).days == 60
    assert not subscription.auto_renew
    assert stopped


async def test_separate_photos_in_quick_succession_become_one_quote(telegram: Harness):
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes()))
    api.push(sari.document(api, photo_bytes(fmt="PNG"), "produk.png", "image/png"))

    quote = await telegram.quote_for(sari)

    assert "2 gambar" in (quote.text or "")
    assert len([m for m in api.sent_to(sari.user_id) if m.buttons()]) == 1


async def test_a_file_that_is_not_an_image_is_refused_with_its_reason(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    api.push(sari.document(api, b"just some notes", "notes.txt", "text/plain"))

    refusal = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "no image" in (m.text or "")],
        what="the refusal",
    )

    assert "notes.txt: not an image" in (refusal[0].text or "")
    assert not refusal[0].buttons()
    assert await telegram.balance(sari.user_id) == 30
