"""Composition root of the bot/web process: one aiohttp application owns every resource.

Built from one settings object: the database engine, the job pipeline (its broker, and the
embedded worker when there is no Redis), the maintenance schedule, the HTTP API and the
operators' endpoints. Each resource is created and closed in the same cleanup context.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.channels import build_deliveries
from bot.http_api import PREFIX, ApiContext, build_api
from bot.observability import request_ids
from bot.openapi import openapi_document
from bot.ops import OPS, HealthCheck, OpsContext, add_ops_routes
from bot.whatsapp.web import add_download_route, add_whatsapp_routes
from db.engine import SessionFactory, create_engine, create_session_factory
from db.uow import UnitOfWork
from services.billing import AcceptedBatch
from services.pricing import Tier
from services.recipes.availability import download_command
from services.settings import Settings
from workers.actors import Actors
from workers.broker import queue_depth
from workers.main import build_pipeline, schedule_maintenance, start_embedded_worker
from workers.submit import submit_batch

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", SessionFactory)
ACTORS = web.AppKey("actors", Actors)


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
    worker = None if settings.redis_url else start_embedded_worker(broker, settings.worker_threads)
    scheduler = schedule_maintenance(actors, settings)
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


def build_web_app(settings: Settings) -> web.Application:
    """Build the web application of the bot process from its settings."""
    app = web.Application(middlewares=[request_ids])
    app[SETTINGS] = settings

    def uow() -> UnitOfWork:
        return UnitOfWork(app[SESSIONS])

    app.cleanup_ctx.append(_resources)
    add_ops_routes(app, OpsContext(uow))

    async def submit(accepted: AcceptedBatch) -> bool:
        return await submit_batch(app[ACTORS], uow(), accepted)

    app.add_subapp(
        PREFIX,
        build_api(
            ApiContext(settings, uow, submit, requests_per_minute=settings.api_requests_per_minute)
        ),
    )
    document = openapi_document(PREFIX)

    async def openapi(request: web.Request) -> web.Response:
        """Serve the API's OpenAPI document."""
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", openapi)
    add_download_route(app, settings, uow)
    if settings.whatsapp_enabled:
        add_whatsapp_routes(app, settings, uow, submit)
    if settings.telegram_bot_token is not None:
        from bot.telegram.application import add_telegram

        add_telegram(app, settings, uow, submit)
    return app
