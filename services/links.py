"""Private, expiring download links to result files, bound to the account that owns them.

A link carries the account, the file's path under DATA_DIR and an expiry, signed with HMAC-SHA256
under a server secret; nothing is stored, and changing any part breaks the signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from services.errors import ServiceError


class InvalidLink(ServiceError):
    """A link that was altered, expired, or points outside the result store."""

    code = "invalid_link"


@dataclass(frozen=True, slots=True)
class LinkTarget:
    account_id: int
    path: str  # relative to DATA_DIR, POSIX form
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_link(secret: bytes, target: LinkTarget) -> str:
    """Return the token of a link to `target`."""
    payload = json.dumps(
        [target.account_id, target.path, int(target.expires_at.timestamp())],
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def open_link(secret: bytes, token: str, *, now: datetime) -> LinkTarget:
    """Check a link's token and return what it points to.

    Raises:
        InvalidLink: when the token is malformed, altered, expired or escapes the store.
    """
    try:
        payload_part, signature_part = token.split(".")
        payload, signature = _unb64(payload_part), _unb64(signature_part)
    except ValueError:
        raise InvalidLink("malformed link") from None
    expected = hmac.new(secret, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidLink("link signature does not match")
    account_id, path, expires = json.loads(payload)
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= now:
        raise InvalidLink("link expired")
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise InvalidLink("link points outside the result store")
    return LinkTarget(int(account_id), str(relative), expires_at)


def resolve_file(data_dir: Path, target: LinkTarget) -> Path:
    """The file on disk a checked link names.

    Raises:
        InvalidLink: when the file is gone (deleted after the retention period).
    """
    path = data_dir / target.path
    if not path.is_file():
        raise InvalidLink("the file is no longer kept")
    return path
