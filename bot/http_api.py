"""The HTTP API under /api/background-remover/: the same accounts, credits and jobs as the chats.

Routes translate: they parse the request, call one service function and render JSON. Errors
are JSON too, `{"error": {"code": ..., "message": ...}}`, with a stable code per failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.messages import reason, text
from bot.rate_limit import AccountRateLimit
from db.models import BatchStatus
from db.uow import UnitOfWork
from services.api_keys import (
    InvalidApiKey,
    authenticate,
    callback_signing_key,
    ensure_callback_secret,
    rotate_callback_secret,
)
from services.billing import AcceptedBatch, QuoteOffer, accept_quote
from services.callback_urls import UnsafeCallbackUrl, check_callback_url
from services.clock import utcnow
from services.errors import ServiceError
from services.history import BatchView, batch_jobs, get_batch, get_job, list_jobs
from services.idempotency import (
    FirstAnswer,
    bind_quote,
    checked_key,
    claim,
    complete,
    fingerprint,
    release,
)
from services.imaging.compose import InvalidOptions, OutputOptions
from services.plans import PlanCode
from services.pricing import MAX_BATCH_IMAGES, BatchTooLarge, Tier, batch_price
from services.settings import Settings
from services.stats import account_stats
from services.subscriptions import buy_plan_with_credits, cancel, current_plan
from services.uploads import (
    NothingToProcess,
    ReceivedFile,
    account_stored_bytes,
    discard_quote,
    quote_upload,
)

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
    "invalid_idempotency_key": 400,
    "idempotency_key_reused": 409,
    "idempotency_key_in_use": 409,
    "tier_unavailable": 503,
}


class ApiError(ServiceError):
    """A request the API itself refuses, with its code, HTTP status and any further fields."""

    def __init__(self, code: str, message: str, status: int = 400, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.details = details


@dataclass
class ApiContext:
    """What the API's routes share, built once by the web process's composition root."""

    settings: Settings
    uow: Callable[[], UnitOfWork]
    submit: Callable[[AcceptedBatch], Awaitable[bool]]
    requests_per_minute: int = 60
    removal_wait_seconds: float = 120.0
    _signing_key: bytes | None = None

    def signing_key(self) -> bytes:
        """The server-side key that callback signing secrets are derived with."""
        if self._signing_key is None:
            configured = self.settings.callback_signing_key
            self._signing_key = callback_signing_key(
                configured.get_secret_value() if configured else None, self.settings.data_dir
            )
        return self._signing_key

    # Shared by the web processes through Redis when the composition root sets it.
    rate_limit: AccountRateLimit | None = None

    def limiter(self) -> AccountRateLimit:
        if self.rate_limit is None:
            self.rate_limit = AccountRateLimit.in_process(self.requests_per_minute)
        return self.rate_limit


API = web.AppKey("api", ApiContext)
ACCOUNT_ID = web.RequestKey("account_id", int)


def error_response(code: str, message: str, status: int, **details: Any) -> web.Response:
    error = {"code": code, "message": message, **_json_ready(details)}
    return web.json_response({"error": error}, status=status)


def _refusals_text(rejected: list[dict[str, str]]) -> str:
    return "; ".join(f"{r['name']}: {reason(r['reason'], 'en')}" for r in rejected[:20])


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure of the API as JSON with a stable code."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.code, str(error), error.status, **error.details)
    except NothingToProcess as error:
        message = f"{error}: {_refusals_text(error.rejected)}"
        return error_response(error.code, message, 422, rejected=error.rejected)
    except ServiceError as error:
        return error_response(error.code, str(error), STATUS_BY_CODE.get(error.code, 400))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.lower().replace(" ", "_")
        return error_response(code, error.reason, error.status)
    except Exception:
        # Whatever went wrong, the client gets JSON; the traceback goes to the log.
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response("internal_error", "something went wrong on our side", 500)


@web.middleware
async def require_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate `Authorization: Bearer KEY` and apply the key's account rate limit."""
    context = request.app[API]
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise InvalidApiKey("send Authorization: Bearer <your API key>")
    account_id = await authenticate(context.uow(), secret.strip(), now=utcnow())
    if not await context.limiter().hit(account_id):
        raise ApiError("rate_limited", "too many requests; slow down", 429)
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
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_json", "the body is not valid JSON") from None
    except RecursionError:
        raise ApiError("invalid_json", "the body is nested too deeply") from None
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
    """Buy a plan's month with credits; an Idempotency-Key makes a retry return the first answer."""
    context = request.app[API]
    key = _idempotency_key(request)
    body = await _body(request)
    plan = body.get("plan")
    if plan not in {code.value for code in PlanCode}:
        raise ApiError("invalid_plan", f"plan must be one of {', '.join(PlanCode)}")
    account_id = request[ACCOUNT_ID]
    if key is not None:
        request_fingerprint = fingerprint("subscription", [json.dumps(body, sort_keys=True)])
        first = await _first_or_claim(request, key, "subscription", request_fingerprint, 30.0)
        if first is not None and first.body is not None:
            return web.json_response(first.body, status=first.status or 200)
    try:
        status = await buy_plan_with_credits(
            context.uow(),
            account_id,
            plan,
            credit_price_rp=context.settings.credit_price_rp,
            # The ledger's own key stays short whatever the client sent.
            request_key=hashlib.sha256(key.encode()).hexdigest() if key else secrets.token_hex(16),
            now=utcnow(),
        )
    except BaseException:
        if key is not None:
            await release(context.uow(), account_id, key)
        raise
    answer = {"subscription": _json_ready(_plan_json(status))}
    if key is not None:
        await complete(context.uow(), account_id, key, status=200, body=answer, now=utcnow())
    return web.json_response(answer)


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
    directory: Path
    files: list[ReceivedFile]
    fields: dict[str, str]
    digests: list[str]

    def fingerprint(self, route: str) -> str:
        """What the request asks for, whatever multipart boundary the client chose."""
        fields = [f"{name}={value}" for name, value in sorted(self.fields.items())]
        files = [f"{f.name}:{digest}" for f, digest in zip(self.files, self.digests, strict=True)]
        return fingerprint(route, [*fields, *files])

    def discard(self) -> None:
        """Delete what was written: a refused or repeated upload keeps nothing on disk."""
        shutil.rmtree(self.directory, ignore_errors=True)


