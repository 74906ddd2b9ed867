"""The HTTP API under /api/background-remover/: the same accounts, credits and jobs as the chats.

Routes translate: they parse the request, call one service function and render JSON. Errors
are JSON too, `{"error": {"code": ..., "message": ...}}`, with a stable code per failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiolimiter import AsyncLimiter

from bot.messages import text
from db.uow import UnitOfWork
from services.api_keys import InvalidApiKey, authenticate
from services.billing import AcceptedBatch, QuoteOffer, accept_quote
from services.clock import utcnow
from services.errors import ServiceError
from services.history import get_batch, get_job, list_jobs
from services.imaging.compose import InvalidOptions, OutputOptions
from services.plans import PlanCode
from services.pricing import MAX_BATCH_IMAGES, BatchTooLarge, Tier, batch_price
from services.settings import Settings
from services.stats import account_stats
from services.subscriptions import buy_plan_with_credits, cancel, current_plan
from services.uploads import ReceivedFile, quote_upload

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
    "insufficient_balance": 402,
    "quote_already_used": 409,
    "quote_expired": 409,
    "rate_limited": 429,
    "payload_too_large": 413,
    "nothing_to_process": 422,
    "too_many_images": 413,
    "tier_unavailable": 503,
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
    submit: Callable[[AcceptedBatch], Awaitable[bool]]
    requests_per_minute: int = 60
    removal_wait_seconds: float = 120.0
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


def _check_available(tier: Tier, available: frozenset[Tier]) -> None:
    if tier not in available:
        raise ApiError(
            "tier_unavailable",
            f"the {tier.value} tier cannot run on this server now (its model is missing); "
            f"available: {', '.join(t.value for t in Tier if t in available) or 'none'}",
            503,
        )


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
    settings = request.app[API].settings
    credit_price = settings.credit_price_rp
    return render(
        {
            "tier": tier.value,
            "purpose": text(f"tier.{tier.value}.purpose", "en"),
            # False: this server cannot run the tier now; /remove and /batch refuse it (503).
            "available": tier in settings.available_tiers(),
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


async def post_subscription(request: web.Request) -> web.Response:
    """Buy a plan's month with credits; an Idempotency-Key header makes a retry charge once."""
    context = request.app[API]
    body = await _body(request)
    plan = body.get("plan")
    if plan not in {code.value for code in PlanCode}:
        raise ApiError("invalid_plan", f"plan must be one of {', '.join(PlanCode)}")
    status = await buy_plan_with_credits(
        context.uow(),
        request[ACCOUNT_ID],
        plan,
        credit_price_rp=context.settings.credit_price_rp,
        request_key=request.headers.get("Idempotency-Key") or secrets.token_hex(16),
        now=utcnow(),
    )
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


@dataclass(frozen=True, slots=True)
class _Upload:
    files: list[ReceivedFile]
    fields: dict[str, str]


async def _read_upload(request: web.Request, *, max_files: int) -> _Upload:
    """Stream the multipart files to the inbox, each under the size limit, and read fields."""
    try:
        return await _stream_upload(request, max_files=max_files)
    except (HttpProcessingError, ValueError) as error:
        raise ApiError("invalid_body", f"malformed multipart body: {error}") from None


async def _stream_upload(request: web.Request, *, max_files: int) -> _Upload:
    context = request.app[API]
    settings = context.settings
    if not request.content_type.startswith("multipart/"):
        raise ApiError("invalid_body", "send multipart/form-data with the image file(s)")
    directory = settings.data_dir / "inbox" / str(request[ACCOUNT_ID]) / secrets.token_hex(8)
    upload = _Upload([], {})
    limit = (settings.max_image_mb if max_files == 1 else settings.max_upload_mb) * 2**20
    total = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is None:
            upload.fields[part.name] = (await part.read(decode=True)).decode()[:2048]
            continue
        if len(upload.files) >= max_files:
            raise ApiError("too_many_files", f"send at most {max_files} file(s)")
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{len(upload.files):04d}"
        size = 0
        with target.open("wb") as sink:
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                total += len(chunk)
                if size > limit or total > settings.max_upload_mb * 2**20:
                    raise ApiError("payload_too_large", "a file is over the size limit", 413)
                await asyncio.to_thread(sink.write, chunk)
        upload.files.append(ReceivedFile(PurePath(part.filename).name or "image", target))
    if not upload.files:
        raise ApiError("missing_file", "attach at least one image file")
    return upload


def _options(fields: dict[str, str]) -> dict[str, Any]:
    flags = {"crop", "square", "marketplace"}
    values: dict[str, Any] = {
        k: fields[k].lower() in {"1", "true", "yes"} for k in flags if k in fields
    }
    if "background" in fields:
        values["background"] = fields["background"] or None
    if "format" in fields:
        values["format"] = fields["format"]
    try:
        return OutputOptions(**values).to_dict()
    except InvalidOptions as error:
        raise ApiError("invalid_options", str(error)) from None


def _tier(fields: dict[str, str]) -> Tier:
    try:
        return Tier(fields.get("tier", "basic"))
    except ValueError:
        raise ApiError("invalid_tier", f"tier must be one of {', '.join(Tier)}") from None


