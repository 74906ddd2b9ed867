"""The `bgbot` command: one group, with each subcommand family in a module of its own."""

from __future__ import annotations

import click

from bot.cli.core import admin, db, quote, run
from bot.cli.models import models
from bot.cli.operators import account, key
from bot.cli.payments import payments
from bot.cli.promo import promo
from bot.cli.remove import remove


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Background Remover Pro: run the service and operate it."""


cli.add_command(db)
cli.add_command(quote)
cli.add_command(admin)
admin.add_command(promo)
admin.add_command(payments)
cli.add_command(run)
cli.add_command(models)
cli.add_command(remove)
admin.add_command(account)
admin.add_command(key)


def main() -> None:
    cli()
