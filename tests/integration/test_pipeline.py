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
import redis
from PIL import Image

from db.models import JobStatus, LedgerReason
from services.billing import QuoteFile
from services.pipeline import complete_job, start_job
from services.pricing import Tier
from services.retention import purge_expired
from services.settings import Settings
from services.whatsapp import hold_message, record_inbound, take_held_messages
from tests.conftest import REPO_ROOT, SHARED_DIR
from tests.integration.helpers import NOON, new_account, new_quote
from tests.integration.pipeline_helpers import (
    FlakyCutter,
    accept_images,
    build_test_pipeline,
    delivered,
    files_under,
    wait_for,
)
from workers.broker import BATCHES, IMAGES, MAINTENANCE, PRIORITY_IMAGES, job_ids_on_queue
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

    def build(redis: str | None = redis_url, cutter=None, **config):
        return build_test_pipeline(
            redis_url=redis,
            namespace=redis_namespace,
            database_url=database_url,
            data_dir=tmp_path,
            cutter=cutter or cut_out_job(settings),
            packager=package_batch(settings),
            **config,
        )

    return settings, build


async def ledger_entries(uow, account_id):
    async with uow:
        return [(e.reason, e.delta) for e in await uow.ledger.entries(account_id)]


async def job_rows(uow, batch_id):
    async with uow:
        return [
            (j.status, j.attempts, j.output_path, j.error, j.finished_at)
            for j in await uow.jobs.for_batch(batch_id)
        ]


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
        # When every message of the finished batch is delivered again
        ledger_before = await ledger_entries(uow, account)
        jobs_before = await job_rows(uow, accepted.batch_id)
        files_before = files_under(tmp_path / "results")
        statuses_before = list(pipeline.delivery.statuses)
        pipeline.actors.enqueue_jobs(accepted.job_ids, priority=False)
        pipeline.actors.finish_batch.send(accepted.batch_id)
        pipeline.broker.join(IMAGES)
        pipeline.broker.join(BATCHES)
    finally:
        worker.stop()
    # Then nothing changes: no second result, charge, refund or message
    assert await job_rows(uow, accepted.batch_id) == jobs_before
    assert files_under(tmp_path / "results") == files_before
    assert pipeline.delivery.statuses == statuses_before
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
    assert await ledger_entries(uow, account) == ledger_before
    assert [reason for reason, _ in ledger_before] == [LedgerReason.WELCOME, LedgerReason.CHARGE]


async def test_permanent_failures_refund_once_and_the_summary_names_them(
    pipeline_env, uow, tmp_path
):
    _, build = pipeline_env
    pipeline = build()
    account = await new_account(uow, credits=500)
    files = stage_images(tmp_path, 20, broken=2)
    accepted = await accept_images(uow, account, files, tier=Tier.STANDARD)
    assert accepted.credits_charged == 152  # 20 x 8 x 0.95
    await submit_batch(pipeline.actors, uow, accepted)
    worker = pipeline.worker(threads=2)
    try:
        await wait_for(lambda: delivered(uow, accepted.batch_id), message="delivery")
        # The failed jobs and the batch's end come round again: still one refund, one summary.
        pipeline.actors.enqueue_jobs(accepted.job_ids[:2], priority=False)
        pipeline.actors.finish_batch.send(accepted.batch_id)
        pipeline.broker.join(IMAGES)
        pipeline.broker.join(BATCHES)
    finally:
        worker.stop()
    assert len(pipeline.delivery.texts) == 1
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
        jobs = await uow.jobs.for_batch(accepted.batch_id)
        assert [j.status for j in jobs] == [JobStatus.QUEUED] * 3
        assert (await uow.accounts.get(account)).balance == 91
    assert (await ledger_entries(uow, account))[-1] == (LedgerReason.CHARGE, -9)
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
    async with uow:
        counts = await uow.jobs.status_counts(accepted.batch_id)
    assert counts[JobStatus.DONE] == 3


async def test_pro_batches_are_served_first(pipeline_env, uow, tmp_path):
    _, build = pipeline_env
    pipeline = build()
    account = await new_account(uow, credits=500)
    normal = await accept_images(uow, account, stage_images(tmp_path, 6))
    urgent = await accept_images(uow, account, stage_images(tmp_path, 6))
    # Given a queue where a normal batch waits ahead of a pro batch
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
    # Then the pro batch is served first: a one-thread worker may have taken one normal image
    # before the pro messages reached it, and holds at most two (its prefetch) at a time.
    pro_done = max(j.finished_at for j in urgent_jobs)
    assert len([j for j in normal_jobs if j.finished_at < pro_done]) <= 2
    assert PRIORITY_IMAGES in pipeline.broker.get_declared_queues()


