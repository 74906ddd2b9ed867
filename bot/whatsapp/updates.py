"""Reading Cloud API webhook bodies: the signature, and the messages inside a notification."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature_valid(app_secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is `sha256=` + HMAC-SHA256 of the raw body under the app secret."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret, body, hashlib.sha256).hexdigest()
    # Constant time: a timing difference would let a forger find the signature byte by byte.
    return hmac.compare_digest(expected.encode(), header.removeprefix("sha256=").encode())


class Kind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    DOCUMENT = "document"
    LIST_REPLY = "list_reply"
    BUTTON_REPLY = "button_reply"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message a person sent, as much of it as the channel uses."""

    message_id: str
    number: str  # the sender's wa_id, digits only
    name: str
    sent_at: datetime
    kind: Kind
    text: str = ""  # a text's body, or a reply's row id
    media_id: str = ""
    mime_type: str = ""
    filename: str = ""

    def to_payload(self) -> dict[str, str]:
        """The message as JSON-ready text fields, kept until a job handles it."""
        return {**asdict(self), "sent_at": self.sent_at.isoformat(), "kind": self.kind.value}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Inbound:
        values = dict(payload)
        values["sent_at"] = datetime.fromisoformat(values["sent_at"])
        values["kind"] = Kind(values["kind"])
        return cls(**values)


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _parse(message: Mapping[str, Any], names: Mapping[str, str]) -> Inbound:
    number = str(message.get("from", ""))
    inbound = Inbound(
        message_id=str(message["id"]),
        number=number,
        name=names.get(number, ""),
        sent_at=_timestamp(message.get("timestamp")),
        kind=Kind.OTHER,
    )
    kind = message.get("type")
    if kind == "text":
        return replace(inbound, kind=Kind.TEXT, text=str(message["text"].get("body", "")))
    if kind in ("image", "document"):
        media = message[kind]
        return replace(
            inbound,
            kind=Kind.IMAGE if kind == "image" else Kind.DOCUMENT,
            media_id=str(media["id"]),
            mime_type=str(media.get("mime_type", "")),
            filename=str(media.get("filename", "")),
            text=str(media.get("caption", "")),
        )
    if kind == "interactive":
        interactive = message["interactive"]
        reply_kind = interactive.get("type")
        if reply_kind in ("list_reply", "button_reply"):
            return replace(inbound, kind=Kind(reply_kind), text=str(interactive[reply_kind]["id"]))
    return inbound


def messages_of(payload: Mapping[str, Any]) -> Iterator[Inbound]:
    """The people's messages in a notification; delivery statuses and other fields are skipped."""
    if payload.get("object") != "whatsapp_business_account":
        return
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            if change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            names = {
                str(contact.get("wa_id")): str((contact.get("profile") or {}).get("name", ""))
                for contact in value.get("contacts") or []
            }
            for message in value.get("messages") or []:
                if "id" in message and "from" in message:
                    yield _parse(message, names)
