"""Operator commands over the account store: schema, quotes, grants and plans."""

from __future__ import annotations

import click

from services.pricing import MAX_BATCH_IMAGES, Tier, batch_price


@click.group()
def db() -> None:
    """Manage the database schema."""


@click.command()
@click.option("--tier", type=click.Choice([t.value for t in Tier]), required=True)
@click.option("--count", type=click.IntRange(1, MAX_BATCH_IMAGES), required=True)
def quote(tier: str, count: int) -> None:
    """Print the price of a batch for a new account."""
    price = batch_price(Tier(tier), count)
    click.echo(f"images: {price.image_count}")
    click.echo(f"total credits: {price.credits}")


@click.group()
def admin() -> None:
    """Operator actions on accounts."""
