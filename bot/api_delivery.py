"""The HTTP API as a channel: results stay downloadable, and a finished batch calls back.

Integrations are told a batch finished by one mechanism: any batch may carry a
callback URL, called once it finishes with a JSON body signed as
`X-Signature-256: sha256=HMAC-SHA256(key=sha256_hex(api_key), body)`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from db.uow import UnitOfWork
from services.history import get_batch
from workers.delivery import Chat, DeliveryError

CALLBACK_TIMEOUT = aiohttp.ClientTimeout(total=15)


def sign_body(key_hash: str, body: bytes) -> str:
    """The signature header's value for a callback body."""
    return "sha256=" + hmac.new(key_hash.encode(), body, hashlib.sha256).hexdigest()


class ApiDelivery:
    """Delivery for batches started over HTTP: nothing to push but the callback."""

    progress_interval = timedelta(days=1)  # progress is polled at GET /batch/{id}

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        public_base_url: str,
        *,
        attempts: int = 4,
        first_wait: float = 2.0,
    ) -> None:
        self.uow = uow
        self.public_base_url = public_base_url.rstrip("/")
        self.attempts = attempts
        self.first_wait = first_wait

    async def edit_status(self, chat: Chat, message: str) -> None:
        """Progress is read at the status endpoint; nothing is pushed."""

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None:
        """Results are downloaded from the API; nothing is pushed."""

    async def send_text(self, chat: Chat, message: str) -> None:
        """Call the batch's callback URL with its outcome, retrying transient failures."""
        url = chat.get("callback_url")
        if not url:
            return
        batch = await get_batch(self.uow(), int(chat["account_id"]), int(chat["batch_id"]))
        body = json.dumps(
            {
                "event": "batch.finished",
                "batch_id": batch.batch_id,
                "status": batch.status,
                "image_count": batch.image_count,
                "succeeded": batch.done,
                "failed": batch.failed,
                "credits_charged": batch.credits_charged,
                "refunded_credits": batch.refunded_credits,
                "download_url": f"{self.public_base_url}/api/background-remover/batch/"
                f"{batch.batch_id}/download",
                "summary": message,
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Signature-256": sign_body(str(chat["key_hash"]), body),
        }
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((aiohttp.ClientError, TimeoutError)),
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=self.first_wait, max=60),
                reraise=True,
            ):
                with attempt:
                    async with (
                        aiohttp.ClientSession(timeout=CALLBACK_TIMEOUT) as session,
                        session.post(url, data=body, headers=headers) as response,
                    ):
                        response.raise_for_status()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryError(f"callback to {url} failed: {error}") from error
