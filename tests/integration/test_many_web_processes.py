"""Two `bgbot run` web processes and two worker processes on PostgreSQL and Redis.

Telegram and WhatsApp post webhook updates to whichever web process the proxy picks: the photos
of one album (or one series) reach both processes in turn, and still make one quote, one charge
and one result.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from db.engine import create_engine, create_session_factory
from db.models import Base, LedgerReason
from db.uow import UnitOfWork
from tests.api.conftest import MODELS, TINY
from tests.conftest import REPO_ROOT, _admin_execute
from tests.fakes.telegram_api import TOKEN, FakeBotApi, Person
from tests.fakes.whatsapp_api import FakeGraphApi
from tests.telegram.conftest import photo_bytes
from tests.whatsapp import payloads

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.models]

SECRET = "many-processes-webhook-secret"
APP_SECRET = "many-processes-app-secret"
PHONE_NUMBER_ID = "106540352242999"
NUMBER = "6281234500001"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/d/\S+")
HOOK = "/telegram/hook"
# `bgbot`, as installed beside this interpreter, or the same entry point without the script.
_SCRIPT = Path(sys.executable).parent / "bgbot"
BGBOT = (
    [str(_SCRIPT)]
    if _SCRIPT.is_file()
    else [sys.executable, "-c", "from bot.cli import main; main()"]
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """Subprocesses of the service, stopped together; their output kept for a failure."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.running.append((name, process))

    def output(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{(self.log_dir / f'{name}.log').read_text()[-3000:]}"
            for name, _ in self.running
        )

    def stop(self) -> None:
        for _, process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, process in self.running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def postgres_url(postgres_database: str) -> str:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    await _admin_execute(postgres_database, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return postgres_database


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
async def graph_api() -> AsyncIterator[FakeGraphApi]:
    api = FakeGraphApi(token="EAAG-many-processes", phone_number_id=PHONE_NUMBER_ID)
    await api.start()
    yield api
    await api.close()


@pytest.fixture
def redis_target(redis_url: str, redis_namespace: str) -> tuple[str, str]:
    """The Redis server and the key namespace of this test."""
    return redis_url, redis_namespace


@dataclass
class Cluster:
    """Two web processes and two workers sharing one database, one Redis and one DATA_DIR."""

    bases: list[str]
    database_url: str
    processes: Processes
    session: aiohttp.ClientSession

    async def telegram(self, number: int, update: dict[str, Any]) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with self.session.post(self.bases[number] + HOOK, json=update, headers=headers) as r:
            assert r.status == 200, await r.text()

    async def whatsapp(self, number: int, message: dict[str, Any]) -> None:
        body = payloads.notification(NUMBER, message, phone_number_id=PHONE_NUMBER_ID)
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": payloads.signature(APP_SECRET, body),
        }
        url = self.bases[number] + "/whatsapp/webhook"
        async with self.session.post(url, data=body, headers=headers) as response:
            assert response.status == 200, await response.text()

    async def ledger_charges(self, **identity: Any) -> list[int]:
        engine = create_engine(self.database_url)
        try:
            async with UnitOfWork(create_session_factory(engine)) as uow:
                if "telegram_id" in identity:
                    account = await uow.accounts.by_telegram_id(identity["telegram_id"])
                else:
                    account = await uow.accounts.by_whatsapp_number(identity["number"])
                assert account is not None
                entries = await uow.ledger.entries(account.id)
        finally:
            await engine.dispose()
        return [entry.delta for entry in entries if entry.reason == LedgerReason.CHARGE]


@pytest.fixture
async def cluster(
    tmp_path: Path,
    postgres_url: str,
    redis_target: tuple[str, str],
    bot_api: FakeBotApi,
    graph_api: FakeGraphApi,
) -> AsyncIterator[Cluster]:
    redis_url, redis_namespace = redis_target
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    ports = [_free_port(), _free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    env = {
        **os.environ,
        "BGBOT_ENV_FILE": str(tmp_path / "no.env"),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": make_url(postgres_url).render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": redis_namespace,
        "DATA_DIR": str(tmp_path / "data"),
        "MODELS_DIR": str(MODELS),
        **{f"ENGINE_{tier}": TINY for tier in ("BASIC", "STANDARD", "PROFESSIONAL", "INDUSTRY")},
        "FALLBACK_ENGINE": TINY,
        "ONNX_THREADS": "1",
        "ONNX_ACCELERATION": "cpu",
        "WORKER_THREADS": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": bot_api.base_url,
        "TELEGRAM_FILE_URL": bot_api.base_file_url,
        "TELEGRAM_WEBHOOK_URL": f"https://bot.example.com{HOOK}",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_PROGRESS_SECONDS": "0",
        "WHATSAPP_ACCESS_TOKEN": graph_api.token,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "many-processes-verify",
        "WHATSAPP_API_URL": graph_api.base_url,
        "PUBLIC_BASE_URL": bases[0],
        "GATHER_SECONDS": "1.0",
        # A free preview is a document too; the one document counted here is the result.
        "PREVIEWS_PER_DAY": "0",
        "WELCOME_CREDITS": "30",
        "LOG_LEVEL": "INFO",
    }
    processes = Processes(tmp_path)
    try:
        for number, port in enumerate(ports):
            web_env = {**env, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port)}
            processes.start(f"web-{number}", [*BGBOT, "run"], web_env)
        for number in range(2):
            processes.start(f"worker-{number}", [sys.executable, "-m", "workers"], env)
        async with aiohttp.ClientSession() as session:
            for base in bases:
                await _wait_healthy(session, base, processes)
            yield Cluster(bases, postgres_url, processes, session)
    finally:
        processes.stop()


