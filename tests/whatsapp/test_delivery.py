"""Results and progress to WhatsApp: the 24-hour window, pacing, and the Graph API's limits."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from PIL import Image

from bot.whatsapp.delivery import WhatsAppConfig, WhatsAppDelivery
from bot.whatsapp.graph import OUTSIDE_WINDOW, PAIR_RATE_LIMIT, GraphClient, MediaTooLarge
from services.clock import utcnow
from services.whatsapp import record_inbound, take_held_messages
from tests.whatsapp.conftest import ACCESS_TOKEN, NUMBER, PHONE_NUMBER_ID

LINK_SECRET = b"link-secret-for-tests"


@pytest.fixture
def delivery(tmp_path, make_uow, graph_api):
    config = WhatsAppConfig(
        api_url=graph_api.base_url,
        token=ACCESS_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        public_base_url="https://bg.example.id",
        data_dir=tmp_path,
        link_secret=LINK_SECRET,
        link_ttl=timedelta(days=7),
    )
    return WhatsAppDelivery(make_uow, config, rate_limit_waits=(0.01, 0.01))


@pytest.fixture
def result_png(tmp_path):
    path = tmp_path / "results" / "5" / "0000.png"
    path.parent.mkdir(parents=True)
    Image.new("RGBA", (64, 48), (200, 10, 10, 0)).save(path)
    return path


CHAT = {"number": NUMBER, "language": "en", "account_id": 1, "batch_id": 5}


async def test_inside_the_window_a_png_goes_out_as_a_preview_on_white_with_its_link(
    delivery, graph_api, result_png, make_uow
):
    await record_inbound(make_uow(), "wamid.in1", NUMBER, now=utcnow())

    await delivery.send_document(CHAT, result_png, "shoe.png")

    [message] = graph_api.sent
    assert message["type"] == "image"
    assert "https://bg.example.id/d/" in message["image"]["caption"]
    assert "name=shoe.png" in message["image"]["caption"]
    preview = graph_api.uploads[message["image"]["id"]]
    assert preview.mime_type == "image/jpeg"


async def test_outside_the_window_nothing_is_attempted_and_results_wait_for_the_person(
    delivery, graph_api, result_png, make_uow
):
    long_ago = utcnow() - timedelta(hours=25)
    await record_inbound(make_uow(), "wamid.old", NUMBER, now=long_ago)

    await delivery.edit_status(CHAT, "⏳ 1 / 2")
    await delivery.send_document(CHAT, result_png, "shoe.png")
    await delivery.send_text(CHAT, "✅ Done")

    assert graph_api.sent == []
    held = await take_held_messages(make_uow(), NUMBER, now=utcnow(), max_age=timedelta(days=7))
    assert len(held) == 2
    assert "https://bg.example.id/d/" in held[0]
    assert held[1] == "✅ Done"


async def test_a_number_that_never_wrote_gets_nothing_sent(delivery, graph_api, make_uow):
    await delivery.send_text(CHAT, "hello")

    assert graph_api.sent == []


async def test_a_refusal_for_the_closed_window_holds_the_message(delivery, graph_api, make_uow):
    await record_inbound(make_uow(), "wamid.in2", NUMBER, now=utcnow())
    graph_api.refuse_next = [OUTSIDE_WINDOW]

    await delivery.send_text(CHAT, "✅ Done")

    assert graph_api.sent == []
    held = await take_held_messages(make_uow(), NUMBER, now=utcnow(), max_age=timedelta(days=7))
    assert held == ["✅ Done"]


async def test_pair_rate_limit_is_waited_out_for_results_and_skipped_for_progress(
    delivery, graph_api, make_uow
):
    await record_inbound(make_uow(), "wamid.in3", NUMBER, now=utcnow())
    graph_api.refuse_next = [PAIR_RATE_LIMIT]
    await delivery.edit_status(CHAT, "⏳ 1 / 2")
    graph_api.refuse_next = [PAIR_RATE_LIMIT, PAIR_RATE_LIMIT]

    await delivery.send_text(CHAT, "✅ Done")

    assert [m["text"]["body"] for m in graph_api.sent] == ["✅ Done"]


async def test_progress_of_all_batches_of_one_person_keeps_six_seconds_apart(
    delivery, graph_api, make_uow
):
    await record_inbound(make_uow(), "wamid.in4", NUMBER, now=utcnow())
    other_batch = {**CHAT, "batch_id": 6}

    await delivery.edit_status(CHAT, "⏳ 1 / 4")
    await delivery.edit_status(other_batch, "⏳ 1 / 9")

    assert [m["text"]["body"] for m in graph_api.sent] == ["⏳ 1 / 4"]
    assert delivery.progress_interval >= timedelta(seconds=6)


async def test_media_above_the_limit_is_refused_without_keeping_a_byte(graph_api, tmp_path):
    media_id = graph_api.add_media(b"x" * 4096, "image/jpeg")
    destination = tmp_path / "upload"

    async with aiohttp.ClientSession() as session:
        client = GraphClient(
            session,
            base_url=graph_api.base_url,
            token=ACCESS_TOKEN,
            phone_number_id=PHONE_NUMBER_ID,
        )
        info = await client.media_info(media_id)
        with pytest.raises(MediaTooLarge):
            await client.download(info, destination, max_bytes=1024)
        # A server that under-declares the size is caught while streaming.
        with pytest.raises(MediaTooLarge):
            await client.download(
                type(info)(info.media_id, info.url, info.mime_type, None),
                destination,
                max_bytes=1024,
            )

    assert not destination.exists()
    assert graph_api.downloads == 1


async def test_media_download_needs_the_bearer_token(graph_api, tmp_path):
    media_id = graph_api.add_media(b"jpeg bytes", "image/jpeg")
    async with aiohttp.ClientSession() as session:
        client = GraphClient(
            session, base_url=graph_api.base_url, token=ACCESS_TOKEN, phone_number_id="x"
        )
        info = await client.media_info(media_id)
        async with session.get(info.url) as anonymous:
            assert anonymous.status == 401
        assert await client.download(info, tmp_path / "f", max_bytes=1024) == len(b"jpeg bytes")
