"""The web process with WhatsApp configured, against a fake Graph API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from dramatiq.brokers.stub import StubBroker

from bot.app import BROKER, build_web_app
from bot.whatsapp.web import WEBHOOK_PATH
from services.settings import Settings
from tests.api.conftest import MODELS, service_settings
from tests.fakes.whatsapp_api import FakeGraphApi
from tests.whatsapp import payloads
from workers.broker import WHATSAPP

APP_SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"
ACCESS_TOKEN = "EAAG-test-token"
PHONE_NUMBER_ID = "106540352242922"
NUMBER = "6281234567890"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def graph_api():
    api = FakeGraphApi(token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID)
    await api.start()
    yield api
    await api.close()


def whatsapp_settings(tmp_path, database_url, graph_api: FakeGraphApi, port: int) -> Settings:
    return service_settings(
        tmp_path,
        database_url,
        whatsapp_access_token=ACCESS_TOKEN,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_api_url=graph_api.base_url,
        # Quiet enough for the next message of a series to pass the webhook and its job.
        gather_seconds=0.8,
        public_base_url=f"http://127.0.0.1:{port}",
        welcome_credits=100,
        previews_per_day=0,  # previews are images too: off unless a scenario is about them
    )


@dataclass
class Channel:
    """The web process as WhatsApp sees it: signed notifications in, Graph API calls out."""

    client: TestClient[Any, Any]
    api: FakeGraphApi
    settings: Settings

    async def post(self, body: bytes, signature: str | None = "sign") -> ClientResponse:
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Hub-Signature-256"] = payloads.signature(APP_SECRET, body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.client.post(WEBHOOK_PATH, data=body, headers=headers)

    async def send(self, message: dict[str, Any], number: str = NUMBER) -> ClientResponse:
        """Post a message as Meta does, and wait until its job has handled it."""
        body = payloads.notification(number, message, phone_number_id=PHONE_NUMBER_ID)
        response = await self.post(body)
        assert response.status == 200, await response.text()
        await self.handled()
        return response

    async def handled(self) -> None:
        """Wait until the WhatsApp message jobs queued so far are done (in-process queue)."""
        broker = self.client.app[BROKER]
        assert isinstance(broker, StubBroker)
        await asyncio.to_thread(broker.join, WHATSAPP, timeout=30_000)


@pytest.fixture
async def channel(tmp_path, database_url, graph_api):
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    port = _free_port()
    settings = whatsapp_settings(tmp_path, database_url, graph_api, port)
    server = TestServer(build_web_app(settings), host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        yield Channel(client, graph_api, settings)
