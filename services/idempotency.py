"""Idempotency keys of the HTTP API, as integrators know them from Stripe.

A request sent with `Idempotency-Key` is recorded before it does anything. The same key with
the same request within 24 hours gets the first answer back and moves no money; the same key
with another request is refused; a duplicate that arrives while the first still runs waits
for it. A first request that fails before anything is charged leaves no record, so it can be
sent again (for example after a top-up).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db.models import IdempotencyRecord
from db.uow import UnitOfWork
from services.errors import ServiceError

RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Printable ASCII without spaces: what Stripe's clients send (UUIDs, order numbers).
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")

STARTED = "started"
COMPLETED = "completed"


class InvalidIdempotencyKey(ServiceError):
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(ServiceError):
    """The key was used before for another request."""

    code = "idempotency_key_reused"


class IdempotencyKeyInUse(ServiceError):
    """The first request with this key is still running."""

    code = "idempotency_key_in_use"


def checked_key(key: str) -> str:
    """Return the key when it is 1 to 255 printable characters.

    Raises:
        InvalidIdempotencyKey: for an empty, over-long or unprintable key.
    """
    if not _KEY.fullmatch(key):
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


def fingerprint(route: str, parts: Iterable[bytes | str]) -> str:
    """A hash of what a request asks for; parts are hashed with their lengths, so none blur."""
    digest = hashlib.sha256(route.encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class FirstAnswer:
    """What the first request with a key did: still running, or its answer."""

    completed: bool
    status: int | None
    body: dict[str, Any] | None
    batch_id: int | None


async def claim(
    uow: UnitOfWork,
    account_id: int,
    key: str,
    *,
    route: str,
    request_fingerprint: str,
    now: datetime,
) -> FirstAnswer | None:
    """Record the key for this request; None when this request is the first and must run.

    Raises:
        IdempotencyKeyReused: the key came before with another request.
    """
    async with uow:
        await uow.idempotency.forget_older(account_id, key, now - RETENTION)
        if await uow.idempotency.insert(
            account_id=account_id,
            key=key,
            route=route,
            fingerprint=request_fingerprint,
            now=now,
        ):
            await uow.commit()
            return None
        record = await uow.idempotency.get(account_id, key)
        first = await _first_answer(uow, record) if record is not None else None
        await uow.commit()
    if record is None:
        # Released between the insert and the read: try again as the first.
        return await claim(
            uow, account_id, key, route=route, request_fingerprint=request_fingerprint, now=now
        )
    if record.route != route or record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for another request; use a new key"
        )
    return first


async def _first_answer(uow: UnitOfWork, record: IdempotencyRecord) -> FirstAnswer:
    batch_id = record.batch_id
    if batch_id is None and record.quote_id is not None:
        # The first request charged its quote and stopped before it recorded the batch.
        batch_id = await uow.idempotency.batch_of_quote(record.quote_id)
    return FirstAnswer(
        completed=record.state == COMPLETED,
        status=record.response_status,
        body=record.response_body,
        batch_id=batch_id,
    )


async def first_answer(uow: UnitOfWork, account_id: int, key: str) -> FirstAnswer | None:
    """Read what the first request with `key` did; None once it was released."""
    async with uow:
        record = await uow.idempotency.get(account_id, key)
        return await _first_answer(uow, record) if record is not None else None


async def bind_quote(uow: UnitOfWork, account_id: int, key: str, quote_id: str) -> None:
    """Tie the key to the quote about to be charged, before the charge."""
    async with uow:
        await uow.idempotency.update(account_id, key, quote_id=quote_id)
        await uow.commit()


async def complete(
    uow: UnitOfWork,
    account_id: int,
    key: str,
    *,
    status: int,
    body: dict[str, Any],
    batch_id: int | None = None,
    now: datetime,
) -> None:
    """Record the first request's answer, which every repeat gets back."""
    async with uow:
        await uow.idempotency.update(
            account_id,
            key,
            state=COMPLETED,
            response_status=status,
            response_body=body,
            batch_id=batch_id,
            completed_at=now,
        )
        await uow.commit()


async def release(uow: UnitOfWork, account_id: int, key: str) -> None:
    """Forget a key whose first request failed before it charged anything."""
    async with uow:
        await uow.idempotency.delete_started(account_id, key)
        await uow.commit()


async def purge_idempotency_records(uow: UnitOfWork, *, now: datetime) -> int:
    """Delete records past the 24 hours a key is kept."""
    async with uow:
        deleted = await uow.idempotency.delete_before(now - RETENTION)
        await uow.commit()
    return deleted
