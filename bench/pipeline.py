"""End-to-end time and worker memory of one batch through the real pipeline.

Run by hand, never by the test suite:

    .venv/bin/python bench/pipeline.py --images 100
    .venv/bin/python bench/pipeline.py --images 500 --database-url postgresql://postgres@127.0.0.1/bench

What runs: Redis (REDIS_URL, or a private redis-server when none answers), worker processes
started with Dramatiq's own command through `python -m workers`, the real model
(isnet-imgly-medium from the shared models folder) on every image, and this process as the
bot: it accepts the quote, queues the jobs and serves the `batches` queue, so the packaging and
the (recorded) delivery of the ZIP are inside the measured time. The workers' resident memory is
sampled every second over the whole batch, to show whether it stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dramatiq
import redis

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from db.engine import create_engine, create_session_factory  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import BatchStatus, JobStatus  # noqa: E402
from db.uow import UnitOfWork  # noqa: E402
from services.accounts import ChannelIdentity, get_or_register  # noqa: E402
from services.billing import QuoteFile, accept_quote, create_quote  # noqa: E402
from services.pricing import Tier  # noqa: E402
from services.settings import Settings  # noqa: E402
from workers.actors import PipelineConfig, Runtime, declare_actors  # noqa: E402
from workers.broker import BATCHES, build_broker  # noqa: E402
from workers.cutout import cut_out_job, package_batch  # noqa: E402
from workers.delivery import Chat  # noqa: E402
from workers.submit import submit_batch  # noqa: E402

SHARED = Path(os.environ.get("BGBOT_SHARED_DIR", REPO_ROOT.parent / "shared"))
MODEL = "isnet-imgly-medium"
# The product's targets, end to end on 2 cores.
TARGETS = {100: (10, 20), 500: (45, 60)}
TARGET_SUCCESS = 0.98


@dataclass
class NotedDelivery:
    """A chat channel that notes what it was asked to send, without keeping the files."""

    progress_interval: timedelta = timedelta(seconds=3)
    sent: list[tuple[str, int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    statuses: int = 0

    async def send_text(self, chat: Chat, message: str) -> None:
        self.texts.append(message)

    async def edit_status(self, chat: Chat, message: str) -> None:
        self.statuses += 1

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        self.sent.append((filename, size))


@dataclass
class Sample:
    seconds: float
    finished: int
    rss_mb: float


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def worker_processes(launcher: int) -> list[int]:
    """The worker processes Dramatiq's command forked (it stays as their supervisor)."""
    return children(launcher)


