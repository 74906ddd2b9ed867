"""The webhook answers Meta at once; a job on its own queue fetches the media and answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import BROKER, build_web_app
from bot.whatsapp.updates import Inbound, Kind
from db.models import WhatsAppInbound
from services.clock import utcnow
from services.whatsapp import take_in_message
from tests.api.conftest import MODELS
from tests.whatsapp import payloads
from tests.whatsapp.conftest import (
    NUMBER,
    PHONE_NUMBER_ID,
    Channel,
    _free_port,
    whatsapp_settings,
)
from tests.whatsapp.test_flow import photo
from workers.whatsapp import SWEEP_MESSAGES


@asynccontextmanager
async def channel_with(tmp_path, database_url, graph_api, **extra) -> AsyncIterator[Channel]:
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    port = _free_port()
    settings = whatsapp_settings(tmp_path, database_url, graph_api, port).model_copy(update=extra)
    server = TestServer(build_web_app(settings), host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        yield Channel(client, graph_api, settings)


def lists(channel: Channel) -> list[dict[str, Any]]:
    return [m for m in channel.api.sent if m["type"] == "interactive"]


async def test_the_webhook_answers_before_a_slow_media_fetch_and_the_quote_follows(channel):
    channel.api.media_delay = 1.0
    media_id = channel.api.add_media(photo(), "image/jpeg")
    body = payloads.notification(
        "6281234567890", payloads.image(media_id), phone_number_id=PHONE_NUMBER_ID
    )

    response = await channel.post(body)

    # Answered while WhatsApp has not even said where the file is
    assert response.status == 200
    assert channel.api.downloads == 0
    await channel.handled()
    for _ in range(200):
        if lists(channel):
            break
        await asyncio.sleep(0.05)
    assert len(lists(channel)) == 1
    assert channel.api.downloads == 1


async def test_a_media_fetch_that_whatsapp_fails_is_retried_and_quoted_once(channel):
    channel.api.media_failures = 2
    media_id = channel.api.add_media(photo(), "image/jpeg")

    await channel.send(payloads.image(media_id))

    for _ in range(200):
        if lists(channel):
            break
        await asyncio.sleep(0.05)
    assert len(lists(channel)) == 1
    assert (channel.api.media_lookups, channel.api.downloads) == (3, 1)


async def test_when_the_retries_run_out_the_person_is_asked_to_send_the_file_again(
    tmp_path, database_url, graph_api
):
    async with channel_with(tmp_path, database_url, graph_api, whatsapp_job_retries=1) as channel:
        channel.api.media_failures = 10
        media_id = channel.api.add_media(photo(), "image/jpeg")

        await channel.send(payloads.image(media_id))

        sent = await channel.api.wait_for_sent(2)  # the welcome, then the request to resend
        assert "kirim ulang" in sent[-1]["text"]["body"]
        assert channel.api.media_lookups == 2  # the first try and one retry
        assert lists(channel) == []


async def test_with_the_queue_down_the_webhook_keeps_nothing_so_metas_retry_is_taken_in(
    tmp_path, database_url, graph_api, private_redis, make_uow
):
    async with channel_with(
        tmp_path, database_url, graph_api, redis_url=private_redis.url
    ) as channel:
        body = payloads.notification(
            "6281234567890", payloads.text("help"), phone_number_id=PHONE_NUMBER_ID
        )
        private_redis.stop()

        refused = await channel.post(body)

        assert refused.status == 503
        async with make_uow() as uow:
            count = await uow.session.scalar(select(func.count()).select_from(WhatsAppInbound))
        assert count == 0

        private_redis.start()
        taken = await channel.post(body)
        repeated = await channel.post(body)

        assert (taken.status, repeated.status) == (200, 200)
        async with make_uow() as uow:
            kept = (await uow.session.scalars(select(WhatsAppInbound))).all()
        assert [row.payload["text"] for row in kept] == ["help"]


async def test_a_message_whose_job_was_lost_with_its_process_is_handled_by_the_sweep(
    channel, make_uow
):
    # Given a message taken in an hour ago whose job died with the process that held it
    inbound = Inbound("wamid.lost-1", NUMBER, "Sari", utcnow(), Kind.TEXT, text="help")

    async def lost_queue() -> None:
        return None

    hour_ago = utcnow() - timedelta(hours=1)
    assert await take_in_message(
        make_uow(), inbound.message_id, NUMBER, inbound.to_payload(), queue=lost_queue, now=hour_ago
    )
    broker = channel.client.app[BROKER]

    # When the sweep runs, twice
    for _ in range(2):
        broker.get_actor(SWEEP_MESSAGES).send()
        await channel.handled()

    # Then the message is answered once (the welcome and the help) and noted as handled
    sent = await channel.api.wait_for_sent(2)
    await asyncio.sleep(0.3)
    assert len(channel.api.sent) == 2
    assert "stats" in sent[1]["text"]["body"]
    async with make_uow() as uow:
        assert await uow.whatsapp.is_handled("wamid.lost-1")
