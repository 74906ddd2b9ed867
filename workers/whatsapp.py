"""The WhatsApp message job: what a person sent, handled after the webhook has answered Meta.

Meta waits a few seconds for the webhook's answer and delivers the notification again when it
is slow, so the webhook only checks, records and queues (see `bot.whatsapp.web`). This job does
the slow part: it fetches the media in the Cloud API's two steps, gathers the person's files,
and answers. It runs on its own queue, `whatsapp`, beside (never in) the image queues, with a
time limit and a bounded number of retries for WhatsApp's and the network's passing failures;
when those run out, the person is told to send again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import aiohttp
import dramatiq
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from dramatiq.asyncio import get_event_loop_thread
from redis.exceptions import RedisError

from bot.messages import text
from bot.previews import Previewer
from bot.state import open_shared_state
from bot.whatsapp.conversation import Conversation, Finish, language_of_number
from bot.whatsapp.delivery import whatsapp_config
from bot.whatsapp.graph import GraphClient, GraphError
from bot.whatsapp.updates import Inbound, Kind
from db.uow import UnitOfWork
from services.billing import AcceptedBatch
from services.clock import utcnow
from services.settings import Settings
from services.whatsapp import (
    is_message_handled,
    mark_message_handled,
    recorded_message,
    unhandled_messages,
)
from workers.actors import Actors
from workers.broker import WHATSAPP
from workers.submit import submit_batch

log = logging.getLogger(__name__)

HANDLE_MESSAGE = "handle_whatsapp_message"
MESSAGE_FAILED = "whatsapp_message_failed"
SWEEP_MESSAGES = "sweep_whatsapp_messages"
# How long a job waits for the webhook's commit before it tries again later.
RECORD_WAIT_SECONDS = 3.0


class MessageNotRecorded(Exception):
    """The webhook queued the job and has not committed the message yet (or never will)."""


def is_passing(error: BaseException) -> bool:
    """Failures that another try may not meet: WhatsApp's own trouble, the network, time."""
    if isinstance(error, GraphError):
        return error.status >= 500 or error.status == 429
    return isinstance(error, aiohttp.ClientError | TimeoutError | MessageNotRecorded)


class WhatsAppIntake:
    """The conversation of this process, made on the event loop that runs the jobs.

    The HTTP session and the Redis client belong to that loop, so they are opened on first
    use there and closed there when the worker stops.
    """

    def __init__(
        self,
        settings: Settings,
        uow: Callable[[], UnitOfWork],
        submit: Callable[..., Any],
        finish: Finish,
    ) -> None:
        self.settings = settings
        self.uow = uow
        self.submit = submit
        self.finish = finish
        self._previews: Previewer | None = None
        self._conversation: Conversation | None = None
        self._resources: AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    async def conversation(self) -> Conversation:
        async with self._opening:
            if self._conversation is None:
                resources = AsyncExitStack()
                session = await resources.enter_async_context(aiohttp.ClientSession())
                state = await resources.enter_async_context(open_shared_state(self.settings))
                config = whatsapp_config(self.settings)
                graph = GraphClient(
                    session,
                    base_url=config.api_url,
                    token=config.token,
                    phone_number_id=config.phone_number_id,
                )
                if self.settings.previews_per_day:
                    self._previews = Previewer(self.settings, self.uow)
                self._conversation = Conversation(
                    self.settings,
                    self.uow,
                    graph,
                    self.submit,
                    state,
                    finish=self.finish,
                    previews=self._previews,
                )
                self._resources = resources
            return self._conversation

    @property
    def previews(self) -> Previewer | None:
        """The free previews of this process's conversation, once it is open."""
        return self._previews

    async def close(self) -> None:
        if self._conversation is not None:
            await self._conversation.close()
        if self._previews is not None:
            await self._previews.close()
        if self._resources is not None:
            await self._resources.aclose()
        self._conversation, self._resources, self._previews = None, None, None


class CloseIntake(dramatiq.Middleware):
    """Close the conversation's clients when the worker stops, on their own loop."""

    def __init__(self, intake: WhatsAppIntake) -> None:
        self.intake = intake

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.intake.close())


