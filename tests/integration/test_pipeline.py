"""The job pipeline with real Redis, real Dramatiq workers and a real (tiny) model."""

import io
import os
import signal
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from db.models import JobStatus, LedgerReason
from services.billing import QuoteFile
from services.clock import utcnow
from services.pricing import Tier
from services.retention import purge_expired
from services.settings import Settings
from tests.conftest import REPO_ROOT, SHARED_DIR
from tests.integration.helpers import new_account, new_quote
from tests.integration.pipeline_helpers import (
    accept_images,
    build_test_pipeline,
    delivered,
    wait_for,
)
from workers.broker import BATCHES, IMAGES, PRIORITY_IMAGES
from workers.cutout import cut_out_job, package_batch
from workers.submit import submit_batch

MODELS = SHARED_DIR / "models"
IMAGES_DIR = SHARED_DIR / "datasets" / "composites" / "images"

pytestmark = pytest.mark.skipif(
    not (MODELS / "selfie_segmentation.onnx").is_file(),
    reason=f"the shared models are not at {MODELS}",
)


def settings_for(data_dir: Path, database_url: str, **extra) -> Settings:
    tiny = "selfie-segmentation"
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        models_dir=MODELS,
        engine_basic=tiny,
        engine_standard=tiny,
        engine_professional=tiny,
        engine_industry=tiny,
        fallback_engine=tiny,
        onnx_threads=1,
        **extra,
    )