async def _read_upload(request: web.Request, *, max_files: int) -> _Upload:
    """Stream the multipart files to the inbox, each under the size limit, and read fields."""
    context = request.app[API]
    settings = context.settings
    account_id = request[ACCOUNT_ID]
    limit = (settings.max_image_mb if max_files == 1 else settings.max_upload_mb) * 2**20
    # Refuse what announces itself as too large before a byte of it is written.
    if request.content_length is not None and request.content_length > limit + 2**20:
        raise ApiError("payload_too_large", "the upload is over the size limit", 413)
    stored = await asyncio.to_thread(account_stored_bytes, settings.data_dir, account_id)
    room = settings.max_stored_mb_per_account * 2**20 - stored
    if room <= 0:
        raise ApiError(
            "storage_full",
            "this account stores too many uploads; wait for running batches to finish",
            413,
        )
    directory = settings.data_dir / "inbox" / str(account_id) / secrets.token_hex(8)
    upload = _Upload(directory, [], {}, [])
    try:
        await _stream_upload(request, upload, max_files=max_files, limit=min(limit, room))
    except (HttpProcessingError, ValueError) as error:
        upload.discard()
        raise ApiError("invalid_body", f"malformed multipart body: {error}") from None
    except BaseException:
        upload.discard()
        raise
    return upload


def _write_and_hash(sink: BinaryIO, digest: Any, chunk: bytes) -> None:
    sink.write(chunk)
    digest.update(chunk)


