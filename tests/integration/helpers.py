"""Small builders for integration tests of the billing core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from db.uow import UnitOfWork
from services.accounts import ChannelIdentity, get_or_register
from services.billing import QuoteFile, QuoteOffer, create_quote

JAKARTA = ZoneInfo("Asia/Jakarta")
NOON = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 12:00 in Jakarta


async def new_account(
    uow: UnitOfWork,
    telegram_id: int = 1001,
    credits: int = 0,
    now: datetime = NOON,
    *,
    whatsapp_number: str | None = None,
) -> int:
    """A Telegram account, or a WhatsApp one when `whatsapp_number` is given."""
    identity = (
        ChannelIdentity(whatsapp_number=whatsapp_number)
        if whatsapp_number
        else ChannelIdentity(telegram_id=telegram_id)
    )
    registration = await get_or_register(
        uow,
        identity,
        language="id",
        display_name="Toko Uji",
        welcome_credits=credits,
        now=now,
    )
    return registration.account.id


async def new_quote(
    uow: UnitOfWork, account_id: int, images: int, now: datetime = NOON
) -> QuoteOffer:
    files = [QuoteFile(name=f"photo-{i}.jpg", path=f"inbox/{i}.jpg") for i in range(images)]
    return await create_quote(
        uow,
        account_id,
        files,
        channel="telegram",
        chat={"chat_id": 1},
        ttl=timedelta(hours=1),
        zone=JAKARTA,
        now=now,
    )
