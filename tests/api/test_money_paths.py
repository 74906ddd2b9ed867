"""Money on every path of the HTTP API: an answer is given only from committed facts."""

import asyncio
import time

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

import workers.cutout
from bot.app import build_web_app
from bot.http_api import PREFIX
from tests.api.conftest import MODELS, service_settings
from tests.api.test_images_api import key_for, photo_bytes
from workers.actors import PermanentFailure


def image_form(name="shoe.jpg", tier="basic") -> FormData:
    form = FormData()
    form.add_field("image", photo_bytes(), filename=name, content_type="image/jpeg")
    form.add_field("tier", tier)
    return form


@pytest.fixture
def slow_packaging(monkeypatch):
    """Widen the moment between a batch's settlement and its results being recorded."""
    real = workers.cutout.package_batch

    def package_batch(settings):
        packager = real(settings)

        def slow(outcome, data_dir):
            time.sleep(1.0)
            return packager(outcome, data_dir)

        return slow

    monkeypatch.setattr(workers.cutout, "package_batch", package_batch)


@pytest.fixture
async def slow_service(tmp_path, database_url, slow_packaging):
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    app = build_web_app(service_settings(tmp_path, database_url))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_charged_success_is_never_answered_as_a_failure(slow_service, uow):
    # Given an account whose single removal settles a second before its result is recorded
    account, _, headers = await key_for(uow, credits=30)
    # When it asks for one removal
    response = await slow_service.post(f"{PREFIX}/remove", data=image_form(), headers=headers)
    # Then it gets the PNG it paid for, never a 422
    assert response.status == 200, await response.text()
    assert response.headers["X-Batch-Id"]
    async with uow:
        assert (await uow.accounts.get(account)).balance == 27


async def test_concurrent_removals_each_answer_the_result_they_paid_for(service, uow):
    # Given one account with credits for exactly eight basic removals
    account, _, headers = await key_for(uow, credits=24)
    # When eight removals arrive at once
    responses = await asyncio.gather(
        *(
            service.post(f"{PREFIX}/remove", data=image_form(f"{n}.jpg"), headers=headers)
            for n in range(8)
        )
    )
    # Then every one answers its PNG (or, if slow, a 202 with its batch), and no credit is
    # charged for an answer that says the image failed
    statuses = [r.status for r in responses]
    assert set(statuses) <= {200, 202}, [await r.text() for r in responses]
    batch_ids = {r.headers.get("X-Batch-Id") or (await r.json())["batch_id"] for r in responses}
    assert len(batch_ids) == 8
    async with uow:
        assert (await uow.accounts.get(account)).balance == 0
        assert await uow.ledger.total(account) == 0


@pytest.fixture
async def failing_service(tmp_path, database_url, monkeypatch):
    """The web process with an engine that finds every image corrupt."""
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")

    def cut_out_job(settings):
        def cutter(work, source, results_dir):
            raise PermanentFailure("corrupt")

        return cutter

    monkeypatch.setattr(workers.cutout, "cut_out_job", cut_out_job)
    app = build_web_app(service_settings(tmp_path, database_url))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_failed_removal_names_its_batch_file_and_reason(failing_service, uow):
    # Given an image that the engine finds corrupt
    account, _, headers = await key_for(uow, credits=30)
    # When it is sent for removal
    response = await failing_service.post(
        f"{PREFIX}/remove", data=image_form("torn.jpg"), headers=headers
    )
    # Then the answer carries the batch, the file and the reason, and the charge came back
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "image_failed"
    assert error["batch_id"] and error["rejected"] == [{"name": "torn.jpg", "reason": "corrupt"}]
    assert "torn.jpg: damaged image file" in error["message"]
    assert error["refunded_credits"] == 3
    async with uow:
        assert (await uow.accounts.get(account)).balance == 30
    status = await failing_service.get(f"{PREFIX}/batch/{error['batch_id']}", headers=headers)
    assert (await status.json())["failed"] == 1


async def test_a_refused_upload_names_the_file_and_the_reason(service, uow):
    account, _, headers = await key_for(uow, credits=30)
    form = FormData()
    form.add_field("image", b"plain text", filename="notes.txt", content_type="text/plain")
    response = await service.post(f"{PREFIX}/remove", data=form, headers=headers)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "nothing_to_process"
    assert error["rejected"] == [{"name": "notes.txt", "reason": "not_an_image"}]
    assert "notes.txt: not an image" in error["message"]
    async with uow:
        assert (await uow.accounts.get(account)).balance == 30
