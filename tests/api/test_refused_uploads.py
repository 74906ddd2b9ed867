"""What is refused keeps nothing on disk, and one account cannot fill the disk."""

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build_web_app
from bot.http_api import PREFIX
from db.models import Quote, QuoteStatus
from services.billing import QuoteFile, create_quote
from services.errors import QuoteAlreadyUsed
from services.uploads import cancel_upload, expire_quotes
from tests.api.conftest import MODELS, service_settings
from tests.api.test_images_api import key_for, photo_bytes
from tests.integration.helpers import JAKARTA, NOON, new_account


def stored_files(data_dir, account) -> list[Path]:
    inbox = data_dir / "inbox" / str(account)
    return [p for p in inbox.rglob("*") if p.is_file()] if inbox.exists() else []


@pytest.fixture
async def small_limits(tmp_path, database_url):
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    settings = service_settings(
        tmp_path, database_url, max_image_mb=1, max_upload_mb=2, max_stored_mb_per_account=3
    )
    async with TestClient(TestServer(build_web_app(settings))) as client:
        yield client


async def test_a_zip_without_one_usable_image_is_refused_and_deleted(service, uow, tmp_path):
    account, _, headers = await key_for(uow, credits=30)
    bundle = io.BytesIO()
    # Two photos, then an entry that unpacks a thousand times its size: a ZIP bomb, found
    # only after the photos were unpacked
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(2):
            archive.writestr(f"photos/{index}.jpg", photo_bytes())
        archive.writestr("photos/bomb.jpg", bytes(12 * 2**20))
    form = FormData()
    form.add_field(
        "images", bundle.getvalue(), filename="stock.zip", content_type="application/zip"
    )
    response = await service.post(f"{PREFIX}/batch", data=form, headers=headers)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["rejected"] == [{"name": "stock.zip", "reason": "zip_bomb"}]
    assert "stock.zip" in error["message"]
    assert stored_files(tmp_path, account) == []


async def test_a_file_over_the_limit_leaves_no_partial_file(small_limits, uow, tmp_path):
    account, _, headers = await key_for(uow, credits=30)
    form = FormData()
    big = b"\xff\xd8\xff" + bytes(2 * 2**20)
    form.add_field("image", big, filename="huge.jpg", content_type="image/jpeg")
    response = await small_limits.post(f"{PREFIX}/remove", data=form, headers=headers)
    assert response.status == 413
    error = (await response.json())["error"]
    assert error["code"] == "payload_too_large"
    assert stored_files(tmp_path, account) == []


async def test_an_upload_that_cannot_be_paid_closes_its_quote_and_deletes_its_files(
    service, uow, tmp_path
):
    account, _, headers = await key_for(uow, credits=2)
    form = FormData()
    form.add_field("image", photo_bytes(), filename="a.jpg", content_type="image/jpeg")
    response = await service.post(f"{PREFIX}/remove", data=form, headers=headers)
    assert response.status == 402
    assert stored_files(tmp_path, account) == []
    async with uow:
        quotes = (await uow.session.scalars(select(Quote).where(Quote.account_id == account))).all()
    assert [q.status for q in quotes] == [QuoteStatus.CANCELLED]


async def test_an_account_over_its_storage_cap_is_refused_before_writing(
    small_limits, uow, tmp_path
):
    account, _, headers = await key_for(uow, credits=30)
    parked = tmp_path / "inbox" / str(account) / "earlier"
    parked.mkdir(parents=True)
    (parked / "0000").write_bytes(bytes(3 * 2**20))
    form = FormData()
    form.add_field("image", photo_bytes(), filename="a.jpg", content_type="image/jpeg")
    response = await small_limits.post(f"{PREFIX}/remove", data=form, headers=headers)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "storage_full"
    assert len(stored_files(tmp_path, account)) == 1


async def test_expired_quotes_are_closed_and_their_files_deleted(uow, tmp_path):
    account = await new_account(uow, credits=30)
    folder = tmp_path / "inbox" / str(account) / "upload"
    folder.mkdir(parents=True)
    (folder / "0000").write_bytes(photo_bytes())
    files = [QuoteFile(name="a.jpg", path=f"inbox/{account}/upload/0000")]
    offer = await create_quote(
        uow,
        account,
        files,
        channel="api",
        chat={},
        ttl=timedelta(minutes=5),
        zone=JAKARTA,
        now=NOON,
    )
    assert await expire_quotes(uow, data_dir=tmp_path, now=NOON + timedelta(minutes=1)) == 0
    assert (folder / "0000").is_file()
    assert await expire_quotes(uow, data_dir=tmp_path, now=NOON + timedelta(minutes=6)) == 1
    assert not folder.exists()
    async with uow:
        assert (await uow.quotes.get(offer.quote_id)).status == QuoteStatus.EXPIRED


async def test_a_cancelled_quote_deletes_its_files_and_a_second_cancel_is_stale(uow, tmp_path):
    account = await new_account(uow, credits=30)
    folder = tmp_path / "inbox" / str(account) / "album"
    folder.mkdir(parents=True)
    (folder / "0000").write_bytes(photo_bytes())
    files = [QuoteFile(name="a.jpg", path=f"inbox/{account}/album/0000")]
    offer = await create_quote(
        uow,
        account,
        files,
        channel="telegram",
        chat={},
        ttl=timedelta(minutes=5),
        zone=JAKARTA,
        now=NOON,
    )
    await cancel_upload(uow, offer.quote_id, account, data_dir=tmp_path, now=NOON)
    assert not folder.exists()
    with pytest.raises(QuoteAlreadyUsed):
        await cancel_upload(uow, offer.quote_id, account, data_dir=tmp_path, now=NOON)
