"""Fixtures shared by the whole suite: real SQLite and PostgreSQL databases, migrated once."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis
from sqlalchemy.engine import make_url

from bot.observability import TagRequest
from db.engine import SessionFactory, create_engine, create_session_factory
from db.migrate import upgrade
from db.models import Base
from db.uow import UnitOfWork
from services.recipes.warm import compile_refinement

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("BGBOT_SHARED_DIR", REPO_ROOT.parent / "shared"))
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [b for b in os.environ.get("TEST_DATABASES", "sqlite,postgres").split(",") if b]


@pytest.fixture(scope="session", autouse=True)
def compiled_refinement() -> None:
    """Compile the refinement steps once, before any test waits on a cutout with a deadline.

    On a fresh environment numba compiles pymatting for a minute or more; in the middle of a
    test that waits for a result, that minute would read as a hang.
    """
    compile_refinement()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_reachable(url: str) -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def _start_local_postgres() -> None:
    # The Debian cluster of this kind of machine; CI's script starts it too.
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") and clusters.is_dir():
        for version in sorted(p.name for p in clusters.iterdir()):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
                capture_output=True,
            )


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    if not _postgres_reachable(POSTGRES_URL):
        _start_local_postgres()
    if not _postgres_reachable(POSTGRES_URL):
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL}: start it, point TEST_POSTGRES_URL "
            "at one, or run only SQLite with TEST_DATABASES=sqlite"
        )
    return POSTGRES_URL


async def _admin_execute(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database(postgres_admin_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test run, dropped at the end."""
    name = f"bgbot_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(_admin_execute(postgres_admin_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each backend (SQLite in WAL mode, then PostgreSQL)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "bgbot.sqlite3"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    asyncio.run(_admin_execute(url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def make_uow(session_factory: SessionFactory) -> Callable[[], UnitOfWork]:
    """A new unit of work for each concurrent task; one instance serves one task at a time."""
    return lambda: UnitOfWork(session_factory)


@pytest.fixture
def uow(make_uow: Callable[[], UnitOfWork]) -> UnitOfWork:
    return make_uow()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A private redis-server on a loopback port, which a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (bash .ci/run installs it)")
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis when it answers, else one started for this run."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.ConnectionError:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
        server.start()
        yield server.url
        server.stop()
        return
    yield url


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A Dramatiq namespace of this test alone, deleted afterwards."""
    namespace = f"bgbot-test-{uuid.uuid4().hex[:8]}"
    yield namespace
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{namespace}*"))
    if keys:
        client.delete(*keys)


class CollectRecords(logging.Handler):
    """Keep log records, tagged with their request id as the service's handlers tag them."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(TagRequest())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def worker_records() -> Iterator[list[logging.LogRecord]]:
    """The records the workers log during a test, at INFO and above."""
    handler = CollectRecords()
    logger = logging.getLogger("workers")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)