async def _recorded(
    uow: Callable[[], UnitOfWork], message_id: str, *, wait_seconds: float = 0.0
) -> Inbound:
    """The message the webhook recorded; it commits just after queueing, so wait a moment."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while (payload := await recorded_message(uow(), message_id)) is None:
        if asyncio.get_running_loop().time() >= deadline:
            raise MessageNotRecorded(message_id)
        await asyncio.sleep(0.05)
    return Inbound.from_payload(payload)


def declare_whatsapp_jobs(
    broker: dramatiq.Broker, settings: Settings, uow: Callable[[], UnitOfWork], actors: Actors
) -> dramatiq.Actor[[str], None]:
    """Declare the WhatsApp message job, its last word when it fails, and the sweep."""

    async def submit(accepted: AcceptedBatch) -> bool:
        return await submit_batch(actors, uow(), accepted)

    async def finish(batch_id: int) -> None:
        # Sending is blocking I/O on Redis: keep it off the event loop.
        await asyncio.to_thread(actors.finish_batch.send, batch_id)

    intake = WhatsAppIntake(settings, uow, submit, finish)
    broker.add_middleware(CloseIntake(intake))
    retries = settings.whatsapp_job_retries

    async def handle_whatsapp_message(message_id: str) -> None:
        """Handle one WhatsApp message the webhook took in: fetch its file, answer it."""
        inbound = await _recorded(uow, message_id, wait_seconds=RECORD_WAIT_SECONDS)
        if await is_message_handled(uow(), message_id):
            return  # sent again by the sweep while the first job was still on its way
        conversation = await intake.conversation()
        # Dramatiq's time limit cannot stop a coroutine: the job keeps its own.
        async with asyncio.timeout(settings.whatsapp_job_seconds):
            await conversation.handle(inbound)
        await mark_message_handled(uow(), message_id, now=utcnow())

    async def whatsapp_message_failed(message: dict[str, Any], info: dict[str, Any]) -> None:
        """Tell the person that a message of theirs could not be handled, so they send again."""
        message_id = str(message["args"][0])
        try:
            inbound = await _recorded(uow, message_id)
        except MessageNotRecorded:
            return  # never taken in: Meta delivers it again
        log.error("WhatsApp message %s failed after %s retries", message_id, info.get("retries"))
        language = language_of_number(inbound.number)
        async with uow() as unit:
            account = await unit.accounts.by_whatsapp_number(inbound.number)
            if account is not None:
                language = account.language
        key = "wa.media.failed" if inbound.kind in (Kind.IMAGE, Kind.DOCUMENT) else None
        conversation = await intake.conversation()
        await conversation.say(inbound.number, text(key or "chat.error.generic", language))
        await mark_message_handled(uow(), message_id, now=utcnow())

    async def sweep_whatsapp_messages() -> None:
        """Queue again the messages whose job was lost with the process that held it."""
        lost = await unhandled_messages(uow(), now=utcnow(), older_than=sweep_grace(settings))
        for message_id in lost:
            await asyncio.to_thread(handle.send, message_id)
        if lost:
            log.warning("queued %d WhatsApp messages again whose job was lost", len(lost))

    def retry_when(attempts: int, error: BaseException) -> bool:
        return attempts < retries and is_passing(error)

    handle: dramatiq.Actor[[str], None] = dramatiq.actor(
        actor_name=HANDLE_MESSAGE,
        queue_name=WHATSAPP,
        broker=broker,
        retry_when=retry_when,
        min_backoff=500,
        max_backoff=30_000,
        on_retry_exhausted=MESSAGE_FAILED,
        # A person waits for the answer: ahead of images already fetched by this worker.
        priority=-10,
        # Dramatiq's own limit too, a little later: it frees the worker thread.
        time_limit=(settings.whatsapp_job_seconds + 30) * 1000,
    )(handle_whatsapp_message)
    dramatiq.actor(actor_name=MESSAGE_FAILED, queue_name=WHATSAPP, broker=broker, max_retries=3)(
        whatsapp_message_failed
    )
    dramatiq.actor(actor_name=SWEEP_MESSAGES, queue_name=WHATSAPP, broker=broker, max_retries=0)(
        sweep_whatsapp_messages
    )
    return handle


def sweep_grace(settings: Settings) -> timedelta:
    """How old an unhandled message must be before it counts as lost: older than every try
    of its job together could take (each try's limit, and the backoff between them)."""
    tries = settings.whatsapp_job_retries + 1
    worst = (settings.whatsapp_job_seconds + RECORD_WAIT_SECONDS + 30) * tries
    return max(timedelta(seconds=settings.queued_grace_seconds), timedelta(seconds=worst))


def schedule_message_sweep(
    scheduler: AsyncIOScheduler, broker: dramatiq.Broker, every: int
) -> None:
    """Send the sweep of lost WhatsApp messages every `every` seconds."""
    sweep = broker.get_actor(SWEEP_MESSAGES)

    def send() -> None:
        try:
            sweep.send()
        except (RedisError, dramatiq.errors.BrokerConnectionError) as error:
            log.warning("could not schedule the WhatsApp message sweep: %s", error)

    scheduler.add_job(send, "interval", seconds=every)


def queue_message(broker: dramatiq.Broker) -> Callable[[str], Any]:
    """Send the job of one message id (blocking I/O on Redis: call it in a thread)."""
    actor = broker.get_actor(HANDLE_MESSAGE)
    return actor.send
