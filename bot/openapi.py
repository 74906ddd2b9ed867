"""The HTTP API's OpenAPI 3.1 document, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from services.pricing import MAX_BATCH_IMAGES, Tier

_ERROR = {"$ref": "#/components/responses/Error"}
_TIERS = [tier.value for tier in Tier]


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


_INT = {"type": "integer"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "the same key and request within 24 hours returns the first answer and "
    "moves no money; the same key with another request is 409",
}

_UPLOAD_FIELDS = {
    "tier": {"type": "string", "enum": _TIERS, "default": "basic"},
    "background": {"type": "string", "description": "white, black or #RRGGBB; empty: none"},
    "crop": {"type": "string", "enum": ["true", "false"]},
    "square": {"type": "string", "enum": ["true", "false"]},
    "marketplace": {"type": "string", "enum": ["true", "false"]},
    "format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
}

_BATCH = _obj(
    batch_id=_INT,
    tier=_STR,
    status=_STR,
    image_count=_INT,
    done=_INT,
    failed=_INT,
    credits_charged=_INT,
    refunded_credits=_INT,
    paid_with=_STR,
    discount_percent=_INT,
    created_at=_TIME,
    delivered_at=_NULLABLE_TIME,
    results={"type": "array", "items": _STR},
    channel=_STR,
    callback={
        "type": ["object", "null"],
        "properties": {
            "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": _INT,
        },
    },
)
_JOB = _obj(
    job_id=_INT,
    batch_id=_INT,
    position=_INT,
    input_name=_STR,
    status=_STR,
    error={"type": ["string", "null"]},
    tier=_STR,
    created_at=_TIME,
    finished_at=_NULLABLE_TIME,
    has_result=_BOOL,
)
_PLAN = {
    "type": ["object", "null"],
    "properties": {
        "plan": _STR,
        "daily_removals": _INT,
        "tiers": {"type": "array", "items": _STR},
        "period_end": _TIME,
        "auto_renew": _BOOL,
        "cancelled": _BOOL,
    },
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _ERROR for status in (400, 401, 429, *statuses)}


def openapi_document(prefix: str) -> dict[str, Any]:
    """Describe every route of the API under `prefix`."""
    binary = {"type": "string", "format": "binary"}
    paths: dict[str, Any] = {
        "/remove": {
            "post": {
                "summary": "Remove the background of one image",
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["image"],
                                "properties": {"image": binary, **_UPLOAD_FIELDS},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The result file",
                        "content": {"image/png": {"schema": binary}},
                    },
                    "202": _json(_obj(batch_id=_INT, status=_STR), "Still running"),
                    **_errors(402, 409, 413, 422, 503),
                },
            }
        },
        "/batch": {
            "post": {
                "summary": "Start a batch from images or one ZIP",
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["images"],
                                "properties": {
                                    "images": {
                                        "type": "array",
                                        "items": binary,
                                        "maxItems": MAX_BATCH_IMAGES,
                                    },
                                    "callback_url": {"type": "string", "format": "uri"},
                                    **_UPLOAD_FIELDS,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json(
                        _obj(
                            batch_id=_INT,
                            status=_STR,
                            image_count=_INT,
                            tier=_STR,
                            paid_with=_STR,
                            credits_charged=_INT,
                            rejected={"type": "array"},
                            status_url=_STR,
                            download_url=_STR,
                            callback_secret=_STR,
                        ),
                        "Accepted; callback_secret only when this batch made the account's "
                        "first one (shown once)",
                    ),
                    **_errors(402, 409, 413, 422, 503),
                },
            }
        },
        "/batch/{id}": {
            "get": {
                "summary": "A batch's progress and outcome",
                "parameters": [_ID],
                "responses": {"200": _json(_BATCH), **_errors(404)},
            }
        },
        "/batch/{id}/download": {
            "get": {
                "summary": "A finished batch's PNG, ZIP or ZIP part",
                "parameters": [
                    _ID,
                    {"name": "part", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {
                            "application/zip": {"schema": binary},
                            "image/png": {"schema": binary},
                        },
                    },
                    **_errors(404, 409, 410),
                },
            }
        },
        "/jobs": {
            "get": {
                "summary": "The account's jobs, newest first",
                "parameters": [
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": _json(
                        _obj(
                            jobs={"type": "array", "items": _JOB},
                            page=_INT,
                            per_page=_INT,
                            total=_INT,
                        )
                    ),
                    **_errors(),
                },
            }
        },
        "/jobs/{id}": {
            "get": {
                "summary": "One job",
                "parameters": [_ID],
                "responses": {"200": _json(_JOB), **_errors(404)},
            }
        },
        "/subscription": {
            "get": {
                "summary": "The account's plan",
                "responses": {"200": _json(_obj(subscription=_PLAN)), **_errors()},
            },
            "post": {
                "summary": "Buy a plan for 30 days with credits",
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["plan"],
                                "properties": {
                                    "plan": {"type": "string", "enum": ["starter", "pro"]}
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_obj(subscription=_PLAN)), **_errors(402, 409)},
            },
            "delete": {
                "summary": "Stop renewal; the plan stays until its period ends",
                "responses": {"200": _json(_obj(subscription=_PLAN)), **_errors(404)},
            },
        },
        "/callback-secret": {
            "post": {
                "summary": "Make a new callback signing secret (shown once; the old one stops)",
                "responses": {"201": _json(_obj(callback_secret=_STR), "Created"), **_errors()},
            }
        },
        "/pricing/calculate": {
            "post": {
                "summary": "Price a batch",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["tier", "count"],
                                "properties": {
                                    "tier": {"type": "string", "enum": _TIERS},
                                    "count": {
                                        "type": "integer",
                                        "minimum": 1,
                                        "maximum": MAX_BATCH_IMAGES,
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        _obj(
                            tier=_STR,
                            purpose=_STR,
                            available=_BOOL,
                            count=_INT,
                            credits_per_image=_INT,
                            discount_percent=_INT,
                            gross_credits=_INT,
                            credits=_INT,
                            saved_credits=_INT,
                            rupiah=_INT,
                        )
                    ),
                    **_errors(),
                },
            }
        },
        "/stats": {
            "get": {
                "summary": "The account's totals",
                "responses": {
                    "200": _json(
                        _obj(
                            images_by_tier={"type": "object"},
                            images_total=_INT,
                            credits_spent=_INT,
                            saved_by_discounts=_INT,
                            balance=_INT,
                            plan={"type": ["string", "null"]},
                            quota_left_today=_INT,
                        )
                    ),
                    **_errors(),
                },
            }
        },
    }
    paths.update(_payment_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Background Remover Pro API",
            "version": "1.0.0",
            "description": "Personal API keys come from the Telegram bot's /apikey command. "
            "A batch's callback_url (https, public addresses) is called when its results are "
            "ready, with a JSON body signed as X-Signature-256: "
            "sha256=HMAC-SHA256(key=the account's callback secret, body).",
        },
        "servers": [{"url": prefix}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": _json(_obj(error=_obj(code=_STR, message=_STR)), "Error")},
        },
    }


_ORDER = _obj(
    id=_STR,
    product=_STR,
    amount_rp=_INT,
    credits=_INT,
    plan={"type": ["string", "null"]},
    status={
        "type": "string",
        "enum": [
            "pending",
            "paid",
            "expired",
            "failed",
            "refunded",
            "partially_refunded",
            "amount_mismatch",
        ],
    },
    method={"type": ["string", "null"]},
    payment_url=_STR,
    expires_at=_TIME,
    paid_at=_NULLABLE_TIME,
    refunded_amount_rp=_INT,
    refunded_credits=_INT,
    created_at=_TIME,
)


def _payment_paths() -> dict[str, Any]:
    """Rupiah payment links (present when a payment gateway is configured)."""
    return {
        "/payments": {
            "post": {
                "summary": "Open a rupiah payment page (QRIS, e-wallets, virtual accounts)",
                "description": "Send amount_rp for a credit pack, or plan for 30 days of a plan. "
                "The person pays at payment_url; poll the order for its status.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _obj(
                                amount_rp={"type": "integer", "minimum": 1000},
                                plan={"type": "string", "enum": ["starter", "pro"]},
                            )
                        }
                    },
                },
                "responses": {"201": _json(_ORDER, "Created"), **_errors(404, 422, 503)},
            }
        },
        "/payments/{order_id}": {
            "get": {
                "summary": "One rupiah payment order of the account",
                "parameters": [
                    {
                        "name": "order_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 50},
                    }
                ],
                "responses": {"200": _json(_ORDER), **_errors(404)},
            }
        },
    }
