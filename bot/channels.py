"""The chat channels this process can deliver results to, built from the settings."""

from __future__ import annotations

from collections.abc import Callable

from bot.api_delivery import ApiDelivery
from bot.whatsapp.delivery import WhatsAppDelivery, whatsapp_config
from db.uow import UnitOfWork
from services.settings import Settings
from workers.delivery import Delivery


def build_deliveries(settings: Settings, uow: Callable[[], UnitOfWork]) -> dict[str, Delivery]:
    """Return a delivery for every channel that is configured, keyed by channel name."""
    deliveries: dict[str, Delivery] = {
        "api": ApiDelivery(
            uow,
            settings.public_base_url,
            allowed_hosts=settings.callback_allowed_hosts,
            timeout_seconds=settings.callback_timeout_seconds,
        )
    }
    if settings.whatsapp_enabled:
        deliveries["whatsapp"] = WhatsAppDelivery(uow, whatsapp_config(settings))
    if settings.telegram_bot_token is not None:
        from bot.observability import protect_secrets
        from bot.telegram.delivery import TelegramDelivery

        protect_secrets(settings.telegram_bot_token.get_secret_value())
        deliveries["telegram"] = TelegramDelivery(settings)
    return deliveries
