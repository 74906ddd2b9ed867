"""Handing accepted batches to the queue, from the process that accepted them."""

from __future__ import annotations

import asyncio
import logging

import dramatiq
from redis.exceptions import RedisError

from db.uow import UnitOfWork
from services.billing import AcceptedBatch
from services.clock import utcnow
from services.pipeline import mark_enqueued
from workers.actors import Actors

log = logging.getLogger(__name__)


async def submit_batch(actors: Actors, uow: UnitOfWork, accepted: AcceptedBatch) -> bool:
    """Queue an accepted batch's jobs; False when the broker is down.

    The charge and the jobs are already committed, so nothing is lost when the broker cannot
    be reached: the jobs stay queued in the database and the sweep sends them once it is back.
    """
    try:
        # Sending to Redis is blocking network I/O: keep it off the event loop.
        await asyncio.to_thread(actors.enqueue_jobs, accepted.job_ids, priority=accepted.priority)
    except (RedisError, dramatiq.errors.BrokerConnectionError) as error:
        log.warning(
            "batch %s stays for the sweep: broker unreachable (%s)", accepted.batch_id, error
        )
        return False
    await mark_enqueued(uow, accepted.job_ids, now=utcnow())
    return True
