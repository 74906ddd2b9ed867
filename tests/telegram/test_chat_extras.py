"""End-to-end chats for the extras: free preview, Cancel, redo, invitations and promo codes."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from functools import partial
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from bot.telegram.application import TELEGRAM
from bot.telegram.context import DEPS_KEY, TelegramDeps
from db.models import Job, JobStatus, LedgerEntry, PreviewUsage, Referral
from services.clock import utcnow
from services.engines.base import SegmentationEngine
from services.pricing import Tier, price_at_rate
from services.promos import create_promo
from tests.fakes.telegram_api import ChatMessage, Person
from tests.telegram.conftest import Harness, button, photo_bytes, running_bot


def _deps(harness: Harness) -> TelegramDeps:
    deps = harness.client.app[TELEGRAM].bot_data[DEPS_KEY]
    assert isinstance(deps, TelegramDeps)
    return deps


async def _previews_idle(harness: Harness, started: int) -> None:
    """Wait until `started` previews were asked for and every one of them is over."""
    previews = _deps(harness).previews
    assert previews is not None
    await harness.api.wait_for(lambda: previews.started >= started, what="the preview's start")
    await previews.idle()


async def _ledger(harness: Harness, telegram_id: int) -> list[LedgerEntry]:
    async with harness.uow() as uow:
        account = await uow.accounts.by_telegram_id(telegram_id)
        assert account is not None
        return list(await uow.ledger.entries(account.id))


def _tier(quote_message, tier: str) -> str:
    return button(quote_message, "q:").rsplit(":", 1)[0] + f":{tier}"


# --- Free preview --------------------------------------------------------------------------


async def test_free_preview_follows_the_quote_and_charges_nothing(tmp_path, database_url, make_uow):
    async with running_bot(tmp_path, database_url, make_uow, previews_per_day=2) as telegram:
        api = telegram.api
        sari = telegram.person(language="en")
        api.push(sari.photo(api, photo_bytes((640, 400))))

        quote = await telegram.quote_for(sari)
        previews = await api.wait_for(
            lambda: [m for m in api.sent_to(sari.user_id) if m.document], what="the preview"
        )

        name, content = previews[0].document
        assert name == "preview.png"
        assert "Free preview" in (previews[0].caption or "")
        assert "Left today: 1" in (previews[0].caption or "")
        # The quote came first: the preview never holds it up.
        assert quote.message_id < previews[0].message_id
        with Image.open(io.BytesIO(content)) as preview:
            assert preview.mode == "RGBA"
            assert max(preview.size) == 384  # small, not the full 640 px cutout
        assert await telegram.balance(sari.user_id) == 30
        assert [e.reason for e in await _ledger(telegram, sari.user_id)] == ["welcome"]


async def test_a_batch_gets_a_preview_of_its_first_image_only(tmp_path, database_url, make_uow):
    async with running_bot(tmp_path, database_url, make_uow, previews_per_day=3) as telegram:
        api = telegram.api
        sari = telegram.person()
        for _ in range(3):
            api.push(sari.photo(api, photo_bytes(), media_group_id="album-p"))

        quote = await telegram.quote_for(sari)
        await _previews_idle(telegram, 1)

        assert "3 gambar" in (quote.text or "")
        assert len([m for m in api.sent_to(sari.user_id) if m.document]) == 1
        async with telegram.uow() as uow:
            usage = (await uow.session.scalars(select(PreviewUsage))).all()
        assert [row.used for row in usage] == [1]


async def test_previews_stop_at_the_daily_limit_while_quotes_go_on(
    tmp_path, database_url, make_uow
):
    async with running_bot(tmp_path, database_url, make_uow, previews_per_day=1) as telegram:
        api = telegram.api
        sari = telegram.person()
        api.push(sari.photo(api, photo_bytes()))
        await telegram.quote_for(sari)
        await api.wait_for(lambda: [m for m in api.sent_to(sari.user_id) if m.document])

        api.push(sari.photo(api, photo_bytes()))
        await telegram.quote_for(sari, count_before=1)
        await _previews_idle(telegram, 2)

        assert len([m for m in api.sent_to(sari.user_id) if m.document]) == 1
        async with telegram.uow() as uow:
            usage = (await uow.session.scalars(select(PreviewUsage))).all()
        assert [row.used for row in usage] == [1]
        assert await telegram.balance(sari.user_id) == 30


async def test_quote_works_without_a_preview_when_the_engine_is_unavailable(
    tmp_path, database_url, make_uow
):
    async with running_bot(tmp_path, database_url, make_uow, previews_per_day=3) as telegram:
        api = telegram.api
        sari = telegram.person()
        previews = _deps(telegram).previews
        assert previews is not None
        previews._build_engine = _missing_engine
        api.push(sari.photo(api, photo_bytes()))

        await telegram.quote_for(sari)
        await _previews_idle(telegram, 1)

        assert not [m for m in api.sent_to(sari.user_id) if m.document]
        async with telegram.uow() as uow:
            usage = (await uow.session.scalars(select(PreviewUsage))).all()
        assert [row.used for row in usage] == [0]  # the allowance came back


def _missing_engine() -> SegmentationEngine:
    from services.engines.base import ModelMissing

    raise ModelMissing("no model file")


# --- Cancel a batch in progress --------------------------------------------------------------


async def test_cancel_refunds_only_images_not_started_and_only_once(telegram: Harness):
    # Given a batch of 20 standard images paid in credits (20 x 8 x 0.95 = 152)
    api = telegram.api
    budi = telegram.person(5002, language="en")
    for _ in range(20):
        api.push(budi.photo(api, photo_bytes((64, 48)), media_group_id="album-c1"))
    quote = await telegram.quote_for(budi)
    assert "20 images" in (quote.text or "")
    operator = telegram.person(9001, language="en")
    api.push(operator.command(f"/grant tg:{budi.user_id} 200"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(operator.user_id) if "balance now" in (m.text or "")]
    )

    # When the person taps Standard and, at once, Cancel on the status message
    telegram.tap(budi, quote, _tier(quote, "standard"))
    cancel = await api.wait_for(
        lambda: [b["callback_data"] for b in quote.buttons() if b["callback_data"][:3] == "bc:"],
        what="the Cancel button on the status message",
    )
    first = telegram.tap(budi, quote, cancel[0])
    await telegram.answered(first)
    await telegram.delivered(budi.user_id)
    second = await telegram.answered(telegram.tap(budi, quote, cancel[0]))

    # Then the cancelled images were never processed, and were refunded once at the 5% rate
    async with telegram.uow() as uow:
        jobs = (await uow.session.scalars(select(Job))).all()
    cancelled = [j for j in jobs if j.status == JobStatus.CANCELLED]
    done = [j for j in jobs if j.status == JobStatus.DONE]
    assert cancelled, "the Cancel came too late to stop any image"
    assert all(j.output_path is None and j.attempts == 0 for j in cancelled)
    assert len(cancelled) + len(done) == 20
    refunds = [e for e in await _ledger(telegram, budi.user_id) if e.reason == "refund"]
    assert len(refunds) == 1
    assert refunds[0].delta == 152 - price_at_rate(Tier.STANDARD, len(done), 5)
    assert await telegram.balance(budi.user_id) == 230 - 152 + refunds[0].delta
    assert "nothing was cancelled" in second.get("text", "")
    summary = await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if "cancelled before" in (m.text or "")]
    )
    assert f"{len(cancelled)} image" in (summary[0].text or "")


# --- Redo at another tier --------------------------------------------------------------------


async def test_redo_quotes_the_same_inputs_and_charges_once(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, _tier(quote, "basic"))
    await telegram.delivered(sari.user_id)
    summary = await api.wait_for(
        lambda: [
            m
            for m in api.sent_to(sari.user_id)
            if any(b.get("callback_data", "").startswith("rd:") for b in m.buttons())
        ],
        what="the summary with a redo button",
    )

    await telegram.answered(telegram.tap(sari, summary[0], button(summary[0], "rd:")))
    redo = await telegram.quote_for(sari)  # the first quote lost its buttons when tapped
    assert "1 image ready" in (redo.text or "")
    data = _tier(redo, "professional")
    telegram.tap(sari, redo, data)
    telegram.tap(sari, redo, data)
    await api.wait_for(lambda: len([m for m in api.sent_to(sari.user_id) if m.document]) == 2)
    await telegram.delivered(sari.user_id)

    charges = [e.delta for e in await _ledger(telegram, sari.user_id) if e.reason == "charge"]
    assert charges == [-3, -15]
    async with telegram.uow() as uow:
        jobs = (await uow.session.scalars(select(Job).order_by(Job.id))).all()
    assert len(jobs) == 2 and jobs[0].input_path == jobs[1].input_path


async def test_redo_after_the_inputs_were_deleted_says_so(telegram: Harness):
    api = telegram.api
    sari = telegram.person(language="en")
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, _tier(quote, "basic"))
    await telegram.delivered(sari.user_id)
    async with telegram.uow() as uow:
        job = (await uow.session.scalars(select(Job))).one()
    await asyncio.to_thread(Path(telegram.settings.data_dir / job.input_path).unlink)

    api.push(sari.command("/history"))
    history = await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "Recent jobs" in (m.text or "")]
    )
    await telegram.answered(telegram.tap(sari, history[0], button(history[0], "rd:")))

    await api.wait_for(
        lambda: [
            m for m in api.sent_to(sari.user_id) if "original files were deleted" in (m.text or "")
        ],
        what="the explanation",
    )
    assert await telegram.balance(sari.user_id) == 30 - 3


# --- Invitations ---------------------------------------------------------------------------


async def _invite_link(telegram: Harness, person: Person) -> str:
    api = telegram.api
    api.push(person.command("/invite"))
    found = await api.wait_for(
        lambda: [m for m in api.sent_to(person.user_id) if "t.me/" in (m.text or "")]
    )
    return next(part for part in (found[0].text or "").split() if "t.me/" in part)


async def _basic_batch(telegram: Harness, person: Person, count_before: int) -> None:
    api = telegram.api
    api.push(person.photo(api, photo_bytes()))
    quote = await telegram.quote_for(person)  # earlier quotes lost their buttons when tapped
    telegram.tap(person, quote, _tier(quote, "basic"))
    await api.wait_for(
        lambda: len([m for m in api.sent_to(person.user_id) if m.document]) > count_before
    )
    await telegram.delivered(person.user_id)


async def test_referral_rewards_both_once_after_the_first_paid_batch(telegram: Harness):
    api = telegram.api
    ana = telegram.person(6001, language="en")
    link = await _invite_link(telegram, ana)
    assert link.startswith("https://t.me/cutout_bot?start=ref_")

    # Given Budi joins through Ana's link
    budi = telegram.person(6002, language="en")
    api.push(budi.command(f"/start {link.split('start=')[1]}"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if "A friend invited you" in (m.text or "")]
    )
    # When he uses only his free welcome credits, nobody is rewarded
    await _basic_batch(telegram, budi, 0)
    assert await telegram.balance(ana.user_id) == 30
    # Then after he buys credits, his next batch rewards both, once
    api.push(budi.paid("pack:100:50", 50, "tg-ref-1"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(budi.user_id) if "100 credits added" in (m.text or "")]
    )
    await _basic_batch(telegram, budi, 1)
    await _basic_batch(telegram, budi, 2)

    assert await telegram.balance(ana.user_id) == 30 + 50
    assert await telegram.balance(budi.user_id) == 30 + 100 - 3 * 3 + 50
    referral_entries = [
        e
        for who in (ana, budi)
        for e in await _ledger(telegram, who.user_id)
        if e.reason == "referral"
    ]
    assert len(referral_entries) == 2


async def test_own_invite_link_is_refused(telegram: Harness):
    api = telegram.api
    ana = telegram.person(6001, language="en")
    link = await _invite_link(telegram, ana)

    api.push(ana.command(f"/start {link.split('start=')[1]}"))

    await api.wait_for(
        lambda: [m for m in api.sent_to(ana.user_id) if "your own invite link" in (m.text or "")]
    )
    async with telegram.uow() as uow:
        assert (await uow.session.scalars(select(Referral))).all() == []


# --- Promo codes ---------------------------------------------------------------------------


async def test_promo_code_is_redeemed_once_per_person_until_its_last_use(telegram: Harness):
    api = telegram.api
    operator = telegram.person(9001, language="en")
    api.push(operator.command("/newpromo launch 20 2 7"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(operator.user_id) if "Code LAUNCH" in (m.text or "")]
    )
    people = [telegram.person(7000 + n, language="en") for n in range(3)]

    for who in people[:2]:
        api.push(who.command("/promo launch"))
        api.push(who.command("/promo LAUNCH"))
    api.push(people[2].command("/promo launch"))

    def told(who: Person, words: str) -> list[ChatMessage]:
        return [m for m in api.sent_to(who.user_id) if words in (m.text or "")]

    for who in people[:2]:
        await api.wait_for(partial(told, who, "already redeemed"))
        assert await telegram.balance(who.user_id) == 30 + 20
    await api.wait_for(
        lambda: [m for m in api.sent_to(people[2].user_id) if "used up" in (m.text or "")]
    )
    assert await telegram.balance(people[2].user_id) == 30


async def test_expired_promo_code_gives_nothing(telegram: Harness):
    api = telegram.api
    await create_promo(
        telegram.uow(),
        "OLD",
        credits=20,
        uses=10,
        valid_for=timedelta(days=1),
        created_by="test",
        now=utcnow() - timedelta(days=2),
    )
    sari = telegram.person(language="en")

    api.push(sari.command("/promo old"))

    await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if "expired" in (m.text or "")]
    )
    assert await telegram.balance(sari.user_id) == 30
