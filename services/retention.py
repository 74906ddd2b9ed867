"""Deleting inputs, results and unused quotes once they are past the retention period."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update

from db.models import Batch, Job, Quote, QuoteStatus
from db.uow import UnitOfWork
from services.whatsapp import DEDUP_MEMORY

# The folders under DATA_DIR that hold people's files; the database and models stay.
FILE_AREAS = ("inbox", "results")


@dataclass(frozen=True, slots=True)
class Purge:
    files_deleted: int
    quotes_deleted: int
    batches_purged: int
    whatsapp_rows_deleted: int


def _delete_old_files(root: Path, cutoff: datetime) -> int:
    deleted = 0
    if not root.is_dir():
        return 0
    for folder, subfolders, files in os.walk(root, topdown=False):
        for name in files:
            path = Path(folder) / name
            if path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
                deleted += 1
        for name in subfolders:
            with_children = Path(folder) / name
            if not any(with_children.iterdir()):
                with_children.rmdir()
    return deleted


async def purge_expired(
    uow: UnitOfWork, data_dir: Path, *, now: datetime, retention: timedelta
) -> Purge:
    """Delete files older than `retention`, quotes never accepted, result references and
    WhatsApp delivery state nobody needs any more.

    Batches, jobs and the ledger stay: they are the accounts' history and statistics; what
    goes is every path to a deleted file, so nothing offers to re-send what no longer exists.
    """
    cutoff = now - retention
    files = sum(_delete_old_files(data_dir / area, cutoff) for area in FILE_AREAS)
    async with uow:
        quotes = await uow.session.execute(
            delete(Quote)
            .where(Quote.created_at < cutoff, Quote.status != QuoteStatus.ACCEPTED)
            .returning(Quote.id)
        )
        quotes_deleted = len(quotes.all())
        old_batches = select(Batch.id).where(Batch.created_at < cutoff).scalar_subquery()
        jobs = await uow.session.execute(
            update(Job)
            .where(Job.batch_id.in_(old_batches), Job.output_path.is_not(None))
            .values(output_path=None)
            .returning(Job.batch_id)
        )
        purged = sorted({batch_id for (batch_id,) in jobs.all()})
        if purged:
            await uow.session.execute(update(Batch).where(Batch.id.in_(purged)).values(results=[]))
        # WhatsApp message ids Meta can no longer repeat, and held messages whose links expired.
        whatsapp_rows = await uow.whatsapp.prune_inbound(now - DEDUP_MEMORY)
        whatsapp_rows += await uow.whatsapp.prune_held(cutoff)
        await uow.commit()
    return Purge(files, quotes_deleted, len(purged), whatsapp_rows)
