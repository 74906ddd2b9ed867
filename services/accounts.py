"""Accounts and credit movements: registration with a welcome balance, grants, lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from db.models import Account, LedgerReason
from db.uow import UnitOfWork
from services.errors import AccountNotFound, InsufficientBalance, InvalidAmount, ServiceError

SUPPORTED_LANGUAGES = ("id", "en")


async def existing_account(uow: UnitOfWork, account_id: int) -> Account:
    """The account inside an open unit of work.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    account = await uow.accounts.get(account_id)
    if account is None:
        raise AccountNotFound(f"no account {account_id}")
    return account


def language_from_client(code: str | None) -> str:
    """Indonesian when the chat client says `id`, English otherwise."""
    return "id" if code and code.lower().split("-")[0] == "id" else "en"


@dataclass(frozen=True, slots=True)
class ChannelIdentity:
    """Who a person is on one chat channel."""

    telegram_id: int | None = None
    whatsapp_number: str | None = None

    def __post_init__(self) -> None:
        if (self.telegram_id is None) == (self.whatsapp_number is None):
            raise ValueError("give exactly one of telegram_id and whatsapp_number")

    @classmethod
    def parse(cls, text: str) -> ChannelIdentity | int:
        """Read an operator's account reference: `42`, `tg:12345` or `wa:+628123...`."""
        kind, _, value = text.partition(":")
        if not value:
            if text.isdigit():
                return int(text)
            raise ValueError(f"not an account reference: {text!r} (use ID, tg:ID or wa:NUMBER)")
        if kind == "tg" and value.isdigit():
            return cls(telegram_id=int(value))
        if kind == "wa" and value.lstrip("+").isdigit():
            return cls(whatsapp_number=value.lstrip("+"))
        raise ValueError(f"not an account reference: {text!r} (use ID, tg:ID or wa:NUMBER)")


async def _find(uow: UnitOfWork, identity: ChannelIdentity) -> Account | None:
    if identity.telegram_id is not None:
        return await uow.accounts.by_telegram_id(identity.telegram_id)
    assert identity.whatsapp_number is not None
    return await uow.accounts.by_whatsapp_number(identity.whatsapp_number)


async def _register(
    uow: UnitOfWork,
    identity: ChannelIdentity,
    *,
    language: str,
    display_name: str,
    welcome_credits: int,
    now: datetime,
) -> Account:
    account = await uow.accounts.add(
        Account(
            telegram_id=identity.telegram_id,
            whatsapp_number=identity.whatsapp_number,
            language=language if language in SUPPORTED_LANGUAGES else "en",
            display_name=display_name[:128],
            balance=0,
            output_options={},
            created_at=now,
        )
    )
    if welcome_credits:
        await uow.ledger.apply(
            account_id=account.id,
            delta=welcome_credits,
            reason=LedgerReason.WELCOME,
            reference=f"account:{account.id}",
            idempotency_key=f"welcome:{account.id}",
            now=now,
        )
    return account


@dataclass(frozen=True, slots=True)
class Registration:
    account: Account
    created: bool


async def get_or_register(
    uow: UnitOfWork,
    identity: ChannelIdentity,
    *,
    language: str,
    display_name: str,
    welcome_credits: int,
    now: datetime,
) -> Registration:
    """Return the person's account, creating it with the welcome balance on first contact."""
    async with uow:
        existing = await _find(uow, identity)
        if existing is not None:
            return Registration(existing, created=False)
        try:
            account = await _register(
                uow,
                identity,
                language=language,
                display_name=display_name,
                welcome_credits=welcome_credits,
                now=now,
            )
            await uow.commit()
        except IntegrityError:
            # Two first messages of the same person raced; the other one registered them.
            pass
        else:
            return Registration(account, created=True)
    async with uow:
        raced = await _find(uow, identity)
        if raced is None:
            raise AccountNotFound("registration failed and no account exists")
        return Registration(raced, created=False)


async def resolve_account(uow: UnitOfWork, reference: str) -> int:
    """Return the account id an operator's reference (`42`, `tg:ID`, `wa:NUMBER`) names.

    Raises:
        AccountNotFound: when no account matches.
        ValueError: when the reference is malformed.
    """
    parsed = ChannelIdentity.parse(reference)
    async with uow:
        if isinstance(parsed, int):
            account = await uow.accounts.get(parsed)
        else:
            account = await _find(uow, parsed)
    if account is None:
        raise AccountNotFound(f"no account {reference}")
    return account.id


async def grant_credits(
    uow: UnitOfWork,
    account_id: int,
    credits: int,
    *,
    reference: str,
    idempotency_key: str,
    now: datetime,
) -> int:
    """Add (or, negative, remove) credits by operator decision; return the new balance.

    Raises:
        AccountNotFound: when the account does not exist.
        InsufficientBalance: when a removal would take the balance below zero.
        InvalidAmount: for a grant of zero.
    """
    if credits == 0:
        raise InvalidAmount("a grant moves at least one credit")
    async with uow:
        account = await existing_account(uow, account_id)
        if await uow.ledger.has_key(idempotency_key):
            return account.balance
        entry = await uow.ledger.apply(
            account_id=account_id,
            delta=credits,
            reason=LedgerReason.GRANT,
            reference=reference,
            idempotency_key=idempotency_key,
            now=now,
        )
        if entry is None:
            raise InsufficientBalance(f"account {account_id} has only {account.balance} credits")
        await uow.commit()
        return entry.balance_after


async def set_language(uow: UnitOfWork, account_id: int, language: str) -> None:
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(f"language must be one of {SUPPORTED_LANGUAGES}")
    async with uow:
        account = await existing_account(uow, account_id)
        account.language = language
        await uow.commit()


async def set_output_options(
    uow: UnitOfWork, account_id: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Store the account's output options (already validated by the caller); return them.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        account = await existing_account(uow, account_id)
        account.output_options = dict(options)
        await uow.commit()
        return dict(account.output_options)


async def get_output_options(uow: UnitOfWork, account_id: int) -> dict[str, Any]:
    """Return the account's stored output options.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        account = await existing_account(uow, account_id)
        return dict(account.output_options)


async def balance_of(uow: UnitOfWork, account_id: int) -> int:
    """Return the account's credit balance.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        account = await existing_account(uow, account_id)
        return account.balance


class AccountExists(ServiceError):
    code = "account_exists"


async def open_account(
    uow: UnitOfWork,
    *,
    display_name: str,
    language: str,
    identity: ChannelIdentity | None = None,
    now: datetime,
) -> int:
    """Create an account by operator decision, with no balance; return its id.

    An account with no channel identity serves the HTTP API alone; one given a Telegram id or
    a WhatsApp number is the account that person finds when they first write.

    Raises:
        AccountExists: when the channel identity already has an account.
        ValueError: for a language the service does not speak.
    """
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(SUPPORTED_LANGUAGES)}")
    async with uow:
        if identity is not None and (existing := await _find(uow, identity)) is not None:
            raise AccountExists(f"that identity already has account {existing.id}")
        try:
            account = await uow.accounts.add(
                Account(
                    telegram_id=identity.telegram_id if identity else None,
                    whatsapp_number=identity.whatsapp_number if identity else None,
                    language=language,
                    display_name=display_name[:128],
                    balance=0,
                    output_options={},
                    created_at=now,
                )
            )
            await uow.commit()
        except IntegrityError as error:
            # The person wrote to the bot in the same instant and registered themselves.
            raise AccountExists("that identity already has an account") from error
        return account.id