async def _stream_upload(
    request: web.Request, upload: _Upload, *, max_files: int, limit: int
) -> None:
    settings = request.app[API].settings
    if not request.content_type.startswith("multipart/"):
        raise ApiError("invalid_body", "send multipart/form-data with the image file(s)")
    file_limit = settings.max_image_mb * 2**20 if max_files == 1 else limit
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
        upload.directory.mkdir(parents=True, exist_ok=True)
        target = upload.directory / f"{len(upload.files):04d}"
        name = PurePath(part.filename).name or "image"
        size = 0
        digest = hashlib.sha256()
        with target.open("wb") as sink:
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                total += len(chunk)
                if size > file_limit or total > limit:
                    raise ApiError(
                        "payload_too_large",
                        f"{name} is over the size limit",
                        413,
                        rejected=[{"name": name, "reason": "file_too_large"}],
                    )
                await asyncio.to_thread(_write_and_hash, sink, digest, chunk)
        upload.files.append(ReceivedFile(name, target))
        upload.digests.append(digest.hexdigest())
    if not upload.files:
        raise ApiError("missing_file", "attach at least one image file")


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


def _idempotency_key(request: web.Request) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    return None if raw is None else checked_key(raw)


async def _first_or_claim(
    request: web.Request, key: str, route: str, request_fingerprint: str, wait_seconds: float
) -> FirstAnswer | None:
    """None when this request is the first with `key`; else the first one's answer, waited
    for while it runs (a concurrent duplicate never runs, and never pays, twice)."""
    context = request.app[API]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        first = await claim(
            context.uow(),
            request[ACCOUNT_ID],
            key,
            route=route,
            request_fingerprint=request_fingerprint,
            now=utcnow(),
        )
        if first is None or first.completed or first.batch_id is not None:
            return first
        if loop.time() >= deadline:
            raise ApiError(
                "idempotency_key_in_use",
                "the first request with this Idempotency-Key is still running; retry later",
                409,
            )
        await asyncio.sleep(0.1)


async def _claim_for_upload(
    request: web.Request, upload: _Upload, key: str, route: str, wait_seconds: float
) -> FirstAnswer | None:
    """Claim `key` for this upload; a repeat's own copy of the files is deleted at once."""
    try:
        first = await _first_or_claim(request, key, route, upload.fingerprint(route), wait_seconds)
    except BaseException:
        upload.discard()
        raise
    if first is not None:
        upload.discard()
    return first


async def _start(
    request: web.Request, upload: _Upload, chat: dict[str, Any], key: str | None
) -> tuple[AcceptedBatch, QuoteOffer]:
    """Quote and charge an upload; the caller queues it. Whatever is refused leaves no file
    and no open quote."""
    context = request.app[API]
    settings = context.settings
    account_id = request[ACCOUNT_ID]
    offer: QuoteOffer | None = None
    try:
        tier, options = _tier(upload.fields), _options(upload.fields)
        available = settings.available_tiers()
        _check_available(tier, available)
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
        if key is not None:
            # Before the charge: a repeat finds the batch this quote pays for.
            await bind_quote(context.uow(), account_id, key, offer.quote_id)
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
    except BaseException:
        if offer is not None:
            await discard_quote(
                context.uow(), offer.quote_id, account_id, data_dir=settings.data_dir, now=utcnow()
            )
        upload.discard()
        if key is not None:
            await release(context.uow(), account_id, key)
        raise
    return accepted, offer


async def _removal_answer(request: web.Request, batch_id: int) -> web.StreamResponse:
    """Wait for a single removal and answer from its committed facts."""
    context = request.app[API]
    account_id = request[ACCOUNT_ID]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + context.removal_wait_seconds
    while loop.time() < deadline:
        view = await get_batch(context.uow(), account_id, batch_id)
        # Delivered means the settlement and the results are both committed: only then is
        # the answer final, so a paid success can never read as a failure.
        if view.status == BatchStatus.DELIVERED:
            if view.results:
                return web.FileResponse(
                    context.settings.data_dir / view.results[0],
                    headers={"X-Batch-Id": str(batch_id)},
                )
            jobs = await batch_jobs(context.uow(), account_id, batch_id)
            refusals = [{"name": j.input_name, "reason": j.error or "unknown"} for j in jobs]
            raise ApiError(
                "image_failed",
                f"the image could not be processed: {_refusals_text(refusals)}",
                422,
                batch_id=batch_id,
                rejected=refusals,
                refunded_credits=view.refunded_credits,
            )
        await asyncio.sleep(0.25)
    return render(
        {"batch_id": batch_id, "status": "processing", "status_url": f"{PREFIX}/batch/{batch_id}"},
        status=202,
    )


