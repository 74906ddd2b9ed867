"""The service's own pay links: `/pay/<token>` opens a payment page for one account and product.

Chat messages carry these instead of the gateway's pages, so that a /buy message costs no
gateway call, a link never goes stale before it is used, and a link previewer fetching it
creates nothing (the page asks for a tap before an order exists). The token names the account,
the product and the channel that receives the receipt, signed with HMAC-SHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PAY_PATH = "/pay/"


class InvalidPayLink(ValueError):
    """A pay link that this service did not sign."""


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def pay_token(secret: bytes, account_id: int, product: str, channel: str) -> str:
    payload = f"{account_id}~{product}~{channel}"
    return f"{payload}~{_mac(secret, payload)}"


def read_pay_token(secret: bytes, token: str) -> tuple[int, str, str]:
    """Return (account id, product, channel) of a token.

    Raises:
        InvalidPayLink: when the token was not signed with `secret`.
    """
    payload, _, mac = token.rpartition("~")
    if not payload or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidPayLink("not a pay link of this service")
    account, product, channel = payload.split("~")
    return int(account), product, channel


def pay_url(
    public_base_url: str, secret: bytes, account_id: int, product: str, channel: str
) -> str:
    token = pay_token(secret, account_id, product, channel)
    return f"{public_base_url.rstrip('/')}{PAY_PATH}{token}"
