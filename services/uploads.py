"""From files a person sent to a quote: every channel's intake ends here.

Images are checked from their headers and ZIPs opened safely; what cannot be processed is
listed with a reason and never charged for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from db.models import QuoteStatus
from db.uow import UnitOfWork
from services.billing import QuoteFile, QuoteOffer, cancel_quote, create_quote
from services.errors import ServiceError
from services.imaging.archive import ArchiveLimits, ArchiveRejected, extract_images
from services.imaging.intake import ImageRejected, IntakeLimits, probe_image
from services.pricing import MAX_BATCH_IMAGES, Tier


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    """A file on disk under DATA_DIR, with the name the person gave it."""

    name: str
    path: Path


@dataclass
class Inspection:
    accepted: list[QuoteFile] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)


class NothingToProcess(ServiceError):
    """No file of the upload is a usable image; `rejected` says why for each."""

    code = "nothing_to_process"

    def __init__(self, rejected: list[dict[str, str]]) -> None:
        super().__init__(f"no usable image among {len(rejected)} files")
        self.rejected = rejected


class TooManyImages(ServiceError):
    code = "too_many_images"


def _is_zip(path: Path) -> bool:
    with path.open("rb") as head:
        return head.read(4) == b"PK\x03\x04"


def inspect_files(
    files: Sequence[ReceivedFile],
    data_dir: Path,
    limits: IntakeLimits,
    archive_limits: ArchiveLimits,
) -> Inspection:
    """Check every file (expanding ZIPs next to them); blocking, so call it in a thread."""
    inspection = Inspection()

    def consider(name: str, path: Path) -> None:
        try:
            probe_image(path, limits)
        except ImageRejected as rejected:
            inspection.rejected.append({"name": name, "reason": rejected.code})
            path.unlink(missing_ok=True)
            return
        relative = path.resolve().relative_to(data_dir.resolve()).as_posix()
        inspection.accepted.append(QuoteFile(name=name, path=relative))

    for received in files:
        if not _is_zip(received.path):
            consider(received.name, received.path)
            continue
        target = received.path.with_name(received.path.name + ".d")
        try:
            contents = extract_images(received.path, target, archive_limits)
        except ArchiveRejected as rejected:
            inspection.rejected.append({"name": received.name, "reason": rejected.code})
            continue
        finally:
            received.path.unlink(missing_ok=True)
        inspection.rejected += [{"name": s.name, "reason": s.reason} for s in contents.skipped]
        for image in contents.images:
            consider(image.name, image.path)
    return inspection


def _remove_received(files: Sequence[ReceivedFile]) -> None:
    for received in files:
        received.path.unlink(missing_ok=True)
        shutil.rmtree(received.path.with_name(received.path.name + ".d"), ignore_errors=True)
        _remove_empty_parent(received.path)


def _remove_empty_parent(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or already gone: nothing to do
        path.parent.rmdir()


def account_stored_bytes(data_dir: Path, account_id: int) -> int:
    """Bytes the account's uploads take under DATA_DIR/inbox (blocking: call it in a thread)."""
    root = data_dir / "inbox" / str(account_id)
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                total += (Path(folder) / name).stat().st_size
    return total


def delete_quote_files(data_dir: Path, files: Sequence[dict[str, Any]]) -> None:
    """Delete the images of a quote nobody will pay for, and their folders once empty."""
    root = data_dir.resolve()
    for file in files:
        path = (root / str(file.get("path", ""))).resolve()
        if path.is_relative_to(root / "inbox"):
            path.unlink(missing_ok=True)
            _remove_empty_parent(path)
            if path.parent.name.endswith(".d"):
                _remove_empty_parent(path.parent)


async def discard_quote(
    uow: UnitOfWork, quote_id: str, account_id: int, *, data_dir: Path, now: datetime
) -> bool:
    """Cancel an open quote and delete its files at once; False when it was not open."""
    async with uow:
        quote = await uow.quotes.get(quote_id)
        if quote is None or quote.account_id != account_id:
            return False
        if not await uow.quotes.change_status(
            quote_id, expected=QuoteStatus.OPEN, new=QuoteStatus.CANCELLED
        ):
            return False
        files = list(quote.files)
        await uow.commit()
    await asyncio.to_thread(delete_quote_files, data_dir, files)
    return True


async def cancel_upload(
    uow: UnitOfWork, quote_id: str, account_id: int, *, data_dir: Path, now: datetime
) -> None:
    """Cancel an open quote, as the person's Cancel button asks, and delete its files at once.

    Raises:
        QuoteNotFound, QuoteAlreadyUsed, QuoteExpired: as `cancel_quote`.
    """
    await cancel_quote(uow, quote_id, account_id, now)
    async with uow:
        quote = await uow.quotes.get(quote_id)
        files = list(quote.files) if quote is not None else []
    await asyncio.to_thread(delete_quote_files, data_dir, files)


async def expire_quotes(uow: UnitOfWork, *, data_dir: Path, now: datetime) -> int:
    """Close the open quotes past their expiry and delete their files; return how many."""
    async with uow:
        expired = await uow.quotes.expire_open(now)
        await uow.commit()
    for files in expired:
        await asyncio.to_thread(delete_quote_files, data_dir, files)
    return len(expired)


async def quote_upload(
    uow: UnitOfWork,
    account_id: int,
    files: Sequence[ReceivedFile],
    *,
    data_dir: Path,
    limits: IntakeLimits,
    archive_limits: ArchiveLimits,
    channel: str,
    chat: dict[str, Any],
    ttl: timedelta,
    zone: ZoneInfo,
    now: datetime,
    available: frozenset[Tier] | None = None,
) -> QuoteOffer:
    """Check the files and quote the usable images for every tier that can run.

    Raises:
        NothingToProcess: no file is a usable image.
        TooManyImages: more images than one batch holds.
    """
    try:
        inspection = await asyncio.to_thread(inspect_files, files, data_dir, limits, archive_limits)
        if not inspection.accepted:
            raise NothingToProcess(inspection.rejected)
        if len(inspection.accepted) > MAX_BATCH_IMAGES:
            raise TooManyImages(
                f"{len(inspection.accepted)} images; a batch holds {MAX_BATCH_IMAGES}"
            )
    except BaseException:
        # A refused upload keeps nothing on disk: not the files, not what a ZIP unpacked.
        await asyncio.to_thread(_remove_received, files)
        raise
    return await create_quote(
        uow,
        account_id,
        inspection.accepted,
        channel=channel,
        chat=chat,
        ttl=ttl,
        zone=zone,
        now=now,
        rejected=inspection.rejected,
        available=available,
    )
