"""How many images a worker process works on at once, and on which pool."""

import threading
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from services.pipeline import JobWork
from services.pricing import Tier
from services.settings import Settings
from workers.__main__ import command_line
from workers.actors import PipelineConfig, Runtime, declare_actors
from workers.broker import WHATSAPP_THREADS, build_broker, job_ids_on_queue
from workers.delivery import Chat
from workers.main import pipeline_config, remote_tiers, worker_thread_count


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, worker_threads=2, remote_worker_threads=16, **values)  # type: ignore[arg-type]


def test_local_models_only_use_one_thread_per_image_slot_of_the_cpu_pool() -> None:
    local = settings()
    assert remote_tiers(local) == frozenset()
    assert worker_thread_count(local) == 2


def test_a_tier_on_a_remote_engine_adds_the_remote_pool() -> None:
    remote = settings(
        engine_professional="huggingface:briaai/RMBG-2.0",
        huggingface_api_key=SecretStr("key"),
    )
    # The key also sends basic and standard to their RMBG models (the default ladder).
    assert remote_tiers(remote) == {Tier.BASIC, Tier.STANDARD, Tier.PROFESSIONAL}
    local_basic = settings(
        engine_basic="isnet-general-use",
        engine_standard="isnet-general-use",
        engine_professional="huggingface:briaai/RMBG-2.0",
        huggingface_api_key=SecretStr("key"),
    )
    assert remote_tiers(local_basic) == {Tier.PROFESSIONAL}
    assert worker_thread_count(remote) == 2 + 16
    assert pipeline_config(remote).remote_threads == 16


def test_a_remote_engine_without_its_key_runs_locally_and_needs_no_remote_threads() -> None:
    fallback = settings(engine_industry="segmind:bria-remove-background")
    assert remote_tiers(fallback) == frozenset()
    assert worker_thread_count(fallback) == 2


def test_the_default_local_pool_follows_the_cpu_count(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    defaults = Settings(_env_file=None)
    assert (defaults.worker_threads, defaults.remote_worker_threads) == (6, 48)


def test_options_given_by_hand_override_the_sized_command() -> None:
    argv = command_line(18, ["--processes", "2", "--threads", "4"])
    assert argv[:6] == ["dramatiq", "workers.main:setup", "--processes", "1", "--threads", "18"]
    assert argv[-4:] == ["--processes", "2", "--threads", "4"]


async def test_remote_tiers_run_on_the_remote_pool_and_others_on_the_cpu_pool(
    tmp_path: Path,
) -> None:
    seen: dict[Tier, str] = {}

    def cutter(work: JobWork, source: Path, results_dir: Path) -> Path:
        seen[work.tier] = threading.current_thread().name
        return source

    config = PipelineConfig(
        data_dir=tmp_path,
        database_url="sqlite+aiosqlite://",
        local_threads=1,
        remote_threads=3,
        remote_tiers=frozenset({Tier.PROFESSIONAL}),
    )
    runtime = Runtime(config, cutter=cutter, packager=lambda outcome, data_dir: [], channels={})
    try:
        for tier in (Tier.BASIC, Tier.PROFESSIONAL):
            work = JobWork(1, 1, 0, "a.jpg", "inbox/a.jpg", tier, {}, 1, priority=False)
            await runtime.cut_out(work, tmp_path / "a.jpg", tmp_path)
    finally:
        runtime.stop_pools()
    assert seen[Tier.BASIC].startswith("cutout")
    assert seen[Tier.PROFESSIONAL].startswith("remote")
    assert config.message_threads == 4


def test_the_embedded_queue_says_which_jobs_it_holds(tmp_path: Path) -> None:
    broker = build_broker(None)
    runtime = Runtime(
        PipelineConfig(data_dir=tmp_path, database_url="sqlite+aiosqlite://"),
        cutter=lambda work, source, results_dir: source,
        packager=lambda outcome, data_dir: [],
        channels={},
    )
    actors = declare_actors(broker, runtime)
    actors.enqueue_jobs([7, 8], priority=False)
    actors.enqueue_jobs([9], priority=True)
    actors.finish_batch.send(7)  # a batch id, not a job: not an image message
    assert job_ids_on_queue(broker) == frozenset({7, 8, 9})


class ClientHoldingChannel:
    """A channel with a network client: it must be closed when the worker stops."""

    progress_interval = timedelta(seconds=1)

    def __init__(self) -> None:
        self.closed = False

    async def send_text(self, chat: Chat, message: str) -> None:
        raise AssertionError("nothing is sent")

    async def edit_status(self, chat: Chat, message: str) -> None:
        raise AssertionError("nothing is sent")

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None:
        raise AssertionError("nothing is sent")

    async def close(self) -> None:
        self.closed = True


async def test_stopping_the_runtime_closes_the_channels_clients(tmp_path: Path) -> None:
    channel = ClientHoldingChannel()
    runtime = Runtime(
        PipelineConfig(data_dir=tmp_path, database_url="sqlite+aiosqlite://"),
        cutter=lambda work, source, results_dir: source,
        packager=lambda outcome, data_dir: [],
        channels={"telegram": channel},
    )
    await runtime.close()
    assert channel.closed


def test_with_whatsapp_workers_get_threads_for_its_message_jobs_beside_the_engines() -> None:
    whatsapp = settings(
        whatsapp_access_token="token",
        whatsapp_phone_number_id="1",
        whatsapp_app_secret="secret",
        whatsapp_verify_token="verify",
    )

    assert worker_thread_count(whatsapp) == 2 + WHATSAPP_THREADS
