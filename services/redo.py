"""Redo a delivered batch, or one image of it, at another tier without uploading again: a new
quote of its inputs, priced and charged like any quote."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class BatchImage:
    job_id: int
    name: str


@dataclass(frozen=True, slots=True)
class BatchImages:
    """One page of a batch's images, in the order they were sent."""

    batch_id: int
    tier: str
    total: int
    offset: int
    images: tuple[BatchImage, ...]

    @property
    def next_offset(self) -> int | None:
        after = self.offset + len(self.images)
        return after if after < self.total else None


async def batch_images(
    uow: UnitOfWork, account_id: int, batch_id: int, *, offset: int, limit: int
) -> BatchImages:
    """A page of the images of one of the account's batches, to redo one of them.

    Raises:
        NotFound: the account has no such batch.
    """
    async with uow:
        batch = await uow.history.batch(account_id, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        jobs = await uow.jobs.for_batch(batch_id)
    start = max(0, offset)
    return BatchImages(
        batch_id,
        batch.tier,
        len(jobs),
        start,
        tuple(BatchImage(job.id, job.input_name) for job in jobs[start : start + limit]),
    )


async def quote_redo_image(
    uow: UnitOfWork,
    account_id: int,
    job_id: int,
    *,
    data_dir: Path,
    channel: str,
    chat: dict[str, Any],
    ttl: timedelta,
    zone: ZoneInfo,
    now: datetime,
) -> QuoteOffer:
    """Quote one image of one of the account's batches again: a new one-image quote.

    Raises:
        NotFound: the account has no batch with this image.
        InputsGone: its original file is not kept any more.
    """
    async with uow:
        job = await uow.jobs.get(job_id)
        batch = None if job is None else await uow.history.batch(account_id, job.batch_id)
    if job is None or batch is None:
        raise NotFound(f"no image {job_id}")
    file = QuoteFile(job.input_name, job.input_path)
    if not await asyncio.to_thread((data_dir / file.path).is_file):
        raise InputsGone(f"the input of image {job_id} was deleted")
    return await create_quote(
        uow, account_id, [file], channel=channel, chat=chat, ttl=ttl, zone=zone, now=now
    )
