"""Composition root of the bot/web process: one aiohttp application owns every resource.

Built from one settings object: the database engine, the job pipeline (its broker, and the
embedded worker when there is no Redis), the maintenance schedule, the HTTP API and the
operators' endpoints. Each resource is created and closed in the same cleanup context.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import dramatiq
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.channels import build_deliveries
from bot.http_api import PREFIX, ApiContext, build_api
from bot.observability import protect_secrets, request_ids
from bot.openapi import openapi_document
from bot.ops import OPS, HealthCheck, OpsContext, add_ops_routes
from bot.payments_web import PAYMENTS, add_payment_api_routes, add_payment_routes, build_payments
from bot.previews import Previewer
from bot.proxies import trusted_forwarding
from bot.state import SharedState, open_shared_state
from bot.whatsapp.web import add_download_route, add_whatsapp_routes
from db.engine import SessionFactory, create_engine, create_session_factory
from db.uow import UnitOfWork
from services.billing import AcceptedBatch
from services.pricing import Tier
from services.recipes.availability import download_command
from services.settings import Settings
from workers.actors import Actors
from workers.broker import queue_depth
from workers.main import (
    build_pipeline,
    compile_refinement,
    schedule_maintenance,
    start_embedded_worker,
    worker_thread_count,
)
from workers.payment_actors import payment_actors
from workers.submit import submit_batch

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", SessionFactory)
ACTORS = web.AppKey("actors", Actors)
BROKER = web.AppKey("broker", dramatiq.Broker)
STATE = web.AppKey("shared_state", SharedState)


def _database_check(app: web.Application) -> HealthCheck:
    async def check() -> str | None:
        try:
            async with app[SESSIONS]() as session:
                await session.execute(text("SELECT 1"))
        except (OSError, SQLAlchemyError) as error:
            return f"error: {type(error).__name__}"
        return None

    return check


def _redis_check(url: str) -> HealthCheck:
    async def check() -> str | None:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            await client.ping()
        except (OSError, aioredis.RedisError) as error:
            return f"error: {type(error).__name__}"
        finally:
            await client.aclose()
        return None

    return check


def _models_check(settings: Settings) -> HealthCheck:
    async def check() -> str | None:
        missing = settings.tiers_missing_models()
        return missing_models_text(missing) if missing else None

    return check


def missing_models_text(missing: dict[Tier, list[str]]) -> str:
    """Which tiers lack which model, and the command that fetches them."""
    tiers = "; ".join(f"{tier.value} needs {', '.join(names)}" for tier, names in missing.items())
    models = sorted({name for names in missing.values() for name in names})
    return f"not offered: {tiers}; run `{download_command(models)}`"


def log_missing_models(settings: Settings) -> None:
    """Say at start which tiers cannot run for want of a model, and how to fix it."""
    missing = settings.tiers_missing_models()
    if missing:
        log.warning(
            "tiers without their model in %s: %s",
            settings.resolved_models_dir,
            missing_models_text(missing),
        )


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.resolved_database_url)
    app[SESSIONS] = create_session_factory(engine)
    broker, actors = build_pipeline(settings, lambda uow: build_deliveries(settings, uow))
    app[ACTORS] = actors
    app[BROKER] = broker
    worker = None
    if not settings.redis_url:
        worker = start_embedded_worker(broker, worker_thread_count(settings))
        compile_refinement(settings)
    scheduler = schedule_maintenance(actors, settings)
    if settings.whatsapp_enabled:
        from workers.whatsapp import schedule_message_sweep

        schedule_message_sweep(scheduler, broker, settings.sweep_interval_seconds)
    scheduler.start()
    ops = app[OPS]
    ops.checks["database"] = _database_check(app)
    if settings.redis_url:
        ops.checks["redis"] = _redis_check(settings.redis_url)
    ops.checks["models"] = _models_check(settings)
    log_missing_models(settings)
    ops.queue_depth = lambda: queue_depth(broker)
    yield
    scheduler.shutdown(wait=False)
    if worker is not None:
        await asyncio.to_thread(worker.stop)
    broker.close()
    await engine.dispose()


def _forwarded(settings: Settings) -> list[Any]:
    """Believe X-Forwarded-* only from the configured proxies; without any, never."""
    if not settings.trusted_proxies:
        return []
    return [trusted_forwarding(settings.trusted_proxies)]


def build_web_app(settings: Settings) -> web.Application:
    """Build the web application of the bot process from its settings."""
    app = web.Application(middlewares=[*_forwarded(settings), request_ids])
    app[SETTINGS] = settings

    def uow() -> UnitOfWork:
        return UnitOfWork(app[SESSIONS])

    app.cleanup_ctx.append(_resources)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    add_ops_routes(app, OpsContext(uow, metrics_token=token))

    async def submit(accepted: AcceptedBatch) -> bool:
        return await submit_batch(app[ACTORS], uow(), accepted)

    async def finish(batch_id: int) -> None:
        # Sending is blocking I/O on Redis: keep it off the event loop.
        await asyncio.to_thread(app[ACTORS].finish_batch.send, batch_id)

    # One preview engine for every channel; closed after the channels that use it stop.
    previews = Previewer(settings, uow) if settings.previews_per_day else None
    if previews is not None:

        async def close_previews(app: web.Application) -> AsyncIterator[None]:
            yield
            await previews.close()

        app.cleanup_ctx.append(close_previews)

    api = ApiContext(settings, uow, submit, requests_per_minute=settings.api_requests_per_minute)

    async def shared_state(app: web.Application) -> AsyncIterator[None]:
        # What several web processes must see alike: in Redis when REDIS_URL is set.
        async with open_shared_state(settings) as state:
            app[STATE] = state
            api.rate_limit = state.api_rate_limit()
            yield

    app.cleanup_ctx.append(shared_state)
    api_app = build_api(api)
    payments = build_payments(settings)
    if payments is not None:

        async def queue_receipt(order_id: str) -> None:
            # Sending is blocking network I/O on Redis: keep it off the event loop.
            await asyncio.to_thread(payment_actors(app[BROKER]).send_receipt.send, order_id)

        async def queue_notice(notice_id: int) -> None:
            await asyncio.to_thread(payment_actors(app[BROKER]).send_notice.send, notice_id)

        add_payment_routes(app, settings, uow, payments, queue_receipt, queue_notice=queue_notice)
        add_payment_api_routes(api_app, app[PAYMENTS])
    app.add_subapp(PREFIX, api_app)
    document = openapi_document(PREFIX)

    async def openapi(request: web.Request) -> web.Response:
        """Serve the API's OpenAPI document."""
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", openapi)
    add_download_route(app, settings, uow)
    if settings.whatsapp_enabled:
        secrets = (settings.whatsapp_verify_token, settings.whatsapp_app_secret)
        protect_secrets(*(secret.get_secret_value() for secret in secrets if secret))
        from workers.whatsapp import queue_message

        add_whatsapp_routes(app, settings, uow, lambda: queue_message(app[BROKER]))
    if settings.telegram_bot_token is not None:
        from bot.telegram.application import add_telegram

        add_telegram(app, settings, uow, submit, STATE, finish=finish, previews=previews)
    return app
