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


def configure_logging(level: str) -> None:
    """Send every logger's records through one request-tagging format."""
    handler = logging.StreamHandler()
    handler.addFilter(TagRequest())
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
