"""WhatsApp conversation state: repeated webhook deliveries, and the 24-hour reply window.

The Cloud API accepts free-form messages only within 24 hours of the person's last message;
after that only pre-approved templates. The service uses none, so a message due outside the
window is held and sent when the person writes again, which reopens the window.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from db.uow import UnitOfWork

REPLY_WINDOW = timedelta(hours=24)
# Meta retries an unacknowledged notification for up to 7 days; ids older than that cannot
# come back, so they are forgotten.
DEDUP_MEMORY = timedelta(days=7)


async def record_inbound(uow: UnitOfWork, message_id: str, number: str, *, now: datetime) -> bool:
    """Note a message and that its sender opened the window; False for a repeated delivery."""
    async with uow:
        if not await uow.whatsapp.record_inbound(message_id, now):
            return False
        await uow.whatsapp.touch_contact(number, now)
        await uow.commit()
    return True


async def take_in_message(
    uow: UnitOfWork,
    message_id: str,
    number: str,
    payload: dict[str, Any],
    *,
    queue: Callable[[], Awaitable[None]],
    now: datetime,
) -> bool:
    """Keep a message for its job and queue the job, as one step; False for a repeat.

    The job is queued before the record commits: when queueing fails nothing is kept, so the
    sender's retry is taken in afresh; when the process dies before the commit, the job finds
    no message and does nothing, and the retry again is taken in afresh. The job therefore
    waits a moment for a record it does not see yet (the commit follows the queueing).
    """
    async with uow:
        if not await uow.whatsapp.record_inbound(message_id, now, payload):
            return False
        await uow.whatsapp.touch_contact(number, now)
        await queue()
        await uow.commit()
    return True


async def recorded_message(uow: UnitOfWork, message_id: str) -> dict[str, Any] | None:
    """The content of a message taken in by `take_in_message`, or None."""
    async with uow:
        return await uow.whatsapp.inbound_payload(message_id)


async def is_message_handled(uow: UnitOfWork, message_id: str) -> bool:
    async with uow:
        return await uow.whatsapp.is_handled(message_id)


async def mark_message_handled(uow: UnitOfWork, message_id: str, *, now: datetime) -> None:
    """Note that a message's job finished (or gave up and told the person)."""
    async with uow:
        await uow.whatsapp.mark_handled(message_id, now)
        await uow.commit()


async def unhandled_messages(uow: UnitOfWork, *, now: datetime, older_than: timedelta) -> list[str]:
    """Messages taken in more than `older_than` ago whose job never finished (a process that
    held it died): the ones Meta will not deliver again, since the webhook answered 200."""
    async with uow:
        return await uow.whatsapp.unhandled(now - older_than, now - DEDUP_MEMORY)


async def forget_inbound(uow: UnitOfWork, message_id: str) -> None:
    """Let a message be handled again (its handling failed before anything was shown)."""
    async with uow:
        await uow.whatsapp.forget_inbound(message_id)
        await uow.commit()


async def window_open(uow: UnitOfWork, number: str, *, now: datetime) -> bool:
    """Whether a free-form message to `number` is allowed now."""
    async with uow:
        last = await uow.whatsapp.last_inbound(number)
    return last is not None and now - last < REPLY_WINDOW


async def claim_progress_slot(
    uow: UnitOfWork, number: str, *, now: datetime, interval: timedelta
) -> bool:
    """Whether a progress text may go to `number` now (one per `interval`, all batches)."""
    async with uow:
        claimed = await uow.whatsapp.claim_progress(number, now, now - interval)
        await uow.commit()
    return claimed


async def hold_message(uow: UnitOfWork, number: str, body: str, *, now: datetime) -> None:
    """Keep a message for when the window reopens."""
    async with uow:
        await uow.whatsapp.hold(number, body, now)
        await uow.commit()


async def take_held_messages(
    uow: UnitOfWork, number: str, *, now: datetime, max_age: timedelta
) -> list[str]:
    """The number's held messages, oldest first, no older than `max_age`; removed once taken."""
    async with uow:
        bodies = await uow.whatsapp.take_held(number, now - max_age)
        await uow.commit()
    return list(bodies)
