"""`bgbot admin account` and `bgbot admin key`: accounts and API keys without a chat channel.

An operator with no Telegram bot or WhatsApp number still serves the HTTP API: these commands
open an account and issue its key from the shell.
"""

from __future__ import annotations

import click

from bot.cli.core import run_with_uow
from db.uow import UnitOfWork
from services.accounts import SUPPORTED_LANGUAGES, ChannelIdentity, open_account, resolve_account
from services.api_keys import issue_key, list_keys, revoke_key
from services.clock import utcnow
from services.settings import load_settings


@click.group("account")
def account() -> None:
    """Open accounts (for the HTTP API, or ahead of a person's first message)."""


@account.command("create")
@click.argument("name")
@click.option(
    "--language",
    type=click.Choice(SUPPORTED_LANGUAGES),
    default="id",
    show_default=True,
    help="the language of the account's messages",
)
@click.option("--telegram", "telegram_id", type=int, help="link the account to this Telegram id")
@click.option("--whatsapp", help="link the account to this WhatsApp number (628...)")
def account_create(name: str, language: str, telegram_id: int | None, whatsapp: str | None) -> None:
    """Open an account called NAME, with no credits, and print its id."""
    if telegram_id is not None and whatsapp:
        raise click.UsageError("give --telegram or --whatsapp, not both")
    identity = None
    if telegram_id is not None:
        identity = ChannelIdentity(telegram_id=telegram_id)
    elif whatsapp:
        parsed = ChannelIdentity.parse(f"wa:{whatsapp}")
        if not isinstance(parsed, ChannelIdentity):  # pragma: no cover -- parse's contract
            raise click.BadParameter(whatsapp, param_hint="--whatsapp")
        identity = parsed

    async def use_case(uow: UnitOfWork) -> int:
        return await open_account(
            uow, display_name=name, language=language, identity=identity, now=utcnow()
        )

    account_id = run_with_uow(load_settings(), use_case)
    # The id alone on standard output, so that scripts can capture it; the rest is for people.
    click.echo(account_id)
    click.echo(f"account {account_id} opened; next: bgbot admin key create {account_id}", err=True)


@click.group("key")
def key() -> None:
    """Issue, list and revoke an account's HTTP API keys."""


@key.command("create")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--name", default="operator", show_default=True, help="a label for the key")
def key_create(account_ref: str, name: str) -> None:
    """Issue a key for ACCOUNT and print it (it is shown once, never stored)."""

    async def use_case(uow: UnitOfWork) -> tuple[int, int, str]:
        account_id = await resolve_account(uow, account_ref)
        issued = await issue_key(uow, account_id, name, now=utcnow())
        return account_id, issued.key_id, issued.secret

    account_id, key_id, secret = run_with_uow(load_settings(), use_case)
    click.echo(secret)
    click.echo(
        f"key {key_id} of account {account_id}: keep it now, it cannot be shown again "
        f"(send it as 'Authorization: Bearer <key>')",
        err=True,
    )


@key.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
def key_list(account_ref: str) -> None:
    """Show ACCOUNT's active keys: id, prefix, label, created, last used."""

    async def use_case(uow: UnitOfWork) -> list[str]:
        account_id = await resolve_account(uow, account_ref)
        return [
            f"{info.key_id}\t{info.prefix}…\t{info.name}\t{info.created_at:%Y-%m-%d %H:%M}\t"
            + (f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never used")
            for info in await list_keys(uow, account_id)
        ]

    lines = run_with_uow(load_settings(), use_case)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("no active keys", err=True)


@key.command("revoke")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("key_id", type=int)
def key_revoke(account_ref: str, key_id: int) -> None:
    """Revoke ACCOUNT's key KEY_ID (its id from `bgbot admin key list`)."""

    async def use_case(uow: UnitOfWork) -> int:
        account_id = await resolve_account(uow, account_ref)
        await revoke_key(uow, account_id, key_id, now=utcnow())
        return account_id

    account_id = run_with_uow(load_settings(), use_case)
    click.echo(f"key {key_id} of account {account_id} revoked")