async def remove_single(request: web.Request) -> web.StreamResponse:
    """Cut out one image and answer with the result file (or 202 while it is still running)."""
    context = request.app[API]
    key = _idempotency_key(request)
    upload = await _read_upload(request, max_files=1)
    if key is not None:
        first = await _claim_for_upload(
            request, upload, key, "remove", context.removal_wait_seconds
        )
        if first is not None:
            if first.batch_id is None:
                return web.json_response(first.body, status=first.status or 200)
            return await _removal_answer(request, first.batch_id)
    accepted, _ = await _start(request, upload, {"language": "en"}, key)
    await context.submit(accepted)
    if key is not None:
        await complete(
            context.uow(),
            request[ACCOUNT_ID],
            key,
            status=200,
            body={"batch_id": accepted.batch_id},
            batch_id=accepted.batch_id,
            now=utcnow(),
        )
    return await _removal_answer(request, accepted.batch_id)


async def _registered_callback(request: web.Request, upload: _Upload) -> str | None:
    url = upload.fields.get("callback_url") or None
    if url is None:
        return None
    try:
        return await check_callback_url(url, request.app[API].settings.callback_allowed_hosts)
    except UnsafeCallbackUrl as error:
        upload.discard()
        raise ApiError("invalid_callback_url", str(error)) from None


async def start_batch(request: web.Request) -> web.Response:
    """Start a batch from several images or one ZIP; optionally call back when it finishes."""
    context = request.app[API]
    account_id = request[ACCOUNT_ID]
    key = _idempotency_key(request)
    upload = await _read_upload(request, max_files=MAX_BATCH_IMAGES)
    # Checked before the key is claimed: a refused URL leaves the key free for a corrected retry.
    callback = await _registered_callback(request, upload)
    if key is not None:
        first = await _claim_for_upload(request, upload, key, "batch", 60.0)
        if first is not None:
            if first.completed and first.body is not None:
                return web.json_response(first.body, status=first.status or 202)
            assert first.batch_id is not None
            return render(
                _batch_started(await get_batch(context.uow(), account_id, first.batch_id)), 202
            )
    accepted, offer = await _start(
        request, upload, {"language": "en", "callback_url": callback}, key
    )
    new_secret = None
    try:
        if callback is not None:
            # Only once the batch is paid, and before its jobs are queued, so the secret is
            # shown to the integrator and exists before the callback is signed.
            new_secret = await ensure_callback_secret(
                context.uow(), account_id, context.signing_key(), now=utcnow()
            )
    finally:
        await context.submit(accepted)
    body = {
        **_batch_started(await get_batch(context.uow(), account_id, accepted.batch_id)),
        "rejected": list(offer.rejected),
    }
    if key is not None:
        await complete(
            context.uow(),
            account_id,
            key,
            status=202,
            body=_json_ready(body),
            batch_id=accepted.batch_id,
            now=utcnow(),
        )
    if new_secret is not None:
        # Shown once, to the first request that needed it; never stored for a replay.
        body["callback_secret"] = new_secret
    return render(body, status=202)


def _batch_started(view: BatchView) -> dict[str, Any]:
    return {
        "batch_id": view.batch_id,
        "status": view.status,
        "image_count": view.image_count,
        "tier": view.tier,
        "paid_with": view.paid_with,
        "credits_charged": view.credits_charged,
        "rejected": [],
        "status_url": f"{PREFIX}/batch/{view.batch_id}",
        "download_url": f"{PREFIX}/batch/{view.batch_id}/download",
    }


async def rotate_secret(request: web.Request) -> web.Response:
    """Make a new callback signing secret, shown once; the old one stops at once."""
    context = request.app[API]
    secret = await rotate_callback_secret(
        context.uow(), request[ACCOUNT_ID], context.signing_key(), now=utcnow()
    )
    return render({"callback_secret": secret}, status=201)


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
    api.router.add_post("/callback-secret", rotate_secret)
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
