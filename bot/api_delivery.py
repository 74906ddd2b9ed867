"""The HTTP API as a channel: results stay downloadable, and a finished batch calls back.

Any batch may carry a callback URL, called once its results are recorded, with a JSON body
signed as `X-Signature-256: sha256=HMAC-SHA256(key=the account's callback secret, body)`.
Each attempt is one short POST, without redirects, to an address checked as public at the
moment of the call; the retry schedule lives in the callbacks actor, off the image workers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Callable, Collection
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from db.uow import UnitOfWork
from services.callback_urls import UnsafeCallbackUrl, check_callback_url, resolve_public
from services.callbacks import CallbackAttempt
from workers.delivery import Chat

log = logging.getLogger(__name__)


def sign_body(secret: str, body: bytes) -> str:
    """The signature header's value for a callback body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PublicOnlyResolver(AbstractResolver):
    """Resolve a callback's host and hand aiohttp only addresses just checked as public.

    aiohttp connects to what this returns, so the address checked is the address called:
    a name that answers a public address to the check and a private one to the connection
    (DNS rebinding) cannot slip through.
    """

    def __init__(self, allowed_hosts: Collection[str]) -> None:
        self.allowed_hosts = allowed_hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_public(host, port, self.allowed_hosts)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release."""


class ApiDelivery:
    """Delivery for batches started over HTTP: nothing to push; the callback is its own step."""

    progress_interval = timedelta(days=1)  # progress is polled at GET /batch/{id}

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        public_base_url: str,
        *,
        allowed_hosts: Collection[str] = frozenset(),
        timeout_seconds: float = 10.0,
    ) -> None:
        self.uow = uow
        self.public_base_url = public_base_url.rstrip("/")
        self.allowed_hosts = allowed_hosts
        self.timeout = aiohttp.ClientTimeout(
            total=timeout_seconds, connect=min(5.0, timeout_seconds)
        )

    async def edit_status(self, chat: Chat, message: str) -> None:
        """Progress is read at the status endpoint; nothing is pushed."""

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None:
        """Results are downloaded from the API; nothing is pushed."""

    async def send_text(self, chat: Chat, message: str) -> None:
        """The summary is read at the status endpoint; the callback follows delivery."""

    def callback_body(self, attempt: CallbackAttempt) -> bytes:
        body: dict[str, Any] = {
            "event": "batch.finished",
            "batch_id": attempt.batch_id,
            "status": "delivered",
            "image_count": attempt.image_count,
            "succeeded": attempt.succeeded,
            "failed": attempt.failed,
            "credits_charged": attempt.credits_charged,
            "refunded_credits": attempt.refunded_credits,
            "download_url": f"{self.public_base_url}/api/background-remover/batch/"
            f"{attempt.batch_id}/download",
            "attempt": attempt.number,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    async def call_back(self, attempt: CallbackAttempt) -> bool:
        """Make one attempt; True when the receiver answered 2xx."""
        body = self.callback_body(attempt)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "BackgroundRemoverPro-Callback/1",
            "X-Batch-Id": str(attempt.batch_id),
            "X-Signature-256": sign_body(attempt.secret, body),
        }
        host = urlsplit(attempt.url).hostname or "?"
        try:
            await check_callback_url(attempt.url, self.allowed_hosts)
            connector = aiohttp.TCPConnector(
                resolver=PublicOnlyResolver(self.allowed_hosts), use_dns_cache=False
            )
            async with (
                aiohttp.ClientSession(connector=connector, timeout=self.timeout) as session,
                session.post(
                    attempt.url, data=body, headers=headers, allow_redirects=False
                ) as response,
            ):
                delivered = 200 <= response.status < 300
                if not delivered:
                    log.info(
                        "callback of batch %s to %s answered %s",
                        attempt.batch_id,
                        host,
                        response.status,
                    )
                return delivered
        except UnsafeCallbackUrl as refused:
            log.warning("callback of batch %s to %s refused: %s", attempt.batch_id, host, refused)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            log.info(
                "callback of batch %s to %s failed: %s",
                attempt.batch_id,
                host,
                type(error).__name__,
            )
        return False