async def test_retention_removes_old_files_and_records_and_keeps_new_ones(uow, tmp_path):
    account = await new_account(uow, credits=100)
    purge_at = NOON + timedelta(days=8)  # seven days after the cut-off below
    old_file = tmp_path / "inbox" / "a" / "old.jpg"
    new_file = tmp_path / "results" / "9" / "new.png"
    for path, written in ((old_file, NOON), (new_file, NOON + timedelta(days=2))):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
        os.utime(path, (written.timestamp(), written.timestamp()))
    open_quote = await new_quote(uow, account, 1, now=NOON)
    fresh_quote = await new_quote(uow, account, 1, now=NOON + timedelta(days=2))
    files = [QuoteFile(name="a.jpg", path="inbox/a/old.jpg")]
    old_batch = await accept_images(uow, account, files, now=NOON)
    new_batch = await accept_images(uow, account, files, now=NOON + timedelta(days=2))
    for batch in (old_batch, new_batch):
        (job_id,) = batch.job_ids
        await start_job(uow, job_id, now=NOON, stale_after=timedelta(minutes=10))
        result = f"results/{batch.batch_id}/0000.png"
        await complete_job(uow, job_id, result, now=NOON, duration_ms=1)
    # WhatsApp state: message ids past Meta's retry period and held messages past retention go.
    for message_id, seen in (("wamid.old", NOON), ("wamid.new", purge_at - timedelta(days=1))):
        await record_inbound(uow, message_id, "6281200000000", now=seen)
    await hold_message(uow, "6281200000000", "old result", now=NOON)
    await hold_message(uow, "6281200000000", "new result", now=purge_at - timedelta(days=1))

    purge = await purge_expired(uow, tmp_path, now=purge_at, retention=timedelta(days=7))

    assert not old_file.exists() and not old_file.parent.exists()
    assert new_file.exists()
    assert (purge.quotes_deleted, purge.batches_purged, purge.whatsapp_rows_deleted) == (1, 1, 2)
    assert not await record_inbound(uow, "wamid.new", "6281200000000", now=purge_at)
    held = await take_held_messages(uow, "6281200000000", now=purge_at, max_age=timedelta(days=30))
    assert held == ["new result"]
    async with uow:
        assert await uow.quotes.get(open_quote.quote_id) is None
        assert await uow.quotes.get(fresh_quote.quote_id) is not None
        (old_job,) = await uow.jobs.for_batch(old_batch.batch_id)
        (new_job,) = await uow.jobs.for_batch(new_batch.batch_id)
    # The history stays; only the paths to deleted files go.
    assert (old_job.status, old_job.output_path) == (JobStatus.DONE, None)
    assert new_job.output_path == f"results/{new_batch.batch_id}/0000.png"


async def test_transient_engine_errors_retry_with_backoff_at_most_three_times(
    pipeline_env, uow, tmp_path
):
    settings, build = pipeline_env
    files = stage_images(tmp_path, 3)
    # Given an engine that is unavailable once for the first image and always for the second
    flaky = FlakyCutter(cut_out_job(settings), {files[0].name: 1, files[1].name: 99})
    pipeline = build(cutter=flaky)
    account = await new_account(uow, credits=100)
    accepted = await accept_images(uow, account, files)
    await submit_batch(pipeline.actors, uow, accepted)
    worker = pipeline.worker(threads=2)
    try:
        await wait_for(lambda: delivered(uow, accepted.batch_id), message="delivery")
    finally:
        worker.stop()
    # Then the first succeeds on its retry, the second fails after three attempts, refunded
    assert flaky.calls == {files[0].name: 2, files[1].name: 3, files[2].name: 1}
    async with uow:
        jobs = await uow.jobs.for_batch(accepted.batch_id)
    assert [(j.status, j.attempts, j.error) for j in jobs] == [
        (JobStatus.DONE, 2, None),
        (JobStatus.FAILED, 3, "engine_unavailable"),
        (JobStatus.DONE, 1, None),
    ]
    assert (await ledger_entries(uow, account))[-1] == (LedgerReason.REFUND, 3)
    assert files[1].name in pipeline.delivery.texts[-1][1]


async def test_the_sweep_sends_again_only_what_the_broker_lost(
    pipeline_env, uow, tmp_path, redis_url, redis_namespace
):
    _, build = pipeline_env
    pipeline = build(queued_grace=timedelta(0))
    account = await new_account(uow, credits=100)
    accepted = await accept_images(uow, account, stage_images(tmp_path, 4))
    assert await submit_batch(pipeline.actors, uow, accepted)
    # Given a queue that lost two of the batch's four messages
    client = redis.Redis.from_url(redis_url)
    queue = f"{redis_namespace}:{IMAGES}"
    for message_id in client.lrange(queue, 0, 1):
        client.execute_command("LREM", queue, 0, message_id)
        client.hdel(f"{queue}.msgs", message_id)
    assert job_ids_on_queue(pipeline.broker) == frozenset(accepted.job_ids[2:])
    # When the sweep runs while the other two still wait on the queue
    sweeper = pipeline.worker(threads=1, queues={MAINTENANCE})
    try:
        pipeline.actors.sweep.send()
        pipeline.broker.join(MAINTENANCE)
    finally:
        sweeper.stop()
    # Then the lost two are back, and the waiting two are not sent twice
    assert client.llen(queue) == 4
    assert job_ids_on_queue(pipeline.broker) == frozenset(accepted.job_ids)
    worker = pipeline.worker(threads=2)
    try:
        await wait_for(lambda: delivered(uow, accepted.batch_id), message="delivery")
    finally:
        worker.stop()
    assert len(pipeline.delivery.documents) == 1


def _start_worker_process(
    settings_env: dict[str, str], log: Path, *, sized: bool = False
) -> subprocess.Popen[bytes]:
    # Dramatiq's own command, or the same through `python -m workers`, which sizes --threads
    # from the settings (WORKER_THREADS=1 here).
    dramatiq_command = ["dramatiq", "workers.main:setup", "--processes", "1", "--threads", "1"]
    command = [
        sys.executable,
        "-m",
        *(["workers"] if sized else dramatiq_command),
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
        "WORKER_THREADS": "1",
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
    second = _start_worker_process(env, log, sized=True)
    finisher = pipeline.worker(threads=1, queues={BATCHES, MAINTENANCE})
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
    ((_, data, _),) = pipeline.delivery.documents
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert len(set(archive.namelist())) == 30
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
