"""Operators' endpoints: /healthz and /metrics (Prometheus text format)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from db.uow import UnitOfWork
from services.metrics import ServiceMetrics, read_metrics

# Each check answers None when healthy, else a short reason; none may block the loop.
HealthCheck = Callable[[], Awaitable[str | None]]


@dataclass
class OpsContext:
    """Filled in by the web process as its resources come up."""

    uow: Callable[[], UnitOfWork]
    checks: dict[str, HealthCheck] = field(default_factory=dict)
    queue_depth: Callable[[], Mapping[str, int]] = dict
    # Bearer token of /metrics; None: only direct loopback clients may read it.
    metrics_token: str | None = field(default=None, repr=False)


OPS = web.AppKey("ops", OpsContext)


async def healthz(request: web.Request) -> web.Response:
    """Report each dependency's health; 503 when any is down."""
    checks = request.app[OPS].checks
    outcomes = await asyncio.gather(*(check() for check in checks.values()))
    report = {name: outcome or "ok" for name, outcome in zip(checks, outcomes, strict=True)}
    healthy = all(outcome is None for outcome in outcomes)
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "checks": report},
        status=200 if healthy else 503,
    )


class _Snapshot(Collector):
    """Hands prometheus_client figures read beforehand from the database and the broker."""

    def __init__(self, figures: ServiceMetrics, queues: Mapping[str, int]) -> None:
        self.figures = figures
        self.queues = queues

    def collect(self) -> Iterable[Metric]:
        figures = self.figures
        images = CounterMetricFamily(
            "bgbot_images_processed",
            "Images finished, by tier and outcome",
            labels=["tier", "outcome"],
        )
        for (tier, outcome), count in sorted(figures.images.items()):
            images.add_metric([tier, outcome], count)
        yield images
        yield GaugeMetricFamily(
            "bgbot_jobs_waiting", "Jobs queued or running", value=figures.waiting_jobs
        )
        depth = GaugeMetricFamily(
            "bgbot_queue_depth", "Messages waiting on the broker", labels=["queue"]
        )
        for queue, count in sorted(self.queues.items()):
            depth.add_metric([queue], count)
        yield depth
        seconds = CounterMetricFamily(
            "bgbot_processing_seconds",
            "Seconds spent cutting out finished images",
            value=figures.processing_seconds,
        )
        yield seconds
        yield CounterMetricFamily(
            "bgbot_processed_images_timed",
            "Images with a recorded time",
            value=figures.processing_count,
        )
        yield CounterMetricFamily(
            "bgbot_credits_charged", "Credits charged for batches", value=figures.credits_charged
        )
        yield CounterMetricFamily(
            "bgbot_credits_refunded",
            "Credits refunded for failures",
            value=figures.credits_refunded,
        )
        yield GaugeMetricFamily("bgbot_accounts", "Accounts", value=figures.accounts)


async def metrics(request: web.Request) -> web.Response:
    """Expose the service's figures for Prometheus, to its scraper only."""
    context = request.app[OPS]
    if not _may_read_metrics(request, context.metrics_token):
        return web.json_response(
            {"error": {"code": "unauthorized", "message": "send Authorization: Bearer <token>"}},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    figures = await read_metrics(context.uow())
    queues = await asyncio.to_thread(context.queue_depth)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(figures, queues))
    return web.Response(
        body=generate_latest(registry),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _may_read_metrics(request: web.Request, token: str | None) -> bool:
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
    # Without a token, only a scraper on this machine: a request relayed by a proxy on this
    # machine carries a forwarding header and is refused.
    forwarded = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return request.remote in {"127.0.0.1", "::1"} and not forwarded


def add_ops_routes(app: web.Application, context: OpsContext) -> None:
    app[OPS] = context
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
