"""Every channel's intake: files checked, ZIPs opened, refusals listed, usable images quoted."""

import zipfile
from datetime import timedelta

import pytest
from PIL import Image

from services.settings import Settings
from services.uploads import NothingToProcess, ReceivedFile, quote_upload
from tests.integration.helpers import JAKARTA, NOON, new_account


def photo(path, size=(64, 48)):
    Image.new("RGB", size, (200, 30, 30)).save(path, "JPEG")
    return path


async def quote(uow, account, files, tmp_path):
    settings = Settings(data_dir=tmp_path)
    return await quote_upload(
        uow,
        account,
        files,
        data_dir=tmp_path,
        limits=settings.intake_limits(),
        archive_limits=settings.archive_limits(),
        channel="test",
        chat={},
        ttl=timedelta(hours=1),
        zone=JAKARTA,
        now=NOON,
    )


async def test_images_and_zip_entries_are_quoted_and_refusals_listed(uow, tmp_path):
    account = await new_account(uow, credits=10)
    inbox = tmp_path / "inbox" / "u1"
    inbox.mkdir(parents=True)
    note = inbox / "002.txt"
    note.write_text("not a picture")
    archive = inbox / "003.zip"
    photo(inbox / "entry.jpg")
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(inbox / "entry.jpg", "shoes/red.jpg")
        bundle.write(inbox / "entry.jpg", "bags/red.jpg")
        bundle.writestr("../escape.jpg", b"x")
        bundle.writestr("__MACOSX/._red.jpg", b"x")
    (inbox / "entry.jpg").unlink()
    files = [
        ReceivedFile("product.jpg", photo(inbox / "001.jpg")),
        ReceivedFile("notes.txt", note),
        ReceivedFile("catalogue.zip", archive),
    ]
    offer = await quote(uow, account, files, tmp_path)
    assert offer.image_count == 3
    reasons = {r["name"]: r["reason"] for r in offer.rejected}
    assert reasons == {"notes.txt": "not_an_image", "../escape.jpg": "path_traversal"}
    async with uow:
        stored = (await uow.quotes.get(offer.quote_id)).files
    assert [f["name"] for f in stored] == ["product.jpg", "shoes/red.jpg", "bags/red.jpg"]
    assert all((tmp_path / f["path"]).is_file() for f in stored)


async def test_an_upload_without_any_usable_image_is_refused_with_reasons(uow, tmp_path):
    account = await new_account(uow, credits=10)
    tiny = photo(tmp_path / "tiny.jpg", size=(8, 8))
    with pytest.raises(NothingToProcess) as refused:
        await quote(uow, account, [ReceivedFile("tiny.jpg", tiny)], tmp_path)
    assert refused.value.rejected == [{"name": "tiny.jpg", "reason": "too_small"}]
