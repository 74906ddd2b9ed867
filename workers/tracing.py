"""Request ids through the queue: a message carries the id of the request that sent it.

The sending side stores the id in the message's options; the worker sets it around the
actor, so the log records of a job name the HTTP request that started it. A coroutine actor
inherits it too: Dramatiq hands the coroutine to its event loop with
`run_coroutine_threadsafe`, whose task starts in a copy of the calling thread's context.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

from services.tracing import NO_REQUEST, REQUEST_ID

OPTION = "request_id"


class CarryRequestId(dramatiq.Middleware):
    """Copy the sender's request id into each message, and back out around its processing."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token[str]] = {}

    def before_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int
    ) -> None:
        request_id = REQUEST_ID.get()
        # A retry is enqueued from the worker running the message, whose id is the same.
        if request_id != NO_REQUEST and OPTION not in message.options:
            message.options[OPTION] = request_id

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        # Each worker thread has a context of its own and runs one message at a time.
        self._tokens[message.message_id] = REQUEST_ID.set(message.options.get(OPTION, NO_REQUEST))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        token = self._tokens.pop(message.message_id, None)
        if token is not None:
            REQUEST_ID.reset(token)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.after_process_message(broker, message)
