"""WhatsApp parity for the chat extras: preview, Cancel, redo, invitations, promo codes."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from dramatiq.asyncio import get_event_loop_thread
from sqlalchemy import select

from bot.app import BROKER, build_web_app
from db.models import Job, JobStatus, LedgerReason, PreviewUsage
from services.clock import utcnow
from services.pricing import Tier, price_at_rate
from services.promos import create_promo
from tests.api.conftest import MODELS
from tests.whatsapp import payloads
from tests.whatsapp.conftest import NUMBER, Channel, _free_port, whatsapp_settings
from tests.whatsapp.test_flow import choose, photo, quote_for, rows_of, wait_for_link, zip_of
from workers.whatsapp import CloseIntake

OTHER = "6289900011122"


@pytest.fixture
async def previewing(tmp_path, database_url, graph_api):
    """The channel with one free preview a day."""
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    port = _free_port()
    settings = whatsapp_settings(tmp_path, database_url, graph_api, port).model_copy(
        update={"previews_per_day": 1}
    )
    server = TestServer(build_web_app(settings), host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        yield Channel(client, graph_api, settings)


def _texts(channel: Channel, after: int = 0) -> list[str]:
    bodies = []
    for message in channel.api.sent[after:]:
        if message["type"] == "text":
            bodies.append(message["text"]["body"])
        elif message["type"] == "interactive":
            bodies.append(message["interactive"]["body"]["text"])
        elif message["type"] == "image":
            bodies.append(message["image"].get("caption", ""))
    return bodies


async def _said(channel: Channel, words: str, after: int = 0) -> str:
    while True:
        found = [body for body in _texts(channel, after) if words in body]
        if found:
            return found[0]
        await channel.api.wait_for_sent(len(channel.api.sent) + 1, seconds=60)


def _buttons(channel: Channel, prefix: str) -> list[dict[str, Any]]:
    return [
        button["reply"]
        for message in channel.api.sent
        if message["type"] == "interactive" and message["interactive"]["type"] == "button"
        for button in message["interactive"]["action"]["buttons"]
        if button["reply"]["id"].startswith(prefix)
    ]


async def _button(channel: Channel, prefix: str) -> dict[str, Any]:
    while not _buttons(channel, prefix):
        await channel.api.wait_for_sent(len(channel.api.sent) + 1, seconds=60)
    return _buttons(channel, prefix)[0]


async def _balance(uow, number: str = NUMBER) -> int:
    async with uow:
        account = await uow.accounts.by_whatsapp_number(number)
        return int(account.balance)


async def test_preview_image_follows_the_quote_free_and_only_once_a_day(previewing, uow):
    first = previewing.api.add_media(photo((300, 200)), "image/jpeg")
    await quote_for(previewing, payloads.image(first))
    caption = await _said(previewing, "Pratinjau gratis")
    preview = next(m for m in previewing.api.sent if m["type"] == "image")
    assert previewing.api.uploads[preview["image"]["id"]].mime_type == "image/png"
    assert "Sisa hari ini: 0" in caption

    second = previewing.api.add_media(photo(), "image/jpeg")
    await quote_for(previewing, payloads.image(second))
    # The conversation runs in the WhatsApp message job of the embedded worker.
    middleware = previewing.client.app[BROKER].middleware
    intake = next(m.intake for m in middleware if isinstance(m, CloseIntake))
    previews = intake.previews
    assert previews is not None
    for _ in range(1500):  # the second quote's preview is asked for just after the quote
        if previews.started >= 2:
            break
        await asyncio.sleep(0.02)
    assert previews.started == 2
    # The previews run on the worker's event loop, not on the test's.
    worker_loop = get_event_loop_thread()
    assert worker_loop is not None
    await asyncio.to_thread(worker_loop.run_coroutine, previews.idle())
    async with uow:
        usage = (await uow.session.scalars(select(PreviewUsage))).all()

    assert [row.used for row in usage] == [1]
    assert sum(1 for m in previewing.api.sent if m["type"] == "image") == 1
    assert await _balance(uow) == 100


async def test_cancel_button_stops_unstarted_images_and_refunds_them_once(channel, uow):
    archive = zip_of({f"p{n:02d}.jpg": photo() for n in range(20)})
    media_id = channel.api.add_media(archive, "application/zip", "produk.zip")
    quote = await quote_for(channel, payloads.document(media_id, "produk.zip", "application/zip"))
    await choose(channel, quote, "basic")  # 20 x 3 x 0.95 = 57
    cancel = await _button(channel, "bc:")

    await channel.send(payloads.button_reply(cancel["id"], cancel["title"]))
    await channel.send(payloads.button_reply(cancel["id"], cancel["title"]))
    await _said(channel, "dibatalkan sebelum diproses")

    async with uow:
        jobs = (await uow.session.scalars(select(Job))).all()
        account = await uow.accounts.by_whatsapp_number(NUMBER)
        refunds = [
            e for e in await uow.ledger.entries(account.id) if e.reason == LedgerReason.REFUND
        ]
    cancelled = [j for j in jobs if j.status == JobStatus.CANCELLED]
    done = [j for j in jobs if j.status == JobStatus.DONE]
    assert cancelled, "the Cancel came too late to stop any image"
    assert len(cancelled) + len(done) == 20
    assert [e.delta for e in refunds] == [57 - price_at_rate(Tier.BASIC, len(done), 5)]


async def test_redo_button_under_the_result_quotes_again_and_charges_once(channel, uow):
    media_id = channel.api.add_media(photo(), "image/jpeg")
    quote = await quote_for(channel, payloads.image(media_id))
    after = len(channel.api.sent)
    await choose(channel, quote, "basic")
    await wait_for_link(channel, after)
    redo = await _button(channel, "rd:")
    assert redo["title"] == "Ulang: Standar+"

    before = len(channel.api.sent)
    await channel.send(payloads.button_reply(redo["id"], redo["title"]))
    lists = (await channel.api.wait_for_sent(before + 1))[before:]
    again = next(m for m in lists if m["type"] == "interactive")
    assert len(rows_of(again)) == 5
    after = len(channel.api.sent)
    mid = payloads.message_id()
    await choose(channel, again, "professional", mid)
    await choose(channel, again, "professional", mid)
    await wait_for_link(channel, after)

    assert await _balance(uow) == 100 - 3 - 15


async def test_invitation_by_code_rewards_after_a_paid_batch_and_never_oneself(channel, uow):
    await channel.send(payloads.text("invite"))
    code = re.search(r"invite (\w+)", await _said(channel, "Kode undangan")).group(1)  # type: ignore[union-attr]
    await channel.send(payloads.text(f"invite {code}"))
    await _said(channel, "tidak bisa memakai tautan undangan sendiri")

    await channel.send(payloads.text(f"invite {code}"), number=OTHER)
    await _said(channel, "Anda diundang oleh teman")
    async with uow:
        friend = await uow.accounts.by_whatsapp_number(OTHER)
        await uow.ledger.apply(
            account_id=friend.id,
            delta=100,
            reason=LedgerReason.PURCHASE,
            reference="test",
            idempotency_key="buy:wa:1",
            now=utcnow(),
        )
        await uow.commit()
    for _ in range(2):
        media_id = channel.api.add_media(photo(), "image/jpeg")
        before = len(channel.api.sent)
        await channel.send(payloads.image(media_id), number=OTHER)
        while True:
            sent = await channel.api.wait_for_sent(before + 1)
            lists = [m for m in sent[before:] if m["type"] == "interactive"]
            if lists:
                break
        row = next(r for r in rows_of(lists[0]) if r["id"].endswith(":basic"))
        after = len(channel.api.sent)
        await channel.send(payloads.list_reply(row["id"], row["title"]), number=OTHER)
        await wait_for_link(channel, after)
        await _said(channel, "Selesai", after)

    assert await _balance(uow) == 100 + 50
    assert await _balance(uow, OTHER) == 100 + 100 - 2 * 3 + 50


async def test_promo_word_redeems_once_and_not_after_expiry(channel, uow):
    await create_promo(
        uow, "wa10", credits=10, uses=5, valid_for=timedelta(days=1), created_by="t", now=utcnow()
    )
    await create_promo(
        uow,
        "gone",
        credits=10,
        uses=5,
        valid_for=timedelta(days=1),
        created_by="t",
        now=utcnow() - timedelta(days=3),
    )
    for word in ("promo wa10", "promo WA10", "promo gone"):
        await channel.send(payloads.text(word))

    await _said(channel, "sudah memakai kode promo ini")
    await _said(channel, "kedaluwarsa")
    assert await _balance(uow) == 100 + 10
