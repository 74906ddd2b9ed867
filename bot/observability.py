"""Log format for every process, and request ids from the HTTP request to the worker's job.

Each record is one line: key=value fields by default, a JSON object with LOG_FORMAT=json.
A traceback is one field of its record (newlines escaped), so a log shipper that reads line
by line never splits a record, and grep finds a failure with its request id.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from services.tracing import NO_REQUEST, REQUEST_ID

__all__ = ["REQUEST_ID", "RequestAccessLogger", "configure_logging", "request_ids"]

LogFormat = Literal["text", "json"]

# The key of the request id on a request, for the access logger, which runs after the
# middleware has left the request's context.
REQUEST_ID_KEY = web.RequestKey("request_id", str)
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class TagRequest(logging.Filter):
    """Add the id of the request being served (or "-") to records that do not carry one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


# A Telegram bot token: the bot's numeric id, a colon and a 35-character secret. HTTP clients
# log request URLs, and the Bot API puts the token in every URL.
BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# API keys and callback secrets go to people in chat messages, which HTTP clients log at
# DEBUG with their parameters; the verify token arrives in the webhook's query string, which
# the access log writes (percent-encoded, so no literal match would catch every form).
SECRET_PATTERNS = (
    BOT_TOKEN,
    # No word boundary before them: a logged dict's repr writes a newline as backslash-n, so
    # a secret on its own line follows an "n" ("...:\\nwhsec_...").
    re.compile(r"brp_[A-Za-z0-9_-]{16,}"),
    re.compile(r"whsec_[A-Za-z0-9_-]{16,}"),
    re.compile(r"(?<=hub\.verify_token=)[^&\s\"']+"),
)
REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replace bot tokens and the given secrets in each record's message by a placeholder."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def redact(self, text: str) -> str:
        cleaned = text
        for pattern in SECRET_PATTERNS:
            cleaned = pattern.sub(REDACTED, cleaned)
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        return cleaned

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A traceback quotes URLs and arguments too (an HTTP client's error names the URL,
        # token included): format it now, cleaned, where the formatter will reuse it.
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


_TRACEBACKS = logging.Formatter()


def protect_secrets(*secrets: str) -> None:
    """Keep secrets out of every handler the root logger has now (and quiet HTTP clients).

    Called by each process that holds the bot token, after its logging is configured: the
    web process, and worker processes whose logging Dramatiq's command set up.
    """
    # httpx logs each request URL, token included, at INFO: only its warnings are worth having.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        existing = [f for f in handler.filters if isinstance(f, RedactSecrets)]
        for old in existing:
            handler.removeFilter(old)
        known = tuple(s for old in existing for s in old.secrets)
        handler.addFilter(RedactSecrets(known + secrets))


def _fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, Any]:
    """A record's fields in their printed order; the traceback, if any, as one string."""
    fields: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "request": getattr(record, "request_id", NO_REQUEST),
        "msg": record.getMessage(),
    }
    fields.update(getattr(record, "fields", {}))
    # Formatted once per record and cached, as the standard formatter does.
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        fields["exc"] = record.exc_text
    if record.stack_info:
        fields["stack"] = formatter.formatStack(record.stack_info)
    return fields


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record, self), ensure_ascii=False, default=str)


_BARE = re.compile(r"[^\s\"=\\]+")


class KeyValueLines(logging.Formatter):
    """One `key=value` line per record; a value with spaces, quotes or newlines is quoted."""

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _fields(record, self).items():
            text = str(value)
            shown = text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={shown}")
        return " ".join(parts)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Send every logger's records through one request-tagging, one-line format."""
    handler = logging.StreamHandler()
    handler.addFilter(TagRequest())
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonLines() if log_format == "json" else KeyValueLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@web.middleware
async def request_ids(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tag the request's log lines and response with an id (the caller's, if it sent one)."""
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    token = REQUEST_ID.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as answer:
        # Refusals raised as exceptions (404, 405, 401) are answers too: tag them alike.
        answer.headers["X-Request-ID"] = request_id
        raise
    finally:
        REQUEST_ID.reset(token)
    response.headers["X-Request-ID"] = request_id
    return response


def _loggable_path(request: BaseRequest) -> str:
    """The path without its query (webhook verify tokens) or a download link's token."""
    path = request.path
    match_info = getattr(request, "match_info", None)
    token = match_info.get("token") if match_info is not None else None
    return path.replace(token, REDACTED) if token else path


async def tag_telegram_update(update: object, context: object) -> None:
    """Name the Telegram update being handled `tg-<update id>` in the records it causes.

    Polling has no HTTP request, and a webhook's request ends before the update is handled:
    the update's own id is the request id of a chat action, and travels into its jobs.
    """
    update_id = getattr(update, "update_id", None)
    if update_id is not None:
        REQUEST_ID.set(f"tg-{update_id}")


class RequestAccessLogger(AbstractAccessLogger):
    """One access record per request, carrying the request id the middleware gave it."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time_taken: float) -> None:
        # A request refused before routing (malformed HTTP) never met the middleware.
        request_id = request.get(REQUEST_ID_KEY) or uuid.uuid4().hex
        remote = request.remote or "-"
        path = _loggable_path(request)
        self.logger.info(
            '%s "%s %s" %s %.1f ms',
            remote,
            request.method,
            path,
            response.status,
            time_taken * 1000,
            extra={
                "request_id": request_id,
                "fields": {
                    "method": request.method,
                    "path": path,
                    "status": response.status,
                    "duration_ms": round(time_taken * 1000, 1),
                    "bytes": response.body_length,
                    "remote": remote,
                },
            },
        )
