"""Who is talking: the account behind an update, registered on first contact."""

from __future__ import annotations

from telegram import Update

from bot.messages import text
from bot.telegram.context import BotContext
from db.models import Account
from services.accounts import ChannelIdentity, get_or_register, language_from_client
from services.clock import utcnow


async def register(update: Update, context: BotContext) -> tuple[Account, bool]:
    """Return the sender's account and whether it was created by this update."""
    user = update.effective_user
    assert user is not None
    registration = await get_or_register(
        context.deps.uow(),
        ChannelIdentity(telegram_id=user.id),
        language=language_from_client(user.language_code),
        display_name=user.full_name,
        welcome_credits=context.deps.settings.welcome_credits,
        now=utcnow(),
    )
    return registration.account, registration.created


async def person(update: Update, context: BotContext) -> Account:
    """Return the sender's account."""
    account, _ = await register(update, context)
    return account


async def reply(update: Update, message: str, **options: object) -> None:
    """Answer the update's message with a new one."""
    target = update.effective_message
    assert target is not None
    await target.reply_text(message, **options)  # type: ignore[arg-type]


async def operator(update: Update, context: BotContext) -> Account | None:
    """The operator's account; None, after saying so, for anyone not in ADMIN_IDS."""
    account = await person(update, context)
    user = update.effective_user
    if user is not None and user.id in context.deps.settings.admin_ids:
        return account
    await reply(update, text("chat.admin.only", account.language))
    return None
