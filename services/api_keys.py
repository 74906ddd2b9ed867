"""Personal API keys: issued in chat, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from db.models import ApiKey
from db.uow import UnitOfWork
from services.errors import ServiceError

KEY_PREFIX = "brp_"
MAX_KEYS_PER_ACCOUNT = 5
LAST_USED_PRECISION = timedelta(minutes=1)


class InvalidApiKey(ServiceError):
    code = "invalid_api_key"


class TooManyApiKeys(ServiceError):
    code = "too_many_api_keys"


class ApiKeyNotFound(ServiceError):
    code = "api_key_not_found"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: int
    secret: str  # shown to the person once, never stored


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: int
    prefix: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


async def issue_key(uow: UnitOfWork, account_id: int, name: str, *, now: datetime) -> IssuedKey:
    """Create a key for the account and return its secret, which is not kept.

    Raises:
        TooManyApiKeys: when the account already has the most keys allowed.
    """
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    async with uow:
        if len(await uow.api_keys.for_account(account_id)) >= MAX_KEYS_PER_ACCOUNT:
            raise TooManyApiKeys(f"at most {MAX_KEYS_PER_ACCOUNT} keys; revoke one first")
        key = await uow.api_keys.add(
            ApiKey(
                account_id=account_id,
                prefix=secret[: len(KEY_PREFIX) + 6],
                key_hash=_hash(secret),
                name=name[:64],
                created_at=now,
            )
        )
        await uow.commit()
    return IssuedKey(key.id, secret)


async def list_keys(uow: UnitOfWork, account_id: int) -> list[KeyInfo]:
    async with uow:
        keys = await uow.api_keys.for_account(account_id)
    return [KeyInfo(k.id, k.prefix, k.name, k.created_at, k.last_used_at) for k in keys]


async def revoke_key(uow: UnitOfWork, account_id: int, key_id: int, *, now: datetime) -> None:
    """Revoke one of the account's keys.

    Raises:
        ApiKeyNotFound: when the account has no such active key.
    """
    async with uow:
        for key in await uow.api_keys.for_account(account_id):
            if key.id == key_id:
                key.revoked_at = now
                await uow.commit()
                return
    raise ApiKeyNotFound(f"no active key {key_id}")


async def authenticate(uow: UnitOfWork, secret: str, *, now: datetime) -> int:
    """Return the account id a key belongs to.

    Raises:
        InvalidApiKey: for an unknown or revoked key.
    """
    if not secret.startswith(KEY_PREFIX):
        raise InvalidApiKey("unknown key")
    async with uow:
        key = await uow.api_keys.by_hash(_hash(secret))
        if key is None:
            raise InvalidApiKey("unknown key")
        # Recording every request would make each read a write; a minute's precision will do.
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            key.last_used_at = now
            await uow.commit()
        return key.account_id