async def _start(
    request: web.Request, upload: _Upload, chat: dict[str, Any]
) -> tuple[AcceptedBatch, QuoteOffer]:
    context = request.app[API]
    settings = context.settings
    tier, options = _tier(upload.fields), _options(upload.fields)
    available = settings.available_tiers()
    _check_available(tier, available)
    account_id = request[ACCOUNT_ID]
    offer = await quote_upload(
        context.uow(),
        account_id,
        upload.files,
        data_dir=settings.data_dir,
        limits=settings.intake_limits(),
        archive_limits=settings.archive_limits(),
        channel="api",
        chat=chat,
        ttl=timedelta(minutes=5),
        zone=settings.zone,
        now=utcnow(),
    )
    accepted = await accept_quote(
        context.uow(),
        offer.quote_id,
        account_id,
        tier,
        zone=settings.zone,
        now=utcnow(),
        output_options=options,
        available=available,
    )
    await context.submit(accepted)
    return accepted, offer


def _key_hash(request: web.Request) -> str:
    secret = request.headers["Authorization"].partition(" ")[2].strip()
    return hashlib.sha256(secret.encode()).hexdigest()


async def remove_single(request: web.Request) -> web.StreamResponse:
    """Cut out one image and answer with the result file (or 202 while it is still running)."""
    context = request.app[API]
    upload = await _read_upload(request, max_files=1)
    accepted, _ = await _start(request, upload, {"language": "en"})
    deadline = asyncio.get_running_loop().time() + context.removal_wait_seconds
    while asyncio.get_running_loop().time() < deadline:
        view = await get_batch(context.uow(), request[ACCOUNT_ID], accepted.batch_id)
        if view.results:
            return web.FileResponse(
                context.settings.data_dir / view.results[0],
                headers={"X-Batch-Id": str(view.batch_id)},
            )
        # A finished batch has its result file a moment after its status changes: only a
        # batch whose every image failed is an answer without a file.
        if view.failed == view.image_count and not view.results:
            job = (await list_jobs(context.uow(), request[ACCOUNT_ID], limit=1, offset=0))[0][0]
            raise ApiError("image_failed", f"the image could not be processed: {job.error}", 422)
        await asyncio.sleep(0.25)
    return render({"batch_id": accepted.batch_id, "status": "queued"}, status=202)


async def start_batch(request: web.Request) -> web.Response:
    """Start a batch from several images or one ZIP; optionally call back when it finishes."""
    upload = await _read_upload(request, max_files=MAX_BATCH_IMAGES)
    callback = upload.fields.get("callback_url") or None
    if callback is not None and not callback.startswith(("http://", "https://")):
        raise ApiError("invalid_callback_url", "callback_url must be an http(s) URL")
    chat = {"language": "en", "callback_url": callback, "key_hash": _key_hash(request)}
    accepted, offer = await _start(request, upload, chat)
    return render(
        {
            "batch_id": accepted.batch_id,
            "status": "queued",
            "image_count": offer.image_count,
            "tier": accepted.tier.value,
            "paid_with": accepted.paid_with.value,
            "credits_charged": accepted.credits_charged,
            "rejected": list(offer.rejected),
            "status_url": f"{PREFIX}/batch/{accepted.batch_id}",
            "download_url": f"{PREFIX}/batch/{accepted.batch_id}/download",
        },
        status=202,
    )


async def download_batch(request: web.Request) -> web.StreamResponse:
    """Send a finished batch's result: its PNG, its ZIP, or part N of a split ZIP."""
    context = request.app[API]
    view = await get_batch(context.uow(), request[ACCOUNT_ID], _path_id(request, "batch_id"))
    if not view.results:
        raise ApiError("not_ready", "the batch has no results yet, or they were deleted", 409)
    part = _int_query(request, "part", 1, 1, len(view.results))
    path = context.settings.data_dir / view.results[part - 1]
    if not path.is_file():
        raise ApiError("results_gone", "the results were deleted after the retention period", 410)
    return web.FileResponse(
        path,
        headers={
            "X-Parts": str(len(view.results)),
            "Content-Disposition": f'attachment; filename="{path.name}"',
        },
    )


def build_api(context: ApiContext) -> web.Application:
    """Build the API sub-application, mounted at PREFIX by the web process."""
    api = web.Application(middlewares=[json_errors, require_key])
    api[API] = context
    api.router.add_post("/remove", remove_single)
    api.router.add_post("/batch", start_batch)
    api.router.add_get("/batch/{batch_id}/download", download_batch)
    api.router.add_post("/pricing/calculate", calculate_price)
    api.router.add_get("/stats", get_stats)
    api.router.add_get("/subscription", get_subscription)
    api.router.add_post("/subscription", post_subscription)
    api.router.add_delete("/subscription", delete_subscription)
    api.router.add_get("/batch/{batch_id}", get_batch_status)
    api.router.add_get("/jobs", get_jobs)
    api.router.add_get("/jobs/{job_id}", get_job_detail)
    return api