def stage_images(data_dir: Path, count: int, broken: int = 0) -> list[QuoteFile]:
    """Copy dataset photos into the inbox; the first `broken` are truncated JPEGs."""
    sources = sorted(IMAGES_DIR.glob("*.jpg"))
    inbox = data_dir / "inbox" / "test"
    inbox.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        source = sources[index % len(sources)]
        target = inbox / f"{index:03d}.jpg"
        data = source.read_bytes()
        target.write_bytes(data[: len(data) // 3] if index < broken else data)
        files.append(
            QuoteFile(name=f"{index:03d}-{source.name}", path=f"inbox/test/{index:03d}.jpg")
        )
    return files


@pytest.fixture
def pipeline_env(tmp_path, database_url, redis_url, redis_namespace):
    settings = settings_for(tmp_path, database_url)

    def build(redis: str | None = redis_url, **config):
        return build_test_pipeline(
            redis_url=redis,
            namespace=redis_namespace,
            database_url=database_url,
            data_dir=tmp_path,
            cutter=cut_out_job(settings),
            packager=package_batch(settings),
            **config,
        )

    return settings, build


async def ledger_entries(uow, account_id):
    async with uow:
        return [(e.reason, e.delta) for e in await uow.ledger.entries(account_id)]


async def test_a_batch_of_30_images_finishes_with_all_results_and_one_delivery(
    pipeline_env, uow, tmp_path
):
    _, build = pipeline_env
    pipeline = build()
    account = await new_account(uow, credits=500)
    accepted = await accept_images(uow, account, stage_images(tmp_path, 30))
    assert await submit_batch(pipeline.actors, uow, accepted)
    worker = pipeline.worker(threads=2)
    try:
        await wait_for(lambda: delivered(uow, accepted.batch_id), message="delivery")
        # When every message is delivered again, nothing changes.
        before = await ledger_entries(uow, account)
        pipeline.actors.enqueue_jobs(accepted.job_ids, priority=False)
        pipeline.actors.finish_batch.send(accepted.batch_id)
        pipeline.broker.join(IMAGES)
        pipeline.broker.join(BATCHES)
    finally:
        worker.stop()
    delivery = pipeline.delivery
    assert len(delivery.documents) == 1
    name, data, _ = delivery.documents[0]
    assert name == f"cutouts-{accepted.batch_id}.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert len(names) == 30
        with Image.open(io.BytesIO(archive.read(names[0]))) as first:
            assert first.mode == "RGBA"
    assert len(delivery.texts) == 1 and "30 of 30" in delivery.texts[0][1]
    assert await ledger_entries(uow, account) == before
    assert [reason for reason, _ in before] == [LedgerReason.WELCOME, LedgerReason.CHARGE]


async def test_permanent_failures_refund_once_and_the_summary_names_them(
    pipeline_env, uow, tmp_path
):
    _, build = pipeline_env
    pipeline = build(redis=None)
    account = await new_account(uow, credits=500)
    files = stage_images(tmp_path, 20, broken=2)
    accepted = await accept_images(uow, account, files, tier=Tier.STANDARD)
    assert accepted.credits_charged == 152  # 20 x 8 x 0.95
    await submit_batch(pipeline.actors, uow, accepted)
    worker = pipeline.worker(threads=2)
    try:
        await wait_for(lambda: delivered(uow, accepted.batch_id), message="delivery")
    finally:
        worker.stop()
    summary = pipeline.delivery.texts[-1][1]
    assert "18 of 20" in summary
    assert files[0].name in summary and "damaged image file" in summary
    refunds = [d for r, d in await ledger_entries(uow, account) if r == LedgerReason.REFUND]
    assert refunds == [152 - 137]  # 18 x 8 x 0.95 = 136.8 -> 137 kept
    async with uow:
        jobs = await uow.jobs.for_batch(accepted.batch_id)
    assert [j.error for j in jobs if j.status == JobStatus.FAILED] == ["truncated"] * 2


async def test_a_single_image_comes_back_as_a_png_of_the_input_size(pipeline_env, uow, tmp_path):
    _, build = pipeline_env
    pipeline = build(redis=None)
    account = await new_account(uow, credits=50)
    files = stage_images(tmp_path, 1)
    accepted = await accept_images(uow, account, files)
    await submit_batch(pipeline.actors, uow, accepted)
    worker = pipeline.worker(threads=1)
    try:
        await wait_for(lambda: delivered(uow, accepted.batch_id), message="delivery")
    finally:
        worker.stop()
    ((name, data, _),) = pipeline.delivery.documents
    assert name == Path(files[0].name).stem + ".png"
    with Image.open(io.BytesIO(data)) as result, Image.open(tmp_path / files[0].path) as source:
        assert (result.mode, result.size) == ("RGBA", source.size)


async def test_with_redis_down_at_accept_the_sweep_queues_the_batch_later(
    tmp_path, database_url, redis_namespace, private_redis, uow
):
    settings = settings_for(tmp_path, database_url)
    pipeline = build_test_pipeline(
        redis_url=private_redis.url,
        namespace=redis_namespace,
        database_url=database_url,
        data_dir=tmp_path,
        cutter=cut_out_job(settings),
        packager=package_batch(settings),
    )
    account = await new_account(uow, credits=100)
    # Given Redis is down when the quote is accepted
    private_redis.stop()
    accepted = await accept_images(uow, account, stage_images(tmp_path, 3))
    assert not await submit_batch(pipeline.actors, uow, accepted)
    async with uow:
        assert {j.status for j in await uow.jobs.for_batch(accepted.batch_id)} == {"queued"}
        assert (await uow.accounts.get(account)).balance == 91
    # When Redis returns and the sweep runs
    private_redis.start()
    worker = pipeline.worker(threads=2)
    try:
        pipeline.actors.sweep.send()
        await wait_for(lambda: delivered(uow, accepted.batch_id), message="delivery")
    finally:
        worker.stop()
    # Then the batch completes once
    assert len(pipeline.delivery.documents) == 1


async def test_pro_batches_are_served_first(pipeline_env, uow, tmp_path):
    _, build = pipeline_env
    pipeline = build(redis=None)
    account = await new_account(uow, credits=500)
    normal = await accept_images(uow, account, stage_images(tmp_path, 6))
    urgent = await accept_images(uow, account, stage_images(tmp_path, 6))
    pipeline.actors.enqueue_jobs(normal.job_ids, priority=False)
    pipeline.actors.enqueue_jobs(urgent.job_ids, priority=True)
    worker = pipeline.worker(threads=1)
    try:
        await wait_for(lambda: delivered(uow, normal.batch_id), message="normal delivery")
        await wait_for(lambda: delivered(uow, urgent.batch_id), message="urgent delivery")
    finally:
        worker.stop()
    async with uow:
        normal_jobs = await uow.jobs.for_batch(normal.batch_id)
        urgent_jobs = await uow.jobs.for_batch(urgent.batch_id)
    assert max(j.finished_at for j in urgent_jobs) <= min(j.finished_at for j in normal_jobs)
    assert PRIORITY_IMAGES in pipeline.broker.get_declared_queues()


async def test_retention_removes_old_files_and_records_and_keeps_new_ones(uow, tmp_path):
    account = await new_account(uow, credits=100)
    old_file = tmp_path / "inbox" / "a" / "old.jpg"
    new_file = tmp_path / "results" / "9" / "new.png"
    for path in (old_file, new_file):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    old = (utcnow() - timedelta(days=8)).timestamp()
    os.utime(old_file, (old, old))
    open_quote = await new_quote(uow, account, 1, now=utcnow() - timedelta(days=8))
    fresh_quote = await new_quote(uow, account, 1, now=utcnow())
    purge = await purge_expired(uow, tmp_path, now=utcnow(), retention=timedelta(days=7))
    assert not old_file.exists() and not old_file.parent.exists()
    assert new_file.exists()
    assert purge.quotes_deleted == 1
    async with uow:
        assert await uow.quotes.get(open_quote.quote_id) is None
        assert await uow.quotes.get(fresh_quote.quote_id) is not None


def _start_worker_process(settings_env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.main:setup",
        "--processes",
        "1",
        "--threads",
        "1",
        "--queues",
        IMAGES,
        PRIORITY_IMAGES,
    ]
    with log.open("ab") as output:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **settings_env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def test_killing_a_worker_mid_batch_loses_nothing_and_delivers_once(
    tmp_path, database_url, redis_url, redis_namespace, uow
):
    settings = settings_for(tmp_path, database_url)
    pipeline = build_test_pipeline(
        redis_url=redis_url,
        namespace=redis_namespace,
        database_url=database_url,
        data_dir=tmp_path,
        cutter=cut_out_job(settings),
        packager=package_batch(settings),
        stale_after=timedelta(seconds=3),
        queued_grace=timedelta(seconds=3),
    )
    env = {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": redis_namespace,
        "MODELS_DIR": str(MODELS),
        "ENGINE_BASIC": "selfie-segmentation",
        "FALLBACK_ENGINE": "selfie-segmentation",
        "ONNX_THREADS": "1",
        "REDIS_HEARTBEAT_TIMEOUT_MS": "2000",
        "JOB_STALE_AFTER_SECONDS": "3",
        "BGBOT_ENV_FILE": "/dev/null",
    }
    account = await new_account(uow, credits=500)
    accepted = await accept_images(uow, account, stage_images(tmp_path, 30))
    await submit_batch(pipeline.actors, uow, accepted)

    async def done_count():
        async with uow:
            return (await uow.jobs.status_counts(accepted.batch_id))["done"]

    log = tmp_path / "worker.log"
    # Given a worker process that has finished some images of the batch
    first = _start_worker_process(env, log)
    try:
        await wait_for(lambda: _at_least(done_count, 5), seconds=90, message="first images")
    finally:
        # When it is killed without warning
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    assert await done_count() < 30, "the worker finished the batch before it could be killed"
    # Then another worker, with the sweep, completes the batch
    second = _start_worker_process(env, log)
    finisher = pipeline.worker(threads=1, queues={BATCHES, "maintenance"})
    try:

        async def swept_and_delivered():
            pipeline.actors.sweep.send()
            return await delivered(uow, accepted.batch_id)

        await wait_for(
            swept_and_delivered, seconds=120, message=f"delivery; {log.read_text()[-2000:]}"
        )
    finally:
        _stop(second)
        finisher.stop()
    async with uow:
        counts = await uow.jobs.status_counts(accepted.batch_id)
    assert counts["done"] == 30
    assert len(pipeline.delivery.documents) == 1
    assert [r for r, _ in await ledger_entries(uow, account)].count(LedgerReason.REFUND) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    # Dramatiq's main process forwards SIGTERM to its workers and waits for them.
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        raise


async def _at_least(counter, threshold):
    return await counter() >= threshold
