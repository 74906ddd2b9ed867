"""The chat channels this process can deliver results to, built from the settings."""

from __future__ import annotations

from services.settings import Settings
from workers.delivery import Delivery


def build_deliveries(settings: Settings) -> dict[str, Delivery]:
    """Return a delivery for every channel that is configured, keyed by channel name."""
    deliveries: dict[str, Delivery] = {}
    return deliveries
