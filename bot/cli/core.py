"""Operator commands over the account store: schema, quotes, grants and plans."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from db.engine import create_engine, create_session_factory
from db.migrate import upgrade
from db.uow import UnitOfWork
from services.accounts import grant_credits, resolve_account
from services.clock import utcnow
from services.errors import ServiceError
from services.plans import PLANS
from services.pricing import MAX_BATCH_IMAGES, Tier, batch_price
from services.settings import Settings, load_settings
from services.subscriptions import subscribe

T = TypeVar("T")


def run_with_uow(settings: Settings, use_case: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(settings.resolved_database_url)
        try:
            return await use_case(UnitOfWork(create_session_factory(engine)))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (ServiceError, ValueError) as error:
        raise click.ClickException(str(error)) from error


@click.command()
def run() -> None:
    """Migrate the database, then serve until interrupted."""
    from aiohttp import web

    from bot.app import build_web_app
    from bot.observability import RequestAccessLogger, configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    upgrade(settings.resolved_database_url)
    web.run_app(
        build_web_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        access_log_class=RequestAccessLogger,
        # aiohttp prints a framed banner over two lines; one log record keeps the format.
        print=lambda banner: logging.getLogger("bot.app").info(
            "%s", banner.splitlines()[0].strip("= ")
        ),
    )


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create the schema, or migrate it to the newest revision."""
    settings = load_settings()
    upgrade(settings.resolved_database_url, revision)
    click.echo(f"database at revision {revision}")


@click.command()
@click.option("--tier", type=click.Choice([t.value for t in Tier]), required=True)
@click.option("--count", type=click.IntRange(1, MAX_BATCH_IMAGES), required=True)
def quote(tier: str, count: int) -> None:
    """Print the price of a batch for a new account."""
    price = batch_price(Tier(tier), count)
    credit_price_rp = load_settings().credit_price_rp
    click.echo(f"tier: {price.tier.value} ({price.tier.credits_per_image} credits per image)")
    click.echo(f"images: {price.image_count}")
    click.echo(f"before discount: {price.gross_credits} credits")
    click.echo(f"volume discount: {price.discount_percent}% (saves {price.saved_credits} credits)")
    click.echo(f"total credits: {price.credits}")
    click.echo(f"total rupiah: Rp {price.credits * credit_price_rp:,}")


@click.group()
def admin() -> None:
    """Operator actions on accounts (ACCOUNT is an id, tg:TELEGRAM_ID or wa:NUMBER)."""


# A negative amount (`grant 1 -30`) would otherwise be read as an unknown option `-3`.
@admin.command("grant", context_settings={"ignore_unknown_options": True})
@click.argument("account")
@click.argument("credits", type=int)
@click.option("--reason", default="operator grant", show_default=True)
def admin_grant(account: str, credits: int, reason: str) -> None:
    """Add CREDITS to ACCOUNT (negative to take them away)."""

    async def use_case(uow: UnitOfWork) -> tuple[int, int]:
        account_id = await resolve_account(uow, account)
        now = utcnow()
        balance = await grant_credits(
            uow,
            account_id,
            credits,
            reference=f"cli:{reason}"[:128],
            idempotency_key=f"grant:cli:{account_id}:{now.isoformat()}",
            now=now,
        )
        return account_id, balance

    account_id, balance = run_with_uow(load_settings(), use_case)
    click.echo(f"account {account_id}: balance {balance} credits")


@admin.command("plan")
@click.argument("account")
@click.argument("plan", type=click.Choice([plan.value for plan in PLANS]))
@click.argument("days", type=click.IntRange(1, 3660))
def admin_plan(account: str, plan: str, days: int) -> None:
    """Give ACCOUNT the PLAN for DAYS days (extends the same plan, replaces another)."""

    async def use_case(uow: UnitOfWork) -> str:
        account_id = await resolve_account(uow, account)
        status = await subscribe(
            uow, account_id, plan, days, source="admin", auto_renew=False, now=utcnow()
        )
        return (
            f"account {account_id}: {status.plan.code} until {status.period_end:%Y-%m-%d %H:%M} UTC"
        )

    click.echo(run_with_uow(load_settings(), use_case))
