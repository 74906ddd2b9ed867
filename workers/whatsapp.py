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
from typing import Any

import aiohttp
import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from bot.messages import text
from bot.state import open_shared_state
from bot.whatsapp.conversation import Conversation, language_of_number
from bot.whatsapp.delivery import whatsapp_config
from bot.whatsapp.graph import GraphClient, GraphError
from bot.whatsapp.updates import Inbound, Kind
from db.uow import UnitOfWork
from services.billing import AcceptedBatch
from services.settings import Settings
from services.whatsapp import recorded_message
from workers.actors import Actors
from workers.broker import WHATSAPP
from workers.submit import submit_batch

log = logging.getLogger(__name__)

HANDLE_MESSAGE = "handle_whatsapp_message"
MESSAGE_FAILED = "whatsapp_message_failed"
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
        self, settings: Settings, uow: Callable[[], UnitOfWork], submit: Callable[..., Any]
    ) -> None:
        self.settings = settings
        self.uow = uow
        self.submit = submit
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
                self._conversation = Conversation(
                    self.settings, self.uow, graph, self.submit, state
                )
                self._resources = resources
            return self._conversation

    async def close(self) -> None:
        if self._conversation is not None:
            await self._conversation.close()
        if self._resources is not None:
            await self._resources.aclose()
        self._conversation, self._resources = None, None


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
    """Declare the WhatsApp message job and its last-word job on `broker`."""

    async def submit(accepted: AcceptedBatch) -> bool:
        return await submit_batch(actors, uow(), accepted)

    intake = WhatsAppIntake(settings, uow, submit)
    broker.add_middleware(CloseIntake(intake))
    retries = settings.whatsapp_job_retries

    async def handle_whatsapp_message(message_id: str) -> None:
        """Handle one WhatsApp message the webhook took in: fetch its file, answer it."""
        inbound = await _recorded(uow, message_id, wait_seconds=RECORD_WAIT_SECONDS)
        conversation = await intake.conversation()
        # Dramatiq's time limit cannot stop a coroutine: the job keeps its own.
        async with asyncio.timeout(settings.whatsapp_job_seconds):
            await conversation.handle(inbound)

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
        # Dramatiq's own limit too, a little later: it frees the worker thread.
        time_limit=(settings.whatsapp_job_seconds + 30) * 1000,
    )(handle_whatsapp_message)
    dramatiq.actor(actor_name=MESSAGE_FAILED, queue_name=WHATSAPP, broker=broker, max_retries=3)(
        whatsapp_message_failed
    )
    return handle


def queue_message(broker: dramatiq.Broker) -> Callable[[str], Any]:
    """Send the job of one message id (blocking I/O on Redis: call it in a thread)."""
    actor = broker.get_actor(HANDLE_MESSAGE)
    return actor.send
