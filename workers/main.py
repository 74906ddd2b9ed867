"""Composition root of worker processes, and the embedded worker of a one-process install.

Scale-out workers start with Dramatiq's own command, which calls `setup` to build the broker and
declare the actors in each worker process:

    dramatiq workers.main:setup --processes 1 --threads 2

`python -m workers` runs that command with `--threads` sized from the settings (see
`worker_thread_count`); one process per machine keeps one copy of each model in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

import dramatiq
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.exceptions import ConnectionError as RedisConnectionError

from db.uow import UnitOfWork
from services.pricing import Tier
from services.recipes.warm import compile_refinement_in_background
from services.settings import Settings, load_settings
from workers.actors import Actors, CloseRuntime, PipelineConfig, Runtime, declare_actors
from workers.broker import WHATSAPP_THREADS, build_broker
from workers.delivery import Delivery
from workers.payment_actors import declare_payment_actors, payment_actors

log = logging.getLogger(__name__)


def remote_tiers(settings: Settings) -> frozenset[Tier]:
    """The tiers a remote engine serves: a `provider:model` engine whose API key is set."""
    keys = {"huggingface": settings.huggingface_api_key, "segmind": settings.segmind_api_key}
    return frozenset(
        tier for tier in Tier if keys.get(settings.engine_for(tier).partition(":")[0]) is not None
    )


def pipeline_config(settings: Settings) -> PipelineConfig:
    return PipelineConfig(
        data_dir=settings.data_dir,
        database_url=settings.resolved_database_url,
        stale_after=timedelta(seconds=settings.job_stale_after_seconds),
        queued_grace=timedelta(seconds=settings.queued_grace_seconds),
        retention=timedelta(days=settings.retention_days),
        local_threads=settings.worker_threads,
        remote_threads=settings.remote_worker_threads,
        remote_tiers=remote_tiers(settings),
        min_backoff_ms=settings.retry_min_backoff_ms,
        max_backoff_ms=settings.retry_max_backoff_ms,
        callback_schedule=settings.callback_retry_schedule_seconds,
        callback_threads=settings.callback_threads,
        callback_signing_key=(
            settings.callback_signing_key.get_secret_value()
            if settings.callback_signing_key is not None
            else None
        ),
    )


ChannelFactory = Callable[[Callable[[], UnitOfWork]], Mapping[str, Delivery]]


def build_pipeline(settings: Settings, channels: ChannelFactory) -> tuple[dramatiq.Broker, Actors]:
    """Build the broker and declare the actors for this process.

    `channels` builds the deliveries from the workers' own database access, which lives on
    the workers' event loop.
    """
    from workers.cutout import cut_out_job, package_batch

    broker = build_broker(
        settings.redis_url,
        namespace=settings.redis_namespace,
        heartbeat_timeout_ms=settings.redis_heartbeat_timeout_ms,
    )
    runtime = Runtime(
        pipeline_config(settings),
        cutter=cut_out_job(settings),
        packager=package_batch(settings),
        channels={},
    )
    runtime.channels = dict(channels(runtime.uow))
    actors = declare_actors(broker, runtime)
    declare_payment_actors(broker, runtime, settings)
    if settings.whatsapp_enabled:
        from workers.whatsapp import declare_whatsapp_jobs

        declare_whatsapp_jobs(broker, settings, runtime.uow, actors)
    return broker, actors


def setup() -> None:
    """Entry point for `dramatiq workers.main:setup`: the worker process's composition root."""
    from bot.channels import build_deliveries
    from bot.observability import configure_logging

    settings = load_settings()
    # Dramatiq's command has pointed stderr at its log pipe by now; one line per record.
    configure_logging(settings.log_level, settings.log_format)
    build_pipeline(settings, lambda uow: build_deliveries(settings, uow))
    compile_refinement(settings)


def compile_refinement(settings: Settings) -> None:
    """Compile the configured recipes' refinement code now, not in the first paying job."""
    plans = settings.tier_plans().values()
    compile_refinement_in_background(r for plan in plans for r in (plan.recipe, plan.fallback))


def worker_thread_count(settings: Settings) -> int:
    """Dramatiq threads per worker process: one per image the engine pools can work on at once,
    and with WhatsApp a few more for its message jobs, which mostly wait on the network."""
    extra = WHATSAPP_THREADS if settings.whatsapp_enabled else 0
    return pipeline_config(settings).message_threads + extra


def start_embedded_worker(broker: dramatiq.Broker, threads: int) -> dramatiq.Worker:
    """Serve the in-process queue from this process, for installs without Redis.

    `threads` is a floor: the pools of the runtime declared on `broker` get a thread each.
    """
    for middleware in broker.middleware:
        if isinstance(middleware, CloseRuntime):
            threads = max(threads, middleware.runtime.config.message_threads)
    # The in-memory queue costs nothing to poll; a short poll lets the process stop at once
    # instead of waiting out Dramatiq's default second per idle thread.
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker


def schedule_maintenance(actors: Actors, settings: Settings) -> AsyncIOScheduler:
    """Send the sweep and the clean-up on a schedule; the caller starts and stops it."""

    def send(actor: dramatiq.Actor[[], None]) -> None:
        try:
            actor.send()
        except (RedisConnectionError, dramatiq.errors.BrokerConnectionError) as error:
            # The next tick tries again; the sweep exists for exactly this outage.
            log.warning("could not schedule %s: %s", actor.actor_name, error)

    scheduler = AsyncIOScheduler(timezone=settings.zone)
    scheduler.add_job(
        send, "interval", args=[actors.sweep], seconds=settings.sweep_interval_seconds
    )
    scheduler.add_job(
        send, "interval", args=[actors.clean_up], seconds=settings.cleanup_interval_seconds
    )
    # Reminders always; with a payment gateway also renewal links and lost receipts.
    upkeep = payment_actors(actors.sweep.broker).upkeep
    scheduler.add_job(send, "interval", args=[upkeep], seconds=5 * settings.sweep_interval_seconds)
    return scheduler