def redis_for_bench(url: str | None, folder: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    url = url or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return url, None
    except redis.ConnectionError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("no Redis answers and redis-server is not installed")
    port = 6390
    server = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return url, server
        except redis.ConnectionError:
            time.sleep(0.05)
    sys.exit("redis-server did not start")


def start_workers(
    command: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stage_images(data_dir: Path, count: int) -> list[QuoteFile]:
    sources = sorted((SHARED / "datasets" / "composites" / "images").glob("*.jpg"))
    if not sources:
        sys.exit(f"no images under {SHARED / 'datasets'}")
    inbox = data_dir / "inbox" / "bench"
    inbox.mkdir(parents=True)
    files = []
    for index in range(count):
        target = inbox / f"{index:04d}.jpg"
        shutil.copyfile(sources[index % len(sources)], target)
        files.append(QuoteFile(name=f"{index:04d}.jpg", path=f"inbox/bench/{target.name}"))
    return files


async def status_counts(uow: UnitOfWork, batch_id: int) -> tuple[dict[str, int], str]:
    async with uow:
        counts = await uow.jobs.status_counts(batch_id)
        batch = await uow.batches.get(batch_id)
        assert batch is not None
        return counts, batch.status


async def job_durations(uow: UnitOfWork, batch_id: int) -> list[int]:
    async with uow:
        return [j.duration_ms for j in await uow.jobs.for_batch(batch_id) if j.duration_ms]


def code_version() -> str:
    """The commit the figures belong to, and whether the tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if dirty else commit


def pick(samples: list[Sample], fraction: float, total: int) -> Sample:
    wanted = fraction * total
    return next((s for s in samples if s.finished >= wanted), samples[-1])


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bgbot-bench-"))
    data_dir = folder / "data"
    data_dir.mkdir()
    redis_url, private_redis = redis_for_bench(args.redis_url, folder)
    namespace = f"bgbot-bench-{uuid.uuid4().hex[:8]}"
    database_url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'bench.sqlite3'}"
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_namespace=namespace,
        models_dir=args.models_dir,
        engine_basic=MODEL,
        fallback_engine=MODEL,
        onnx_threads=args.onnx_threads,
        worker_threads=args.threads,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    files = stage_images(data_dir, args.images)

    engine = create_engine(settings.resolved_database_url)
    sessions = create_session_factory(engine)

    def uow() -> UnitOfWork:
        return UnitOfWork(sessions)

    now = datetime.now(UTC)
    account = await get_or_register(
        uow(),
        ChannelIdentity(telegram_id=int(time.time())),
        language="en",
        display_name="bench",
        welcome_credits=100_000,
        now=now,
    )
    zone = ZoneInfo("Asia/Jakarta")
    offer = await create_quote(
        uow(),
        account.account.id,
        files,
        channel="bench",
        chat={"chat_id": 1, "language": "en"},
        ttl=timedelta(hours=1),
        zone=zone,
        now=now,
    )

    # This process plays the bot: it queues the jobs and finishes the batch.
    broker = build_broker(redis_url, namespace=namespace)
    delivery = NotedDelivery()
    runtime = Runtime(
        PipelineConfig(data_dir=data_dir, database_url=settings.resolved_database_url),
        cutter=cut_out_job(settings),
        packager=package_batch(settings),
        channels={"bench": delivery},
    )
    actors = declare_actors(broker, runtime)

    env = {
        **os.environ,
        "BGBOT_ENV_FILE": "/dev/null",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": settings.resolved_database_url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "MODELS_DIR": str(args.models_dir),
        "ENGINE_BASIC": MODEL,
        "FALLBACK_ENGINE": MODEL,
        "ONNX_THREADS": str(args.onnx_threads),
        "WORKER_THREADS": str(args.threads),
    }
    command = [
        sys.executable,
        "-m",
        "workers",
        "--processes",
        str(args.processes),
        "--queues",
        "images",
        "images-priority",
    ]
    log_path = folder / "worker.log"
    launcher = start_workers(command, env, log_path)
    finisher = dramatiq.Worker(broker, worker_threads=1, queues={BATCHES})
    finisher.start()
    load_before = os.getloadavg()
    version = code_version()
    samples: list[Sample] = []
    try:
        # Wait until the worker processes run and idle, so start-up is not in the figures
        # (the model itself loads on the first image, which is).
        booted = time.monotonic()
        while len(worker_processes(launcher.pid)) < args.processes or any(
            rss_mb(pid) < 50 for pid in worker_processes(launcher.pid)
        ):
            if launcher.poll() is not None or time.monotonic() - booted > 120:
                sys.exit(f"workers did not start:\n{log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        idle_rss = sum(rss_mb(pid) for pid in worker_processes(launcher.pid))
        boot_seconds = time.monotonic() - booted

        accepted = await accept_quote(
            uow(), offer.quote_id, account.account.id, Tier.BASIC, zone=zone, now=now
        )
        started = time.monotonic()
        await submit_batch(actors, uow(), accepted)
        first_result: float | None = None
        while True:
            counts, status = await status_counts(uow(), accepted.batch_id)
            finished = counts[JobStatus.DONE] + counts[JobStatus.FAILED]
            elapsed = time.monotonic() - started
            rss = sum(rss_mb(pid) for pid in worker_processes(launcher.pid))
            samples.append(Sample(elapsed, finished, rss))
            if finished and first_result is None:
                first_result = elapsed
            if status == BatchStatus.DELIVERED:
                break
            if launcher.poll() is not None:
                sys.exit(f"the workers stopped:\n{log_path.read_text()[-3000:]}")
            if args.progress and len(samples) % 30 == 0:
                print(f"  {elapsed:6.0f} s  {finished}/{args.images}  {rss:.0f} MiB", flush=True)
            await asyncio.sleep(1)
        wall = time.monotonic() - started
        durations = await job_durations(uow(), accepted.batch_id)
    finally:
        stopping = time.monotonic()
        # Dramatiq's main process passes SIGTERM on to its workers; signalling the whole group
        # would give each worker a second one, which Dramatiq takes as "kill now".
        launcher.terminate()
        try:
            launcher.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
        stop_seconds = time.monotonic() - stopping
        finisher.stop()
        broker.close()
        await engine.dispose()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
        if private_redis is not None:
            private_redis.terminate()
    load_after = os.getloadavg()

    done = counts[JobStatus.DONE]
    rates = [s.rss_mb for s in samples if s.finished]
    start, middle, end = (pick(samples, f, args.images) for f in (0.1, 0.5, 1.0))
    peak = max(s.rss_mb for s in samples)
    minutes = wall / 60
    print(f"pipeline benchmark: {args.images} images, model {MODEL}, {os.cpu_count()} cores")
    print(
        f"  workers: {args.processes} process(es) x {args.threads} local thread(s), "
        f"onnx {args.onnx_threads} intra-op thread(s); database {engine.url.get_backend_name()}"
    )
    print(f"  code: {version}")
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(
        f"  end to end: {wall:.0f} s ({minutes:.1f} min), first result after {first_result:.1f} s"
        f" (workers started in {boot_seconds:.0f} s, stopped in {stop_seconds:.0f} s)"
    )
    print(f"  throughput: {done / minutes:.1f} images/min")
    print(f"  success: {done}/{args.images} = {done / args.images:.1%}")
    if durations:
        ordered = sorted(durations)
        print(
            f"  per image (worker): median {statistics.median(ordered) / 1000:.2f} s, "
            f"p95 {ordered[int(0.95 * (len(ordered) - 1))] / 1000:.2f} s"
        )
    sent_mb = sum(size for _, size in delivery.sent) / 2**20
    print(f"  delivered: {len(delivery.sent)} file(s), {sent_mb:.1f} MiB")
    print(f"  worker RSS: idle {idle_rss:.0f} MiB, peak {peak:.0f} MiB")
    print(
        f"  worker RSS at 10% {start.rss_mb:.0f} MiB, 50% {middle.rss_mb:.0f} MiB, "
        f"100% {end.rss_mb:.0f} MiB (flat: end - 10% = {end.rss_mb - start.rss_mb:+.0f} MiB)"
    )
    if rates:
        print(f"  RSS spread while working: {min(rates):.0f}..{max(rates):.0f} MiB")
    target = TARGETS.get(args.images)
    if target:
        low, high = target
        verdict = "within" if minutes <= high else "over"
        print(f"  target {low}-{high} min: {verdict} ({minutes:.1f} min)")
    print(f"  target success >= {TARGET_SUCCESS:.0%}: {done / args.images >= TARGET_SUCCESS}")
    if args.samples:
        for sample in samples[:: max(1, len(samples) // 40)]:
            print(f"    {sample.seconds:6.0f} s {sample.finished:4d} done {sample.rss_mb:7.0f} MiB")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"  files kept in {folder}")


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=cores, help="local-model pool per process")
    # The defaults are the service's own: WORKER_THREADS and ONNX_THREADS both the core count.
    parser.add_argument("--onnx-threads", type=int, default=cores, help="intra-op threads")
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--progress", action="store_true", help="print a line every 30 s")
    parser.add_argument("--samples", action="store_true", help="print the RSS samples")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args()
    if not (args.models_dir / f"{MODEL}.onnx").is_file():
        sys.exit(f"{MODEL}.onnx is not in {args.models_dir}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
