"""The Dramatiq broker, built in one place: Redis when `REDIS_URL` is set, else in-process."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from dramatiq.middleware import AsyncIO, CurrentMessage, default_middleware

from workers.tracing import CarryRequestId

# Queues: pro batches have their own, consumed at a higher priority by every worker.
PRIORITY_IMAGES = "images-priority"
IMAGES = "images"
BATCHES = "batches"
MAINTENANCE = "maintenance"
# Callbacks to integrators' URLs: their own broker and worker threads, so a slow receiver
# never takes a thread that cuts out images.
CALLBACKS = "callbacks"
# WhatsApp messages, handled after the webhook answered: never behind a backlog of images.
WHATSAPP = "whatsapp"
# Worker threads added for it, so a person's message never waits behind a batch of images.
WHATSAPP_THREADS = 4


def build_broker(
    redis_url: str | None,
    *,
    namespace: str = "bgbot",
    heartbeat_timeout_ms: int = 60_000,
) -> dramatiq.Broker:
    """Build the broker and make it Dramatiq's global one for actor declarations.

    Without Redis the same actors run on an in-memory queue served by a worker thread pool in
    this process: one machine, one process, nothing else to install.
    """
    middleware = [m() for m in default_middleware] + [AsyncIO(), CurrentMessage(), CarryRequestId()]
    broker: dramatiq.Broker
    if redis_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=redis_url,
            namespace=namespace,
            heartbeat_timeout=heartbeat_timeout_ms,
            middleware=middleware,
        )
    else:
        broker = StubBroker(middleware=middleware, fail_fast_default=False)
        broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    return broker


def build_callback_broker(broker: dramatiq.Broker) -> dramatiq.Broker:
    """A second broker on the same transport, served by a worker of its own.

    Dramatiq's threads serve every queue of a worker alike, so a queue of its own is not
    enough to keep callbacks off the image threads: they get their own worker, and so their
    own broker. It has no AsyncIO middleware: its async actors run on the event loop the
    pipeline's worker started.
    """
    middleware = [m() for m in default_middleware] + [CurrentMessage()]
    if isinstance(broker, RedisBroker):
        return RedisBroker(  # type: ignore[no-untyped-call]
            client=broker.client,
            namespace=broker.namespace,
            heartbeat_timeout=broker.heartbeat_timeout,
            middleware=middleware,
        )
    callbacks = StubBroker(middleware=middleware, fail_fast_default=False)
    callbacks.emit_after("process_boot")
    return callbacks


def queue_depth(broker: dramatiq.Broker) -> dict[str, int]:
    """Messages waiting on each pipeline queue (blocking I/O on Redis: call it in a thread)."""
    names = (PRIORITY_IMAGES, IMAGES, BATCHES, MAINTENANCE, WHATSAPP)
    if isinstance(broker, RedisBroker):
        return {name: int(broker.client.llen(f"{broker.namespace}:{name}")) for name in names}
    if isinstance(broker, StubBroker):
        return {name: broker.queues[name].qsize() for name in names if name in broker.queues}
    return {}


def _job_ids(encoded: Iterable[bytes]) -> set[int]:
    ids = set()
    for data in encoded:
        message = dramatiq.Message.decode(data)
        if message.args:
            ids.add(int(message.args[0]))
    return ids


def job_ids_on_queue(broker: dramatiq.Broker) -> frozenset[int] | None:
    """Jobs whose image message the broker still holds: waiting, delayed for a retry, or taken
    by a live worker. None when the broker cannot say (blocking I/O on Redis: use a thread).

    The sweep re-sends only queued jobs missing here, so a long backlog is not sent twice.
    """
    queues = [name for queue in (PRIORITY_IMAGES, IMAGES) for name in (queue, dq_name(queue))]
    if isinstance(broker, StubBroker):
        # Only a dead process loses in-memory messages, and then all of them.
        return frozenset(
            _job_ids(
                data
                for name in queues
                if name in broker.queues
                for data in list(broker.queues[name].queue)
            )
        )
    if not isinstance(broker, RedisBroker):
        return None
    # Dramatiq's Redis layout (see its dispatch.lua): `<ns>:<queue>.msgs` maps message ids to
    # messages until they are acknowledged; `<ns>:__acks__.<worker>.<queue>` holds the ids a
    # worker took. A worker without a heartbeat for `heartbeat_timeout` is dead: what it took
    # comes back only at Dramatiq's occasional maintenance, so the sweep sends it again now.
    client = broker.client
    namespace = broker.namespace
    now_ms = int(time.time() * 1000)
    dead = client.zrangebyscore(f"{namespace}:__heartbeats__", 0, now_ms - broker.heartbeat_timeout)
    held: set[int] = set()
    for name in queues:
        messages: dict[Any, Any] = dict(client.hgetall(f"{namespace}:{name}.msgs"))
        for worker in dead:
            worker_id = worker.decode() if isinstance(worker, bytes) else str(worker)
            for message_id in client.smembers(f"{namespace}:__acks__.{worker_id}.{name}"):
                messages.pop(message_id, None)
        held |= _job_ids(messages.values())
    return frozenset(held)
