"""Personal API keys: issued in chat, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

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


# Callback signing secrets. Each account has its own, derived from a random nonce stored on
# the account and a server-side key kept outside the database (CALLBACK_SIGNING_KEY, or a key
# file under DATA_DIR): a database dump alone can neither read nor forge a secret. Rotating
# draws a new nonce, so the old secret stops signing at once.
CALLBACK_SECRET_PREFIX = "whsec_"
KEY_FILE = "callback-signing.key"


def callback_signing_key(configured: str | None, data_dir: Path) -> bytes:
    """The server-side key: CALLBACK_SIGNING_KEY, else a random one kept in DATA_DIR.

    The file is made once, readable by its owner only; every process sharing DATA_DIR (the
    web process and the workers) reads the same one.
    """
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: a process starting at the
        # same moment sees either no key file or a complete one, and one key wins.
        draft = path.with_name(f"{KEY_FILE}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as sink:
            sink.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first; its key is the one
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


def derive_callback_secret(server_key: bytes, account_id: int, nonce: str) -> str:
    """The account's callback signing secret for its current nonce."""
    message = f"callback-secret:{account_id}:{nonce}".encode()
    digest = hmac.new(server_key, message, hashlib.sha256).digest()
    return CALLBACK_SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def ensure_callback_secret(
    uow: UnitOfWork, account_id: int, server_key: bytes, *, now: datetime
) -> str | None:
    """Give the account a callback secret if it has none; return it only when new.

    A secret is shown once: the first request that needs one gets it.
    """
    nonce = secrets.token_hex(16)
    async with uow:
        if not await uow.api_keys.set_callback_nonce(account_id, nonce, only_if_unset=True):
            return None
        await uow.commit()
    return derive_callback_secret(server_key, account_id, nonce)


class CallbackSecretChanged(ServiceError):
    """The secret was replaced since the person was asked (a second tap, another device)."""

    code = "callback_secret_changed"


def _version_of(nonce: str | None) -> str:
    if nonce is None:
        return "none"
    return hashlib.sha256(nonce.encode()).hexdigest()[:12]


async def callback_secret_version(uow: UnitOfWork, account_id: int) -> str:
    """A short tag of the account's current secret: it names, never reveals, the secret, so a
    confirmation can say which secret it replaces."""
    async with uow:
        account = await uow.accounts.get(account_id)
    return _version_of(account.callback_secret_nonce if account is not None else None)


async def rotate_callback_secret(
    uow: UnitOfWork,
    account_id: int,
    server_key: bytes,
    *,
    now: datetime,
    replacing: str | None = None,
) -> str:
    """Replace the account's callback secret and return the new one, shown once.

    Args:
        replacing: the `callback_secret_version` the person confirmed; when given, the secret
            is replaced only if it is still that one, so a double tap rotates once.

    Raises:
        CallbackSecretChanged: `replacing` no longer names the current secret.
    """
    nonce = secrets.token_hex(16)
    async with uow:
        if replacing is None:
            await uow.api_keys.set_callback_nonce(account_id, nonce, only_if_unset=False)
        else:
            account = await uow.accounts.get(account_id)
            current = account.callback_secret_nonce if account is not None else None
            if _version_of(current) != replacing or not await uow.api_keys.replace_callback_nonce(
                account_id, current, nonce
            ):
                raise CallbackSecretChanged("the callback secret was replaced meanwhile")
        await uow.commit()
    return derive_callback_secret(server_key, account_id, nonce)


async def callback_secret(uow: UnitOfWork, account_id: int, server_key: bytes) -> str | None:
    """The account's current callback secret, for signing; None when it has none."""
    async with uow:
        account = await uow.accounts.get(account_id)
    if account is None or account.callback_secret_nonce is None:
        return None
    return derive_callback_secret(server_key, account_id, account.callback_secret_nonce)
