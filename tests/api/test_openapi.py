"""The OpenAPI document: valid, and a property-based run of it finds no server error."""

import asyncio
import threading
from collections.abc import Iterator

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from bot.app import build_web_app
from bot.http_api import PREFIX
from bot.openapi import openapi_document
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade
from db.uow import UnitOfWork
from services.api_keys import issue_key
from tests.api.conftest import MODELS, service_settings
from tests.integration.helpers import NOON, new_account

DOCUMENT = openapi_document(PREFIX)


def test_the_openapi_document_is_valid():
    validate(DOCUMENT)


async def test_the_document_is_served(service):
    response = await service.get("/api/openapi.json")
    assert response.status == 200
    assert (await response.json())["paths"].keys() == DOCUMENT["paths"].keys()


class RunningService:
    """The web process on a loopback port, in a thread with its own event loop."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.key = ""

    async def _prepare(self) -> web.AppRunner:
        engine = create_engine(self.settings.resolved_database_url)
        uow = UnitOfWork(create_session_factory(engine))
        account = await new_account(uow, credits=100)
        self.key = (await issue_key(uow, account, "fuzz", now=NOON)).secret
        await engine.dispose()
        runner = web.AppRunner(build_web_app(self.settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = self.loop.run_until_complete(self._prepare())
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()


@pytest.fixture
def running_service(tmp_path) -> Iterator[RunningService]:
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.sqlite3'}"
    upgrade(url)
    service = RunningService(service_settings(tmp_path, url, api_requests_per_minute=100_000))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.ready.wait(30)
    yield service
    service.loop.call_soon_threadsafe(service.loop.stop)
    thread.join(30)


def test_a_property_based_run_of_the_document_finds_no_server_error(running_service):
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    base_url = f"http://127.0.0.1:{running_service.port}{PREFIX}"
    headers = {"Authorization": f"Bearer {running_service.key}"}
    failures = []

    def fuzz(operation):
        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def call(case):
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append((operation.label, response.status_code, response.text[:300]))

        call()

    for result in schema.get_all_operations():
        fuzz(result.ok())  # type: ignore[union-attr]
    assert failures == []
