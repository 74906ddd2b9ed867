"""A fake of Midtrans (Snap and the Core API's status call) on 127.0.0.1, speaking its protocol.

`POST /snap/v1/transactions` opens a payment page (HTTP basic auth with the server key, the
Snap request body, a `token` and `redirect_url` back); `GET /v2/{order_id}/status` answers
the transaction status in Midtrans's shape (`status_code`, `transaction_status`,
`gross_amount` as "100000.00", `payment_type`, `refund_amount`). The test plays the person
and Midtrans's back office: `pay`, `expire`, `refund`, and `notification`, which builds the
body Midtrans posts, signed with SHA-512(order_id + status_code + gross_amount + server key).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

JAKARTA = timezone(timedelta(hours=7))


def _amount(rupiah: int) -> str:
    return f"{rupiah}.00"


def _now() -> str:
    return datetime.now(UTC).astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Transaction:
    order_id: str
    gross_amount: int
    token: str
    request: dict[str, Any]
    status: str | None = None  # None until the person picks a method on the page
    status_code: str = "201"
    payment_type: str = ""
    paid_amount: int | None = None
    refund_amount: int = 0
    transaction_id: str = field(default_factory=lambda: secrets.token_hex(16))
    settlement_time: str | None = None


@dataclass
class FakeMidtrans:
    server_key: str
    transactions: dict[str, Transaction] = field(default_factory=dict)
    status_calls: int = 0
    answer_html: bool = False  # answer like a proxy's error page, not Midtrans
    server: TestServer | None = None

    @property
    def snap_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/snap/v1"))

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url(""))

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.server_key}:".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def create(self, request: web.Request) -> web.Response:
        if self.answer_html:
            return web.Response(text="<html>502 Bad Gateway</html>", status=502)
        if not self._authorised(request):
            return web.json_response(
                {"error_messages": ["Access denied due to unauthorized transaction"]}, status=401
            )
        body = await request.json()
        details = body.get("transaction_details") or {}
        order_id, gross = details.get("order_id"), details.get("gross_amount")
        problems = []
        if not isinstance(order_id, str) or not 0 < len(order_id) <= 50:
            problems.append("transaction_details.order_id is required")
        if not isinstance(gross, int) or gross < 1:
            problems.append("transaction_details.gross_amount is not valid")
        items = body.get("item_details") or []
        if items and sum(item["price"] * item["quantity"] for item in items) != gross:
            problems.append("transaction_details.gross_amount is not equal to item_details sum")
        if order_id in self.transactions:
            problems.append("transaction_details.order_id sudah digunakan")
        if problems:
            return web.json_response({"error_messages": problems}, status=400)
        token = secrets.token_hex(16)
        assert isinstance(order_id, str) and isinstance(gross, int)
        self.transactions[order_id] = Transaction(order_id, gross, token, body)
        return web.json_response(
            {
                "token": token,
                "redirect_url": str(self.server.make_url(f"/snap/v4/redirection/{token}"))
                if self.server
                else "",
            },
            status=201,
        )

    def _status_body(self, txn: Transaction) -> dict[str, Any]:
        amount = txn.paid_amount if txn.paid_amount is not None else txn.gross_amount
        body: dict[str, Any] = {
            "status_code": txn.status_code,
            "status_message": "Success, transaction is found",
            "transaction_id": txn.transaction_id,
            "order_id": txn.order_id,
            "gross_amount": _amount(amount),
            "currency": "IDR",
            "payment_type": txn.payment_type,
            "transaction_time": _now(),
            "transaction_status": txn.status,
            "fraud_status": "accept",
            "merchant_id": "G000000000",
        }
        if txn.settlement_time:
            body["settlement_time"] = txn.settlement_time
        if txn.refund_amount:
            body["refund_amount"] = _amount(txn.refund_amount)
            body["refunds"] = [
                {
                    "refund_chargeback_id": 1,
                    "refund_amount": _amount(txn.refund_amount),
                    "created_at": _now(),
                    "reason": "requested by the merchant",
                    "refund_key": f"rk-{txn.order_id}",
                }
            ]
        return body

    async def status(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response(
                {"status_code": "401", "status_message": "Access denied"}, status=401
            )
        self.status_calls += 1
        txn = self.transactions.get(request.match_info["order_id"])
        if txn is None or txn.status is None:
            # Midtrans answers 200 with the error in the body's status_code.
            return web.json_response(
                {"status_code": "404", "status_message": "Transaction doesn't exist."}
            )
        return web.json_response(self._status_body(txn))

    # --- The person and Midtrans's back office ---

    def choose(self, order_id: str, payment_type: str = "qris") -> None:
        """The person picked a method: the transaction exists and waits for the money."""
        txn = self.transactions[order_id]
        txn.status, txn.status_code, txn.payment_type = "pending", "201", payment_type
        txn.transaction_id = secrets.token_hex(16)

    def pay(self, order_id: str, payment_type: str = "qris", amount: int | None = None) -> None:
        txn = self.transactions[order_id]
        txn.status, txn.status_code, txn.payment_type = "settlement", "200", payment_type
        txn.paid_amount = amount
        txn.settlement_time = _now()

    def expire(self, order_id: str) -> None:
        txn = self.transactions[order_id]
        txn.status, txn.status_code = "expire", "407"
        txn.payment_type = txn.payment_type or "qris"

    def fail(self, order_id: str, status: str = "deny", payment_type: str = "gopay") -> None:
        """The payment was refused (`deny`), cancelled or failed: Midtrans's code 202."""
        txn = self.transactions[order_id]
        txn.status, txn.status_code, txn.payment_type = status, "202", payment_type

    def refund(self, order_id: str, amount: int | None = None) -> None:
        txn = self.transactions[order_id]
        txn.refund_amount = txn.gross_amount if amount is None else txn.refund_amount + amount
        txn.status = "refund" if txn.refund_amount >= txn.gross_amount else "partial_refund"
        txn.status_code = "200"

    def notification(self, order_id: str, **overrides: Any) -> dict[str, Any]:
        """The body Midtrans posts about the order now, signed; `overrides` change fields
        before signing (a notification claiming what the API does not say)."""
        txn = self.transactions[order_id]
        body = self._status_body(txn) if txn.status else {}
        body.update(overrides)
        material = f"{body['order_id']}{body['status_code']}{body['gross_amount']}{self.server_key}"
        body["signature_key"] = hashlib.sha512(material.encode()).hexdigest()
        return body

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/snap/v1/transactions", self.create)
        app.router.add_get("/v2/{order_id}/status", self.status)
        return app

    async def start(self) -> None:
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
