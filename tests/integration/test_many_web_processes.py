"""Two `bgbot run` web processes and two worker processes on PostgreSQL and Redis.

Telegram posts webhook updates to whichever web process the proxy picks: the photos of one
album reach both processes in turn, and still make one quote, one charge and one ZIP.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from db.models import Base, LedgerReason
from db.uow import UnitOfWork
from tests.api.conftest import MODELS, TINY
from tests.conftest import REPO_ROOT, _admin_execute
from tests.fakes.telegram_api import TOKEN, FakeBotApi, Person
from tests.telegram.conftest import photo_bytes

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.models]

SECRET = "many-processes-webhook-secret"
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
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop()


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
def env(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_namespace: str, bot_api: FakeBotApi
) -> dict[str, str]:
    """The environment all four processes share: one database, one Redis, one DATA_DIR."""
    plain_url = make_url(postgres_url).render_as_string(hide_password=False)
    api, namespace = bot_api, redis_namespace
    return {
        **os.environ,
        "BGBOT_ENV_FILE": str(tmp_path / "no.env"),
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": plain_url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "DATA_DIR": str(tmp_path / "data"),
        "MODELS_DIR": str(MODELS),
        **{f"ENGINE_{tier}": TINY for tier in ("BASIC", "STANDARD", "PROFESSIONAL", "INDUSTRY")},
        "FALLBACK_ENGINE": TINY,
        "ONNX_THREADS": "1",
        "ONNX_ACCELERATION": "cpu",
        "WORKER_THREADS": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.base_url,
        "TELEGRAM_FILE_URL": api.base_file_url,
        "TELEGRAM_WEBHOOK_URL": f"https://bot.example.com{HOOK}",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_PROGRESS_SECONDS": "0",
        "GATHER_SECONDS": "1.0",
        "WELCOME_CREDITS": "30",
        "LOG_LEVEL": "INFO",
    }


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


async def test_an_album_sent_alternately_to_two_web_processes_gives_one_quote_charge_and_zip(
    env, postgres_url, bot_api, processes
):
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    # Given two web processes in webhook mode and two worker processes, all on one
    # PostgreSQL database, one Redis and one shared DATA_DIR
    ports = [_free_port(), _free_port()]
    for number, port in enumerate(ports):
        web_env = {**env, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port)}
        processes.start(f"web-{number}", [*BGBOT, "run"], web_env)
    for number in range(2):
        processes.start(f"worker-{number}", [sys.executable, "-m", "workers"], env)
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    sari = Person(user_id=5301, language_code="en")

    async with aiohttp.ClientSession() as session:
        for base in bases:
            await _wait_healthy(session, base, processes)

        async def post(base: str, update: dict[str, Any]) -> None:
            async with session.post(
                base + HOOK, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as response:
                assert response.status == 200, await response.text()

        # When the album's four photos reach the two processes in turn
        for number in range(4):
            update = bot_api.push(sari.photo(bot_api, photo_bytes(), media_group_id="album-9"))
            await post(bases[number % 2], update)
            await asyncio.sleep(0.1)

        def quotes() -> list[Any]:
            return [
                m
                for m in bot_api.sent_to(sari.user_id)
                if any(b.get("callback_data", "").startswith("q:") for b in m.buttons())
            ]

        [quote] = await bot_api.wait_for(quotes, within=30, what="the quote")
        # Then one quote of four images, and no other after the quiet delay has passed again
        assert "4 images" in (quote.text or "")
        await asyncio.sleep(2.5)
        assert len(quotes()) == 1, processes.output()

        # When the tap on Basic also reaches the other process
        data = next(
            b["callback_data"] for b in quote.buttons() if b["callback_data"].endswith(":basic")
        )
        tap = bot_api.push(sari.tap(quote, data, "cq-many-1"))
        await post(bases[1], tap)
        documents = await bot_api.wait_for(
            lambda: bot_api.called("sendDocument"), within=45, what="the ZIP"
        )

    # Then one charge for the batch of four and one ZIP holding four PNGs
    await asyncio.sleep(1.0)
    assert len(bot_api.called("sendDocument")) == 1, processes.output()
    name, content = documents[0].files["document"]
    assert name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".png")]) == 4
    from db.engine import create_engine, create_session_factory

    engine = create_engine(postgres_url)
    try:
        async with UnitOfWork(create_session_factory(engine)) as uow:
            account = await uow.accounts.by_telegram_id(sari.user_id)
            assert account is not None
            entries = await uow.ledger.entries(account.id)
    finally:
        await engine.dispose()
    charges = [entry.delta for entry in entries if entry.reason == LedgerReason.CHARGE]
    assert charges == [-12]  # 4 x 3 credits, once
