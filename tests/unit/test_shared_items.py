"""What travels through Redis and the database between processes comes back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.telegram.context import IncomingFile
from bot.whatsapp.conversation import Arrival
from bot.whatsapp.updates import Inbound, Kind
from services.uploads import ReceivedFile


def test_a_telegram_file_waiting_in_a_gathering_comes_back_unchanged():
    item = IncomingFile("AgAC-1", "foto produk.jpg", None, True, 7, "id", -100123)

    assert IncomingFile.decode(item.encode()) == item


def test_a_whatsapp_arrival_comes_back_with_its_file_path():
    item = Arrival(7, "en", ReceivedFile("a.png", Path("/data/inbox/7/ab/upload")), False)

    assert Arrival.decode(item.encode()) == item


def test_a_recorded_whatsapp_message_comes_back_as_it_was_sent():
    inbound = Inbound(
        "wamid.1",
        "6281234567890",
        "Sari",
        datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
        Kind.DOCUMENT,
        text="katalog",
        media_id="998",
        mime_type="application/zip",
        filename="produk.zip",
    )

    assert Inbound.from_payload(inbound.to_payload()) == inbound