async def _wait_healthy(session: aiohttp.ClientSession, base: str, processes: Processes) -> None:
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{base} did not become healthy\n{processes.output()}")


async def test_an_album_sent_alternately_to_two_web_processes_gives_one_quote_charge_and_result(
    cluster: Cluster, bot_api: FakeBotApi, graph_api: FakeGraphApi
):
    """One test for both channels: starting the four processes is most of its time."""
    # Given a Telegram album of four photos reaching the two web processes in turn
    sari = Person(user_id=5301, language_code="en")
    for number in range(4):
        update = bot_api.push(sari.photo(bot_api, photo_bytes(), media_group_id="album-9"))
        await cluster.telegram(number % 2, update)
        await asyncio.sleep(0.1)
    # And a WhatsApp series of three photos doing the same
    for number in range(3):
        media_id = graph_api.add_media(photo_bytes(), "image/jpeg")
        await cluster.whatsapp(number % 2, payloads.image(media_id))
        await asyncio.sleep(0.1)

    def telegram_quotes() -> list[Any]:
        return [
            m
            for m in bot_api.sent_to(sari.user_id)
            if any(b.get("callback_data", "").startswith("q:") for b in m.buttons())
        ]

    def whatsapp_quotes() -> list[dict[str, Any]]:
        return [m for m in graph_api.sent if m["type"] == "interactive"]

    # Then each gets one quote for all its photos, and no other after the quiet delay again
    [quote] = await bot_api.wait_for(telegram_quotes, within=30, what="the Telegram quote")
    [listed] = await bot_api.wait_for(whatsapp_quotes, within=30, what="the WhatsApp quote")
    assert "4 images" in (quote.text or "")
    assert "3 gambar" in listed["interactive"]["body"]["text"]
    await asyncio.sleep(2.5)
    assert (len(telegram_quotes()), len(whatsapp_quotes())) == (1, 1), cluster.processes.output()

    # When the choice of Basic reaches the other process on each channel
    data = next(
        b["callback_data"] for b in quote.buttons() if b["callback_data"].endswith(":basic")
    )
    await cluster.telegram(1, bot_api.push(sari.tap(quote, data, "cq-many-1")))
    rows = [row for s in listed["interactive"]["action"]["sections"] for row in s["rows"]]
    basic = next(row for row in rows if row["id"].endswith(":basic"))
    await cluster.whatsapp(0, payloads.list_reply(basic["id"], basic["title"]))

    # Then one ZIP of four PNGs on Telegram, one link to a ZIP of three on WhatsApp
    documents = await bot_api.wait_for(
        lambda: bot_api.called("sendDocument"), within=45, what="the ZIP"
    )
    link = await bot_api.wait_for(
        lambda: [
            found.group(0)
            for m in graph_api.sent
            if m["type"] == "text" and (found := LINK.search(m["text"]["body"]))
        ],
        within=45,
        what="the WhatsApp link",
    )
    await asyncio.sleep(1.0)
    assert len(bot_api.called("sendDocument")) == 1, cluster.processes.output()
    name, content = documents[0].files["document"]
    assert name.endswith(".zip")
    assert _pngs_in(content) == 4
    async with cluster.session.get(link[0]) as response:
        assert response.status == 200
        assert _pngs_in(await response.read()) == 3
    # And one charge each: 4 x 3 and 3 x 3 credits
    assert await cluster.ledger_charges(telegram_id=sari.user_id) == [-12]
    assert await cluster.ledger_charges(number=NUMBER) == [-9]


def _pngs_in(archive: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return len([name for name in opened.namelist() if name.endswith(".png")])
