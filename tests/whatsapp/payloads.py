"""Webhook notifications in the Cloud API's shape, signed like Meta signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

WABA_ID = "102290129340398"
DISPLAY_NUMBER = "15550783881"


def message_id() -> str:
    return "wamid.HBgL" + secrets.token_hex(16).upper()


def _change(value: dict[str, Any], *, phone_number_id: str) -> bytes:
    """The webhook envelope of one `messages` change carrying `value`."""
    metadata = {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id}
    change = {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{**change, "field": "messages"}]}],
    }
    return json.dumps(payload).encode()


def notification(number: str, message: dict[str, Any], *, phone_number_id: str) -> bytes:
    """One `messages` change holding one message from `number`."""
    value = {
        "contacts": [{"profile": {"name": "Sari"}, "wa_id": number}],
        "messages": [{"from": number, "timestamp": str(int(time.time())), **message}],
    }
    return _change(value, phone_number_id=phone_number_id)


def status_notification(number: str, *, phone_number_id: str) -> bytes:
    """A delivery status: not a message, nothing to handle."""
    status = {
        "id": message_id(),
        "status": "delivered",
        "timestamp": str(int(time.time())),
        "recipient_id": number,
    }
    return _change({"statuses": [status]}, phone_number_id=phone_number_id)


def image(media_id: str, mid: str | None = None, caption: str | None = None) -> dict[str, Any]:
    content = {"mime_type": "image/jpeg", "sha256": secrets.token_hex(32), "id": media_id}
    if caption:
        content["caption"] = caption
    return {"id": mid or message_id(), "type": "image", "image": content}


def document(media_id: str, filename: str, mime_type: str) -> dict[str, Any]:
    return {
        "id": message_id(),
        "type": "document",
        "document": {
            "filename": filename,
            "mime_type": mime_type,
            "sha256": secrets.token_hex(32),
            "id": media_id,
        },
    }


def text(body: str) -> dict[str, Any]:
    return {"id": message_id(), "type": "text", "text": {"body": body}}


def list_reply(row_id: str, title: str, mid: str | None = None) -> dict[str, Any]:
    return {
        "id": mid or message_id(),
        "type": "interactive",
        "context": {"from": DISPLAY_NUMBER, "id": message_id()},
        "interactive": {"type": "list_reply", "list_reply": {"id": row_id, "title": title}},
    }


def button_reply(button_id: str, title: str) -> dict[str, Any]:
    return {
        "id": message_id(),
        "type": "interactive",
        "context": {"from": DISPLAY_NUMBER, "id": message_id()},
        "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
    }


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
