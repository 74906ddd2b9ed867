"""What the service needs from a rupiah payment gateway, and the facts it hands back.

A gateway makes a hosted payment page (QRIS, e-wallets, virtual accounts) for one order,
authenticates the notifications it sends us, and answers what it knows about an order. The
service never trusts a notification's claims: it checks the signature, then asks the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class PaymentState(StrEnum):
    """What an order's money is doing, in the service's words."""

    PENDING = "pending"  # waiting for the person, or for a fraud review
    PAID = "paid"
    EXPIRED = "expired"
    FAILED = "failed"  # denied, cancelled or failed
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    order_id: str
    amount_rp: int
    item_name: str
    customer_name: str
    language: str
    expiry_minutes: int


@dataclass(frozen=True, slots=True)
class PaymentLink:
    url: str
    reference: str  # the gateway's own id of the checkout (Snap token, invoice id)


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """The gateway API's answer about one order."""

    order_id: str
    state: PaymentState
    gross_amount_rp: int
    refunded_amount_rp: int
    method: str  # qris, gopay, shopeepay, bank_transfer, ...: how the person paid
    raw_status: str  # the gateway's own word, for operators
    paid_at: datetime | None = None


class GatewayError(Exception):
    """The gateway could not be reached or refused a call; the caller may try again."""


class OrderUnknownToGateway(GatewayError):
    """The gateway has no transaction for this order (nobody opened the payment page yet)."""


class InvalidNotification(Exception):
    """A notification that is not signed by the gateway, or not shaped like its notifications."""


class PaymentGateway(Protocol):
    """One payment provider. Its calls block on the network: run them off the event loop."""

    name: str

    def create_link(self, request: CheckoutRequest) -> PaymentLink:
        """Open a hosted payment page for the order.

        Raises:
            GatewayError: when the gateway is unreachable or refuses the order.
        """
        ...

    def verify_notification(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        """Authenticate a notification and return the order id it is about.

        Raises:
            InvalidNotification: when it is not the gateway's.
        """
        ...

    def fetch_status(self, order_id: str) -> GatewayStatus:
        """Ask the gateway's API what it knows about the order.

        Raises:
            OrderUnknownToGateway: when it has no transaction for it.
            GatewayError: when it is unreachable or answers with an error.
        """
        ...
