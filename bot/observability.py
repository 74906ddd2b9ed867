"""Log format for every process (one line of key=value fields) and request ids."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class TagRequest(logging.Filter):
    """Add the id of the HTTP request being served (or "-") to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
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
    re.compile(r"\bbrp_[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9_-]{16,}"),
    re.compile(r"(?<=hub\.verify_token=)[^&\s\"']+"),
)
REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replace bot tokens and the given secrets in each record's message by a placeholder."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = message
        for pattern in SECRET_PATTERNS:
            cleaned = pattern.sub(REDACTED, cleaned)
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


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


def configure_logging(level: str) -> None:
    """Send every logger's records through one request-tagging format."""
    handler = logging.StreamHandler()
    handler.addFilter(TagRequest())
    handler.addFilter(RedactSecrets())
    handler.setFormatter(
        logging.Formatter(
            "time=%(asctime)s level=%(levelname)s logger=%(name)s "
            "request=%(request_id)s msg=%(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@web.middleware
async def request_ids(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tag the request's log lines and response with an id (the caller's, if it sent one)."""
    given = request.headers.get("X-Request-ID", "")
    request_id = given if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", given) else uuid.uuid4().hex
    token = REQUEST_ID.set(request_id)
    try:
        response = await handler(request)
    finally:
        REQUEST_ID.reset(token)
    response.headers["X-Request-ID"] = request_id
    return response
