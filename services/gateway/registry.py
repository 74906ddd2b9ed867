"""Gateway names to their modules; a name not here fails loudly at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.gateway.base import PaymentGateway


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    server_key: str
    production: bool
    api_url: str | None  # None: the provider's own URL for `production`
    checkout_url: str | None
    timeout_seconds: float


def _midtrans(config: GatewayConfig) -> PaymentGateway:
    from services.gateway.midtrans import MidtransGateway

    return MidtransGateway(config)


GATEWAYS: dict[str, Callable[[GatewayConfig], PaymentGateway]] = {"midtrans": _midtrans}


class UnknownGateway(ValueError):
    """A gateway name this service has no module for."""


def build_gateway(name: str, config: GatewayConfig) -> PaymentGateway:
    """Build the gateway called `name`.

    Raises:
        UnknownGateway: for a name not in `GATEWAYS`.
    """
    try:
        factory = GATEWAYS[name]
    except KeyError:
        known = ", ".join(sorted(GATEWAYS))
        raise UnknownGateway(f"unknown payment gateway {name!r}; known: {known}") from None
    return factory(config)
