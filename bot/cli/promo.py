"""`bgbot admin promo create`: promo codes from the command line."""

from __future__ import annotations

import getpass
from datetime import timedelta

import click

from bot.cli.core import run_with_uow
from db.uow import UnitOfWork
from services.clock import utcnow
from services.promos import PromoView, create_promo
from services.settings import load_settings


@click.group()
def promo() -> None:
    """Promo codes that people redeem with /promo CODE (WhatsApp: promo CODE)."""


@promo.command("create")
@click.argument("code")
@click.option("--credits", type=click.IntRange(1), required=True, help="credits per redemption")
@click.option("--uses", type=click.IntRange(1), required=True, help="people who may redeem it")
@click.option("--days", type=click.IntRange(1, 3660), default=30, show_default=True)
def promo_create(code: str, credits: int, uses: int, days: int) -> None:
    """Create CODE (3-32 letters, digits, _ or -; case does not matter)."""

    async def use_case(uow: UnitOfWork) -> PromoView:
        return await create_promo(
            uow,
            code,
            credits=credits,
            uses=uses,
            valid_for=timedelta(days=days),
            created_by=f"cli:{getpass.getuser()}",
            now=utcnow(),
        )

    created = run_with_uow(load_settings(), use_case)
    click.echo(
        f"promo {created.code}: {created.credits} credits, {created.max_uses} uses, "
        f"until {created.expires_at:%Y-%m-%d %H:%M} UTC"
    )
