"""The Dramatiq broker, built in one place: Redis when `REDIS_URL` is set, else in-process."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage, default_middleware

# Queues: pro batches have their own, consumed at a higher priority by every worker.
PRIORITY_IMAGES = "images-priority"
IMAGES = "images"
BATCHES = "batches"
MAINTENANCE = "maintenance"


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
    middleware = [m() for m in default_middleware] + [AsyncIO(), CurrentMessage()]
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


def queue_depth(broker: dramatiq.Broker) -> dict[str, int]:
    """Messages waiting on each pipeline queue (blocking I/O on Redis: call it in a thread)."""
    names = (PRIORITY_IMAGES, IMAGES, BATCHES, MAINTENANCE)
    if isinstance(broker, RedisBroker):
        return {name: int(broker.client.llen(f"{broker.namespace}:{name}")) for name in names}
    if isinstance(broker, StubBroker):
        return {name: broker.queues[name].qsize() for name in names if name in broker.queues}
    return {}
