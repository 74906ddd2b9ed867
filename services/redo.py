"""Redo a delivered batch at another tier without uploading again: a new quote of its inputs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from db.uow import UnitOfWork
from services.billing import QuoteFile, QuoteOffer, create_quote
from services.errors import ServiceError
from services.history import NotFound


class InputsGone(ServiceError):
    """The batch's original files were deleted at the end of the retention period."""

    code = "inputs_gone"


async def quote_redo(
    uow: UnitOfWork,
    account_id: int,
    batch_id: int,
    *,
    data_dir: Path,
    channel: str,
    chat: dict[str, Any],
    ttl: timedelta,
    zone: ZoneInfo,
    now: datetime,
) -> QuoteOffer:
    """Quote the inputs of one of the account's batches again, priced as a new batch.

    Raises:
        NotFound: the account has no such batch.
        InputsGone: none of its original files is kept any more.
    """
    async with uow:
        batch = await uow.history.batch(account_id, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        jobs = await uow.jobs.for_batch(batch_id)
    files = [QuoteFile(job.input_name, job.input_path) for job in jobs]

    def kept() -> list[bool]:
        return [(data_dir / file.path).is_file() for file in files]

    present = await asyncio.to_thread(kept)
    if not any(present):
        raise InputsGone(f"the inputs of batch {batch_id} were deleted")
    return await create_quote(
        uow,
        account_id,
        [file for file, here in zip(files, present, strict=True) if here],
        channel=channel,
        chat=chat,
        ttl=ttl,
        zone=zone,
        now=now,
        rejected=[
            {"name": file.name, "reason": "input_deleted"}
            for file, here in zip(files, present, strict=True)
            if not here
        ],
    )
