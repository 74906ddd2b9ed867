"""The id of the request whose work is running, carried to every log record it causes.

A context variable: set by the web process for each HTTP request, copied into the queue
messages that request sends, and set again by the worker that runs them.
"""

from __future__ import annotations

import contextvars

NO_REQUEST = "-"

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default=NO_REQUEST)


def current_request_id() -> str:
    """The running request's id, or "-" outside any request."""
    return REQUEST_ID.get()
