"""Image removal over HTTP, batches with callbacks, downloads, health and metrics."""

import hashlib
import hmac
import io
import zipfile

from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.app import build_web_app
from bot.http_api import PREFIX
from services.api_keys import issue_key
from tests.api.conftest import service_settings
from tests.integration.helpers import NOON, new_account
from tests.integration.pipeline_helpers import wait_for


def photo_bytes(size=(120, 90)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (240, 240, 240))
    image.paste((200, 40, 40), (30, 20, 90, 70))
    image.save(buffer, "JPEG")
    return buffer.getvalue()


async def key_for(uow, telegram_id=1, credits=200):
    account = await new_account(uow, telegram_id=telegram_id, credits=credits)
    issued = await issue_key(uow, account, "shop", now=NOON)
    return account, issued.secret, {"Authorization": f"Bearer {issued.secret}"}


async def test_single_removal_returns_a_png_with_alpha_of_the_input_size(service, uow):
    _, _, headers = await key_for(uow)
    form = FormData()
    form.add_field("image", photo_bytes((160, 100)), filename="shoe.jpg", content_type="image/jpeg")
    form.add_field("tier", "basic")
    response = await service.post(f"{PREFIX}/remove", data=form, headers=headers)
    assert response.status == 200, await response.text()
    with Image.open(io.BytesIO(await response.read())) as result:
        assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (160, 100))


async def test_a_file_that_is_not_an_image_is_refused_and_not_charged(service, uow):
    account, _, headers = await key_for(uow, credits=50)
    form = FormData()
    form.add_field("image", b"plain text", filename="notes.txt", content_type="text/plain")
    response = await service.post(f"{PREFIX}/remove", data=form, headers=headers)
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "nothing_to_process"
    async with uow:
        assert (await uow.accounts.get(account)).balance == 50


async def test_a_batch_calls_its_callback_once_with_a_valid_signature(service, uow):
    _, secret, headers = await key_for(uow)
    calls = []

    async def receive(request: web.Request) -> web.Response:
        calls.append((await request.read(), request.headers["X-Signature-256"]))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    async with TestServer(receiver, host="127.0.0.1") as hook:
        form = FormData()
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as archive:
            for index in range(3):
                archive.writestr(f"items/{index}.jpg", photo_bytes())
        form.add_field(
            "images", bundle.getvalue(), filename="items.zip", content_type="application/zip"
        )
        form.add_field("images", photo_bytes(), filename="extra.jpg", content_type="image/jpeg")
        form.add_field("tier", "standard")
        form.add_field("callback_url", str(hook.make_url("/hook")))
        started = await service.post(f"{PREFIX}/batch", data=form, headers=headers)
        assert started.status == 202, await started.text()
        batch = await started.json()
        assert (batch["image_count"], batch["credits_charged"]) == (4, 32)

        async def called():
            return calls

        await wait_for(called, seconds=60, message="the callback")
    body, signature = calls[0]
    # Signed with the account's own callback secret, shown once with the batch
    callback_secret = batch["callback_secret"]
    assert callback_secret.startswith("whsec_")
    expected = "sha256=" + hmac.new(callback_secret.encode(), body, hashlib.sha256).hexdigest()
    assert signature == expected
    key_hash = hashlib.sha256(secret.encode()).hexdigest()
    forged = "sha256=" + hmac.new(key_hash.encode(), body, hashlib.sha256).hexdigest()
    assert signature != forged
    assert len(calls) == 1
    download = await service.get(f"{PREFIX}/batch/{batch['batch_id']}/download", headers=headers)
    assert download.status == 200
    with zipfile.ZipFile(io.BytesIO(await download.read())) as archive:
        assert sorted(archive.namelist()) == ["0.png", "1.png", "2.png", "extra.png"]


async def test_health_and_metrics_report_the_service(service, uow):
    health = await service.get("/healthz")
    body = await health.json()
    assert health.status == 200, body
    assert body["checks"] == {"database": "ok", "models": "ok"}
    _, _, headers = await key_for(uow)
    form = FormData()
    form.add_field("image", photo_bytes(), filename="a.jpg", content_type="image/jpeg")
    assert (await service.post(f"{PREFIX}/remove", data=form, headers=headers)).status == 200
    metrics = await (await service.get("/metrics")).text()
    assert 'bgbot_images_processed_total{outcome="done",tier="basic"} 1.0' in metrics
    assert "bgbot_credits_charged_total 3.0" in metrics


async def test_a_tier_whose_model_is_missing_is_refused_and_not_charged(
    tmp_path, database_url, uow
):
    # Given a server whose industry recipe names a model that is not in MODELS_DIR
    app = build_web_app(service_settings(tmp_path, database_url, engine_industry="u2net"))
    async with TestClient(TestServer(app)) as client:
        account, _, headers = await key_for(uow, credits=100)
        form = FormData()
        form.add_field("image", photo_bytes(), filename="shoe.jpg", content_type="image/jpeg")
        form.add_field("tier", "industry")

        response = await client.post(f"{PREFIX}/remove", data=form, headers=headers)
        error = (await response.json())["error"]
        price = await client.post(
            f"{PREFIX}/pricing/calculate", json={"tier": "industry", "count": 1}, headers=headers
        )
        body = await price.json()
        health = await (await client.get("/healthz")).json()

    assert "industry needs u2net" in health["checks"]["models"]
    assert "bgbot models download u2net" in health["checks"]["models"]
    assert response.status == 503
    assert error["code"] == "tier_unavailable" and "basic" in error["message"]
    assert body["available"] is False and body["purpose"]
    async with uow:
        assert (await uow.accounts.get(account)).balance == 100
