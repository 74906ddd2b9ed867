"""Callbacks: their own actor and threads, a bounded schedule, signed, never a way inside."""

import asyncio
import hashlib
import hmac

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from bot.http_api import PREFIX
from services.api_keys import callback_signing_key, derive_callback_secret
from tests.api.conftest import MODELS, service_settings
from tests.api.test_images_api import key_for, photo_bytes
from tests.integration.pipeline_helpers import wait_for


def batch_form(callback_url: str, name="item.jpg") -> FormData:
    form = FormData()
    form.add_field("images", photo_bytes(), filename=name, content_type="image/jpeg")
    form.add_field("tier", "basic")
    form.add_field("callback_url", callback_url)
    return form


async def running_service(tmp_path, database_url, **extra):
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    app = build_web_app(service_settings(tmp_path, database_url, **extra))
    return TestClient(TestServer(app))


class Receiver:
    """A callback receiver on loopback that answers with `status`, or hangs until released."""

    def __init__(self, status=200, hang=False) -> None:
        self.status = status
        self.hang = hang
        self.released = asyncio.Event()
        self.calls: list[tuple[str, bytes, str]] = []
        self.app = web.Application()
        self.app.router.add_post("/{name}", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        self.calls.append(
            (request.match_info["name"], await request.read(), request.headers["X-Signature-256"])
        )
        if self.hang:
            await self.released.wait()
        if self.status in (301, 302, 307, 308):
            raise (
                web.HTTPFound("/elsewhere")
                if self.status == 302
                else web.HTTPTemporaryRedirect("/elsewhere")
            )
        return web.Response(status=self.status, text="ok")


async def test_a_failing_callback_is_retried_on_its_schedule_then_given_up(
    tmp_path, database_url, uow
):
    # Given a receiver that always fails, and a schedule of three attempts
    receiver = Receiver(status=500)
    client = await running_service(
        tmp_path, database_url, callback_retry_schedule_seconds="0.2,0.2"
    )
    async with client as service, TestServer(receiver.app, host="127.0.0.1") as hook:
        _, _, headers = await key_for(uow)
        started = await service.post(
            f"{PREFIX}/batch", data=batch_form(str(hook.make_url("/hook"))), headers=headers
        )
        assert started.status == 202, await started.text()
        batch_id = (await started.json())["batch_id"]

        async def given_up():
            view = await (await service.get(f"{PREFIX}/batch/{batch_id}", headers=headers)).json()
            return view if (view.get("callback") or {}).get("state") == "failed" else None

        view = await wait_for(given_up, seconds=60, message="the callback to be given up")
        # Then it was tried exactly three times, shown as failed without the receiver's answer
        assert view["callback"] == {"state": "failed", "attempts": 3}
        assert len(receiver.calls) == 3
        # And the results, already paid for, download whatever the callback did
        download = await service.get(f"{PREFIX}/batch/{batch_id}/download", headers=headers)
        assert download.status == 200
        await asyncio.sleep(0.5)
        assert len(receiver.calls) == 3


async def test_a_redirect_is_not_followed(tmp_path, database_url, uow):
    receiver = Receiver(status=302)
    client = await running_service(tmp_path, database_url, callback_retry_schedule_seconds="")
    async with client as service, TestServer(receiver.app, host="127.0.0.1") as hook:
        _, _, headers = await key_for(uow)
        started = await service.post(
            f"{PREFIX}/batch", data=batch_form(str(hook.make_url("/hook"))), headers=headers
        )
        batch_id = (await started.json())["batch_id"]

        async def finished():
            view = await (await service.get(f"{PREFIX}/batch/{batch_id}", headers=headers)).json()
            return (view.get("callback") or {}).get("state") in {"failed", "delivered"} and view

        view = await wait_for(finished, seconds=60, message="the callback")
    assert view["callback"] == {"state": "failed", "attempts": 1}
    assert [name for name, _, _ in receiver.calls] == ["hook"]


async def test_a_slow_callback_does_not_delay_another_accounts_image(tmp_path, database_url, uow):
    # Given a receiver that holds every callback open, and more such batches than image threads
    receiver = Receiver(hang=True)
    client = await running_service(tmp_path, database_url, callback_timeout_seconds=60)
    async with client as service, TestServer(receiver.app, host="127.0.0.1") as hook:
        _, _, slow_headers = await key_for(uow, telegram_id=1)
        batches = []
        for n in range(3):
            started = await service.post(
                f"{PREFIX}/batch",
                data=batch_form(str(hook.make_url(f"/hook{n}"))),
                headers=slow_headers,
            )
            batches.append((await started.json())["batch_id"])

        async def all_hanging():
            return len(receiver.calls) == 3

        await wait_for(all_hanging, seconds=60, message="the callbacks to start")
        # When another account asks for one image while those callbacks hang
        _, _, headers = await key_for(uow, telegram_id=2)
        form = FormData()
        form.add_field("image", photo_bytes(), filename="a.jpg", content_type="image/jpeg")
        response = await service.post(f"{PREFIX}/remove", data=form, headers=headers)
        # Then its image is done while every callback is still on its first attempt
        assert response.status == 200, await response.text()
        for batch_id in batches:
            view = await (
                await service.get(f"{PREFIX}/batch/{batch_id}", headers=slow_headers)
            ).json()
            assert view["callback"] == {"state": "pending", "attempts": 1}
        receiver.released.set()

        async def all_delivered():
            for batch_id in batches:
                view = await (
                    await service.get(f"{PREFIX}/batch/{batch_id}", headers=slow_headers)
                ).json()
                if view["callback"]["state"] != "delivered":
                    return False
            return True

        await wait_for(all_delivered, seconds=60, message="the callbacks to be delivered")


async def test_callbacks_are_signed_with_the_accounts_own_rotatable_secret(
    tmp_path, database_url, uow
):
    receiver = Receiver()
    client = await running_service(tmp_path, database_url, callback_signing_key="k" * 40)
    async with client as service, TestServer(receiver.app, host="127.0.0.1") as hook:
        account, api_key, headers = await key_for(uow)
        first = await (
            await service.post(
                f"{PREFIX}/batch", data=batch_form(str(hook.make_url("/one"))), headers=headers
            )
        ).json()
        secret = first["callback_secret"]
        # Shown once: the next batch does not show it again
        second = await (
            await service.post(
                f"{PREFIX}/batch", data=batch_form(str(hook.make_url("/two"))), headers=headers
            )
        ).json()
        assert "callback_secret" not in second

        async def both():
            return len(receiver.calls) == 2

        await wait_for(both, seconds=60, message="two callbacks")
        for _, body, signature in receiver.calls:
            assert (
                signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            )
        # Rotation gives a new secret that signs from then on
        rotated = await service.post(f"{PREFIX}/callback-secret", headers=headers)
        assert rotated.status == 201
        new_secret = (await rotated.json())["callback_secret"]
        assert new_secret != secret
        await service.post(
            f"{PREFIX}/batch", data=batch_form(str(hook.make_url("/three"))), headers=headers
        )

        async def third():
            return len(receiver.calls) == 3

        await wait_for(third, seconds=60, message="the third callback")
        _, body, signature = receiver.calls[2]
        assert (
            signature == "sha256=" + hmac.new(new_secret.encode(), body, hashlib.sha256).hexdigest()
        )
    # And what the database holds cannot sign: neither the key hash nor the nonce is the secret,
    # and without the server's key the nonce gives another secret
    async with uow:
        nonce = (await uow.accounts.get(account)).callback_secret_nonce
    assert nonce and nonce not in new_secret
    assert derive_callback_secret(b"", account, nonce) != new_secret
    assert (
        derive_callback_secret(
            hashlib.sha256(api_key.encode()).hexdigest().encode(), account, nonce
        )
        != new_secret
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://localhost/hook",
        "https://0x7f.0.0.1/hook",
        "https://2130706433/hook",
        "https://0177.0.0.1/hook",
        "https://127.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hook",
        "https://192.168.1.1/hook",
        "https://100.64.0.1/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[fe80::1]/hook",
        "https://[fc00::1]/hook",
        "https://user:pw@8.8.8.8/hook",
        "ftp://8.8.8.8/hook",
    ],
)
async def test_callback_urls_that_reach_inside_are_refused_and_charge_nothing(
    service, uow, url, tmp_path
):
    account, _, headers = await key_for(uow, credits=30)
    response = await service.post(f"{PREFIX}/batch", data=batch_form(url), headers=headers)
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid_callback_url"
    async with uow:
        assert (await uow.accounts.get(account)).balance == 30
    inbox = tmp_path / "inbox" / str(account)
    assert not inbox.exists() or not any(p.is_file() for p in inbox.rglob("*"))


def test_the_server_key_file_is_made_once_and_private(tmp_path):
    first = callback_signing_key(None, tmp_path)
    assert callback_signing_key(None, tmp_path) == first and len(first) == 64
    assert (tmp_path / "callback-signing.key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["callback-signing.key"]
    assert callback_signing_key("configured", tmp_path) == b"configured"
