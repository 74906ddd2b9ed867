"""Composition root of the bot/web process: one aiohttp application owns every resource."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from db.engine import SessionFactory, create_engine, create_session_factory
from services.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", SessionFactory)


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].resolved_database_url)
    app[SESSIONS] = create_session_factory(engine)
    yield
    await engine.dispose()


async def healthz(request: web.Request) -> web.Response:
    """Report whether the database answers."""
    checks: dict[str, str] = {}
    try:
        async with request.app[SESSIONS]() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except (OSError, SQLAlchemyError) as error:
        checks["database"] = f"error: {type(error).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status=200 if healthy else 503,
    )


def build_web_app(settings: Settings) -> web.Application:
    """Build the web application of the bot process from its settings."""
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_database)
    app.router.add_get("/healthz", healthz)
    return app
