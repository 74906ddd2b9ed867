"""A person on WhatsApp: files in, a list quote, one choice, a private link back."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from bot.chat import money
from db.models import LedgerReason
from services.accounts import grant_credits
from services.clock import utcnow
from services.links import LinkTarget, sign_link
from tests.whatsapp import payloads
from tests.whatsapp.conftest import NUMBER

LINK = re.compile(r"http://127\.0\.0\.1:\d+/d/\S+")


def photo(size=(120, 90), colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (240, 240, 240))
    image.paste(colour, (30, 20, 90, 70))
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def rows_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for s in message["interactive"]["action"]["sections"] for row in s["rows"]]


async def quote_for(channel, message: dict[str, Any]) -> dict[str, Any]:
    """Send a file message and return the list quote that answers it."""
    before = len(channel.api.sent)
    await channel.send(message)
    while True:
        sent = await channel.api.wait_for_sent(before + 1)
        lists = [m for m in sent[before:] if m["type"] == "interactive"]
        if lists:
            quote: dict[str, Any] = lists[0]
            return quote
        before = len(sent)


async def choose(channel, quote: dict[str, Any], tier: str, mid: str | None = None) -> None:
    row = next(r for r in rows_of(quote) if r["id"].endswith(f":{tier}"))
    await channel.send(payloads.list_reply(row["id"], row["title"], mid))


async def wait_for_link(channel, after: int) -> tuple[dict[str, Any], str]:
    while True:
        sent = await channel.api.wait_for_sent(after + 1)
        for message in sent[after:]:
            body = message.get("text", {}).get("body") or message.get("image", {}).get("caption")
            if body and (match := LINK.search(body)):
                return message, match.group(0)
        after = len(sent)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def test_image_to_list_to_choice_to_a_link_that_downloads_an_alpha_png(channel, uow):
    media_id = channel.api.add_media(photo((160, 100)), "image/jpeg")

    quote = await quote_for(channel, payloads.image(media_id))
    rows = rows_of(quote)
    assert len(rows) == 5 and all(len(r["title"]) <= 24 for r in rows)
    assert channel.api.downloads == 1
    after = len(channel.api.sent)
    await choose(channel, quote, "basic")
    message, url = await wait_for_link(channel, after)

    # A single image comes with a preview on white, within the Cloud API's image limits.
    assert message["type"] == "image"
    preview = channel.api.uploads[message["image"]["id"]]
    assert preview.mime_type == "image/jpeg" and len(preview.data) <= 5 * 2**20
    response = await channel.client.get(path_of(url))
    assert response.status == 200
    with Image.open(io.BytesIO(await response.read())) as result:
        assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (160, 100))

    # An altered token, an expired link and a link signed for another account open nothing.
    token = urlsplit(url).path.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    altered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    async with uow:
        account = await uow.accounts.by_whatsapp_number(NUMBER)
    secret = channel.settings.download_link_secret()
    relative = next(iter(channel.settings.data_dir.glob("results/*/*.png"))).relative_to(
        channel.settings.data_dir
    )
    expired = sign_link(
        secret, LinkTarget(account.id, relative.as_posix(), utcnow() - timedelta(seconds=1))
    )
    foreign = sign_link(
        secret, LinkTarget(account.id + 1, relative.as_posix(), utcnow() + timedelta(days=1))
    )
    for bad in (altered, expired, foreign, "nonsense"):
        refused = await channel.client.get(f"/d/{bad}")
        assert refused.status == 404, bad


async def test_a_repeated_delivery_of_the_choice_charges_once(channel, uow):
    media_id = channel.api.add_media(photo(), "image/jpeg")
    quote = await quote_for(channel, payloads.image(media_id))
    after = len(channel.api.sent)
    mid = payloads.message_id()

    await asyncio.gather(
        choose(channel, quote, "standard", mid), choose(channel, quote, "standard", mid)
    )
    await choose(channel, quote, "standard", mid)
    await wait_for_link(channel, after)

    async with uow:
        account = await uow.accounts.by_whatsapp_number(NUMBER)
        entries = await uow.ledger.entries(account.id)
    charges = [e for e in entries if e.reason == LedgerReason.CHARGE]
    assert [c.delta for c in charges] == [-8]
    assert account.balance == 100 - 8


async def test_zip_in_gives_a_zip_link_out(channel):
    archive = zip_of({"a.jpg": photo(), "b.jpg": photo(colour=(40, 40, 200))})
    media_id = channel.api.add_media(archive, "application/zip", "produk.zip")

    quote = await quote_for(channel, payloads.document(media_id, "produk.zip", "application/zip"))
    assert "2 gambar" in quote["interactive"]["body"]["text"]
    assert "💡" not in quote["interactive"]["body"]["text"]  # files are sent at full resolution
    after = len(channel.api.sent)
    await choose(channel, quote, "basic")
    message, url = await wait_for_link(channel, after)

    assert message["type"] == "text"
    response = await channel.client.get(path_of(url))
    assert response.status == 200
    with zipfile.ZipFile(io.BytesIO(await response.read())) as result:
        pngs = [name for name in result.namelist() if name.endswith(".png")]
    assert len(pngs) == 2


async def test_several_images_in_a_row_get_one_quote(channel):
    first = channel.api.add_media(photo(), "image/jpeg")
    second = channel.api.add_media(photo(colour=(10, 200, 10)), "image/jpeg")

    await channel.send(payloads.image(first))
    quote = await quote_for(channel, payloads.image(second))

    body = quote["interactive"]["body"]["text"]
    assert "2 gambar" in body
    assert "💡" in body  # photos are recompressed by WhatsApp: files keep full resolution
    assert sum(1 for m in channel.api.sent if m["type"] == "interactive") == 1


async def test_stats_reply_matches_the_ledger(channel, uow):
    media_id = channel.api.add_media(photo(), "image/jpeg")
    quote = await quote_for(channel, payloads.image(media_id))
    after = len(channel.api.sent)
    await choose(channel, quote, "professional")
    await wait_for_link(channel, after)
    async with uow:
        account = await uow.accounts.by_whatsapp_number(NUMBER)
        by_reason = await uow.ledger.sum_by_reason(account.id)
    spent = -(by_reason.get(LedgerReason.CHARGE, 0) + by_reason.get(LedgerReason.REFUND, 0))
    before = len(channel.api.sent)

    await channel.send(payloads.text("stats"))

    reply = (await channel.api.wait_for_sent(before + 1))[before]["text"]["body"]
    # An Indonesian number gets Indonesian, with Indonesian thousands separators.
    assert f"Kredit terpakai: {money(spent, 'id')} (Rp {money(spent * 100, 'id')})" in reply
    assert f"Saldo: {money(account.balance, 'id')} kredit" in reply


async def test_a_tier_beyond_the_balance_says_how_to_top_up_and_charges_nothing(channel, uow):
    media_id = channel.api.add_media(photo(), "image/jpeg")
    quote = await quote_for(channel, payloads.image(media_id))
    async with uow:
        account = await uow.accounts.by_whatsapp_number(NUMBER)
    await grant_credits(
        uow, account.id, -90, reference="test", idempotency_key="drain", now=utcnow()
    )
    before = len(channel.api.sent)

    await choose(channel, quote, "industry")

    [reply] = (await channel.api.wait_for_sent(before + 1))[before:]
    assert "kurang 15" in reply["text"]["body"]
    assert "*link*" in reply["text"]["body"]
    async with uow:
        assert (await uow.accounts.get(account.id)).balance == 10
