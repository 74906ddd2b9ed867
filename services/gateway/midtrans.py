"""Midtrans Snap through its official client, `midtransclient`.

Snap makes a hosted payment page; the Core API's status call says what happened to an order.
A notification is authenticated by its `signature_key`: SHA-512 of order_id + status_code +
gross_amount + the server key, exactly as the strings came. Midtrans statuses
(docs.midtrans.com, "Transaction Status"): `capture` with fraud_status `accept` and
`settlement` are paid; `capture` with `challenge`, `authorize` and `pending` wait; `deny`,
`cancel` and `failure` failed; `expire` expired; `refund` and `chargeback` gave all back;
`partial_refund` and `partial_chargeback` gave part back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import midtransclient
import requests
from midtransclient.error_midtrans import JSONDecodeError, MidtransAPIError

from services.gateway.base import (
    CheckoutRequest,
    GatewayError,
    GatewayStatus,
    InvalidNotification,
    OrderUnknownToGateway,
    PaymentLink,
    PaymentState,
)
from services.gateway.registry import GatewayConfig

# The payment methods offered on the Snap page: QRIS (which every Indonesian e-wallet and
# banking app scans, OVO and DANA included), GoPay and ShopeePay, and bank virtual accounts.
# No cards: digital credits bought by card invite chargebacks, and people here pay this way.
ENABLED_PAYMENTS = (
    "other_qris",
    "gopay",
    "shopeepay",
    "bca_va",
    "bni_va",
    "bri_va",
    "permata_va",
    "cimb_va",
    "echannel",
    "other_va",
)
JAKARTA = timezone(timedelta(hours=7))  # Midtrans writes its times in Western Indonesia Time

_STATES = {
    "settlement": PaymentState.PAID,
    "pending": PaymentState.PENDING,
    "authorize": PaymentState.PENDING,
    "deny": PaymentState.FAILED,
    "cancel": PaymentState.FAILED,
    "failure": PaymentState.FAILED,
    "expire": PaymentState.EXPIRED,
    "refund": PaymentState.REFUNDED,
    "chargeback": PaymentState.REFUNDED,
    "partial_refund": PaymentState.PARTIALLY_REFUNDED,
    "partial_chargeback": PaymentState.PARTIALLY_REFUNDED,
}


class _Endpoints(midtransclient.config.ApiConfig):  # type: ignore[misc]
    """The client's configuration, with base URLs an operator (or a test) may point elsewhere."""

    def __init__(self, config: GatewayConfig) -> None:
        super().__init__(is_production=config.production, server_key=config.server_key)
        self._api_url = config.api_url
        self._checkout_url = config.checkout_url

    def get_core_api_base_url(self) -> str:
        return (self._api_url or str(super().get_core_api_base_url())).rstrip("/")

    def get_snap_base_url(self) -> str:
        return (self._checkout_url or str(super().get_snap_base_url())).rstrip("/")


class _TimedSession(requests.Session):
    """A session whose every request has a timeout; the client itself sets none."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """The `signature_key` Midtrans puts on a notification about this order."""
    material = f"{order_id}{status_code}{gross_amount}{server_key}".encode()
    return hashlib.sha512(material).hexdigest()


def _rupiah(value: object) -> int:
    try:
        return int(Decimal(str(value or "0")))
    except InvalidOperation:
        return 0


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=JAKARTA)
    except ValueError:
        return None


def state_of(transaction_status: str, fraud_status: str | None) -> PaymentState:
    """The service's state for a Midtrans status; a card payment under review still waits."""
    if transaction_status == "capture":
        return PaymentState.PAID if fraud_status in (None, "", "accept") else PaymentState.PENDING
    return _STATES.get(transaction_status, PaymentState.PENDING)


class MidtransGateway:
    """Midtrans Snap payment pages and Core API status checks."""

    name = "midtrans"

    def __init__(self, config: GatewayConfig) -> None:
        self._server_key = config.server_key
        self._snap = midtransclient.Snap(
            is_production=config.production, server_key=config.server_key
        )
        self._snap.api_config = _Endpoints(config)
        self._snap.http_client.http_client = _TimedSession(config.timeout_seconds)

    def _call(self, fn: Any, *args: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = fn(*args)
        except MidtransAPIError as error:
            if str(getattr(error, "api_response_dict", {}).get("status_code")) == "404":
                raise OrderUnknownToGateway(str(error.message)) from error
            raise GatewayError(str(error.message)) from error
        except (requests.RequestException, JSONDecodeError, ValueError) as error:
            # Unreachable, timed out, or a proxy's error page instead of Midtrans's JSON.
            raise GatewayError(f"Midtrans unreachable: {type(error).__name__}") from error
        return answer

    def create_link(self, request: CheckoutRequest) -> PaymentLink:
        """Open a Snap page for the order; it expires after `expiry_minutes`."""
        parameters = {
            "transaction_details": {
                "order_id": request.order_id,
                "gross_amount": request.amount_rp,
            },
            "item_details": [
                {
                    "id": request.order_id,
                    "price": request.amount_rp,
                    "quantity": 1,
                    "name": request.item_name[:50],  # Midtrans cuts item names at 50
                }
            ],
            "customer_details": {"first_name": request.customer_name[:255] or "-"},
            "enabled_payments": list(ENABLED_PAYMENTS),
            "expiry": {"unit": "minutes", "duration": request.expiry_minutes},
        }
        answer = self._call(self._snap.create_transaction, parameters)
        if "redirect_url" not in answer or "token" not in answer:
            raise GatewayError("Snap answered without a payment page")
        return PaymentLink(url=str(answer["redirect_url"]), reference=str(answer["token"]))

    def verify_notification(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        """Check the notification's `signature_key`; return its order id."""
        try:
            order_id = str(body["order_id"])
            expected = signature(
                order_id, str(body["status_code"]), str(body["gross_amount"]), self._server_key
            )
            given = str(body["signature_key"])
        except (KeyError, TypeError) as error:
            raise InvalidNotification("not a Midtrans notification") from error
        if not hmac.compare_digest(expected, given):
            raise InvalidNotification("wrong signature_key")
        return order_id

    def fetch_status(self, order_id: str) -> GatewayStatus:
        """Ask the Core API for the order's transaction status."""
        answer = self._call(self._snap.transactions.status, order_id)
        status = str(answer.get("transaction_status", ""))
        fraud = answer.get("fraud_status")
        state = state_of(status, str(fraud) if fraud is not None else None)
        return GatewayStatus(
            order_id=str(answer.get("order_id", order_id)),
            state=state,
            gross_amount_rp=_rupiah(answer.get("gross_amount")),
            refunded_amount_rp=_rupiah(answer.get("refund_amount")),
            method=str(answer.get("payment_type", "")),
            raw_status=status,
            paid_at=_time(answer.get("settlement_time") or answer.get("transaction_time"))
            if state is PaymentState.PAID
            else None,
        )
