"""The HTTP API under /api/background-remover/: the same accounts, credits and jobs as the chats.

Routes translate: they parse the request, call one service function and render JSON. Errors
are JSON too, `{"error": {"code": ..., "message": ...}}`, with a stable code per failure.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from aiolimiter import AsyncLimiter

from db.uow import UnitOfWork
from services.api_keys import InvalidApiKey, authenticate
from services.clock import utcnow
from services.errors import ServiceError
from services.history import get_batch, get_job, list_jobs
from services.pricing import MAX_BATCH_IMAGES, BatchTooLarge, Tier, batch_price
from services.settings import Settings
from services.stats import account_stats
from services.subscriptions import cancel, current_plan

log = logging.getLogger(__name__)

PREFIX = "/api/background-remover"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Service error codes and the HTTP status each one is answered with; anything else is 400.
STATUS_BY_CODE = {
    "invalid_api_key": 401,
    "not_found": 404,
    "account_not_found": 404,
    "quote_not_found": 404,
    "no_active_subscription": 404,
    "cannot_afford": 402,
    "quote_already_used": 409,
    "quote_expired": 409,
    "rate_limited": 429,
    "payload_too_large": 413,
}


class ApiError(ServiceError):
    """A request the API itself refuses, with its code and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class ApiContext:
    """What the API's routes share, built once by the web process's composition root."""

    settings: Settings
    uow: Callable[[], UnitOfWork]
    requests_per_minute: int = 60
    limiters: dict[int, AsyncLimiter] = field(default_factory=dict)

    def limiter(self, account_id: int) -> AsyncLimiter:
        # One bucket per account in this process, created on first use.
        if account_id not in self.limiters:
            self.limiters[account_id] = AsyncLimiter(self.requests_per_minute, 60)
        return self.limiters[account_id]


API = web.AppKey("api", ApiContext)
ACCOUNT_ID = web.RequestKey("account_id", int)


def error_response(code: str, message: str, status: int) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure of the API as JSON with a stable code."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.code, str(error), error.status)
    except ServiceError as error:
        return error_response(error.code, str(error), STATUS_BY_CODE.get(error.code, 400))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.lower().replace(" ", "_")
        return error_response(code, error.reason, error.status)


@web.middleware
async def require_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate `Authorization: Bearer KEY` and apply the key's account rate limit."""
    context = request.app[API]
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise InvalidApiKey("send Authorization: Bearer <your API key>")
    account_id = await authenticate(context.uow(), secret.strip(), now=utcnow())
    limiter = context.limiter(account_id)
    if not limiter.has_capacity():
        raise ApiError("rate_limited", "too many requests; slow down", 429)
    await limiter.acquire()
    request[ACCOUNT_ID] = account_id
    return await handler(request)


def _json_ready(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _json_ready(asdict(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def render(value: Any, status: int = 200) -> web.Response:
    return web.json_response(_json_ready(value), status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ApiError("invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("invalid_json", "the body must be a JSON object")
    return body


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError("invalid_parameter", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _path_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError("not_found", f"no such {name}", 404)
    return int(raw)


async def calculate_price(request: web.Request) -> web.Response:
    """Price a batch of `count` images of `tier`."""
    body = await _body(request)
    try:
        tier = Tier(str(body.get("tier")))
    except ValueError:
        raise ApiError("invalid_tier", f"tier must be one of {', '.join(Tier)}") from None
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        raise ApiError("invalid_count", f"count must be an integer from 1 to {MAX_BATCH_IMAGES}")
    try:
        price = batch_price(tier, count)
    except (BatchTooLarge, ValueError) as error:
        raise ApiError("invalid_count", str(error)) from None
    credit_price = request.app[API].settings.credit_price_rp
    return render(
        {
            "tier": tier.value,
            "count": count,
            "credits_per_image": tier.credits_per_image,
            "discount_percent": price.discount_percent,
            "gross_credits": price.gross_credits,
            "credits": price.credits,
            "saved_credits": price.saved_credits,
            "rupiah": price.credits * credit_price,
        }
    )


async def get_stats(request: web.Request) -> web.Response:
    """Return the account's totals."""
    context = request.app[API]
    stats = await account_stats(
        context.uow(), request[ACCOUNT_ID], zone=context.settings.zone, now=utcnow()
    )
    return render(
        {
            "images_by_tier": {tier.value: n for tier, n in stats.images_by_tier.items()},
            "images_total": stats.images_total,
            "credits_spent": stats.credits_spent,
            "saved_by_discounts": stats.saved_by_discounts,
            "balance": stats.balance,
            "plan": stats.plan.value if stats.plan else None,
            "quota_left_today": stats.quota_left_today,
        }
    )


def _plan_json(status: Any) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "plan": status.plan.code.value,
        "daily_removals": status.plan.daily_removals,
        "tiers": sorted(tier.value for tier in status.plan.tiers),
        "period_end": status.period_end,
        "auto_renew": status.auto_renew,
        "cancelled": status.cancelled,
    }


async def get_subscription(request: web.Request) -> web.Response:
    """Return the account's plan, or null."""
    status = await current_plan(request.app[API].uow(), request[ACCOUNT_ID], utcnow())
    return render({"subscription": _plan_json(status)})


async def delete_subscription(request: web.Request) -> web.Response:
    """Cancel renewal; the plan stays active until its paid period ends."""
    status = await cancel(request.app[API].uow(), request[ACCOUNT_ID], now=utcnow())
    return render({"subscription": _plan_json(status)})


async def get_batch_status(request: web.Request) -> web.Response:
    """Return a batch's progress and outcome."""
    view = await get_batch(
        request.app[API].uow(), request[ACCOUNT_ID], _path_id(request, "batch_id")
    )
    return render(view)


async def get_jobs(request: web.Request) -> web.Response:
    """Return a page of the account's jobs, newest first."""
    page = _int_query(request, "page", 1, 1, 100_000)
    per_page = _int_query(request, "per_page", 20, 1, 100)
    jobs, total = await list_jobs(
        request.app[API].uow(), request[ACCOUNT_ID], limit=per_page, offset=(page - 1) * per_page
    )
    return render({"jobs": jobs, "page": page, "per_page": per_page, "total": total})


async def get_job_detail(request: web.Request) -> web.Response:
    """Return one job."""
    view = await get_job(request.app[API].uow(), request[ACCOUNT_ID], _path_id(request, "job_id"))
    return render(view)


def build_api(context: ApiContext) -> web.Application:
    """Build the API sub-application, mounted at PREFIX by the web process."""
    api = web.Application(middlewares=[json_errors, require_key], client_max_size=64 * 2**20)
    api[API] = context
    api.router.add_post("/pricing/calculate", calculate_price)
    api.router.add_get("/stats", get_stats)
    api.router.add_get("/subscription", get_subscription)
    api.router.add_delete("/subscription", delete_subscription)
    api.router.add_get("/batch/{batch_id}", get_batch_status)
    api.router.add_get("/jobs", get_jobs)
    api.router.add_get("/jobs/{job_id}", get_job_detail)
    return api
