"""Handlers of the chat's extras: cancel a batch in progress, redo a batch or one of its images
at another tier, free previews, invitations and promo codes. Each parses, calls one service,
renders the answer."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Bot, InputFile, Update
from telegram.error import TelegramError

from bot.chat import error_text, quote_text
from bot.messages import text, text_count
from bot.telegram.context import BotContext, TelegramDeps
from bot.telegram.extra_keyboards import IMAGES_PER_PAGE, batch_images_keyboard
from bot.telegram.keyboards import quote_keyboard
from bot.telegram.session import operator, person, reply
from db.models import Account
from services.billing import cancel_batch
from services.clock import utcnow
from services.errors import InvalidAmount, ServiceError
from services.promos import create_promo, redeem_promo
from services.redo import InputsGone, batch_images, quote_redo, quote_redo_image
from services.referrals import accept_invitation, invite_code, invite_code_from_start, invite_link

log = logging.getLogger(__name__)


# --- Free preview -----------------------------------------------------------------------


async def send_preview(
    bot: Bot, deps: TelegramDeps, chat_id: int, *, account_id: int, input_path: str, language: str
) -> None:
    """Send the free preview of a quote's first image, when today's allowance has one."""
    previews = deps.previews
    if previews is None:
        return
    preview = await previews.make(account_id, input_path)
    if preview is None:
        return
    try:
        await bot.send_document(
            chat_id=chat_id,
            document=InputFile(preview.png, filename="preview.png"),
            caption=text("preview.caption", language, left=preview.left_today),
            # A photo would lose the transparency the preview is there to show.
            disable_content_type_detection=True,
        )
    except TelegramError:
        log.warning("preview not sent to chat %s", chat_id, exc_info=True)


# --- Cancel a batch in progress ------------------------------------------------------------


async def cancel_running_batch(update: Update, context: BotContext) -> None:
    """Stop the images of a batch not yet started, refund them, keep what is done."""
    query = update.callback_query
    message = update.effective_message
    assert query is not None and query.data is not None and message is not None
    account = await person(update, context)
    language = account.language
    deps = context.deps
    try:
        stopped = await cancel_batch(
            deps.uow(), account.id, int(query.data.split(":")[1]), now=utcnow()
        )
    except (ServiceError, ValueError) as error:
        await query.answer(error_text(error, language), show_alert=True)
        return
    if not stopped.cancelled:
        await query.answer(text("batch.cancel_nothing", language), show_alert=True)
        return
    lines = [text_count("batch.cancelled", language, stopped.cancelled)]
    if stopped.refunded_credits:
        lines.append(text("batch.cancel_refund", language, credits=stopped.refunded_credits))
    if stopped.quota_returned:
        lines.append(text("batch.cancel_quota", language, images=stopped.quota_returned))
    await query.answer(lines[0][:200])
    await message.reply_text("\n".join(lines))
    if stopped.finished and deps.finish is not None:
        # Nothing runs any more, so no worker will finish the batch: ask for it here.
        await deps.finish(stopped.batch_id)


# --- Redo without uploading again ------------------------------------------------------------


async def _quote_again(
    update: Update, context: BotContext, item_id: int, *, one_image: bool
) -> None:
    """Quote a batch's inputs (or one image of it) again under a status message of its own."""
    query = update.callback_query
    message = update.effective_message
    assert query is not None and message is not None
    account = await person(update, context)
    language = account.language
    deps = context.deps
    settings = deps.settings
    # Callback queries must be answered or the client shows a spinner.
    await query.answer()
    status = await message.reply_text(text("redo.checking", language))
    quote = quote_redo_image if one_image else quote_redo
    try:
        offer = await quote(
            deps.uow(),
            account.id,
            item_id,
            data_dir=settings.data_dir,
            channel="telegram",
            chat={"chat_id": status.chat_id, "message_id": status.message_id, "language": language},
            ttl=timedelta(minutes=settings.quote_ttl_minutes),
            zone=settings.zone,
            now=utcnow(),
        )
    except InputsGone:
        gone = "redo.gone_one" if one_image else "redo.gone"
        await status.edit_text(text(gone, language, days=settings.retention_days))
        return
    except (ServiceError, ValueError) as error:
        await status.edit_text(error_text(error, language))
        return
    await status.edit_text(
        quote_text(offer, language, credit_price_rp=settings.credit_price_rp),
        reply_markup=quote_keyboard(offer, language),
    )


async def redo_batch(update: Update, context: BotContext) -> None:
    """Quote a delivered batch's inputs again, to choose another tier."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await _quote_again(update, context, int(query.data.split(":")[1]), one_image=False)


async def redo_image(update: Update, context: BotContext) -> None:
    """Quote one image of a batch again, alone, to choose another tier."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await _quote_again(update, context, int(query.data.split(":")[1]), one_image=True)


async def list_batch_images(update: Update, context: BotContext) -> None:
    """Show a page of a batch's images, one button each, to redo one of them."""
    query = update.callback_query
    message = update.effective_message
    assert query is not None and query.data is not None and message is not None
    account = await person(update, context)
    language = account.language
    _, batch_id, offset = query.data.split(":")
    try:
        page = await batch_images(
            context.deps.uow(),
            account.id,
            int(batch_id),
            offset=int(offset),
            limit=IMAGES_PER_PAGE,
        )
    except ServiceError as error:
        await query.answer(error_text(error, language), show_alert=True)
        return
    await query.answer()
    shown = f"{page.offset + 1}-{page.offset + len(page.images)}"
    await message.reply_text(
        text("redo.pick", language, batch=page.batch_id, shown=shown, total=page.total),
        reply_markup=batch_images_keyboard(page, language),
    )


# --- Invitations and promo codes -------------------------------------------------------------


async def start_invitation(context: BotContext, account: Account, *, created: bool) -> str | None:
    """What `/start ref_<code>` adds to the greeting: the promise, or why it does not apply."""
    if not context.args:
        return None
    code = invite_code_from_start(context.args[0])
    if code is None:
        return None
    settings = context.deps.settings
    try:
        invitation = await accept_invitation(
            context.deps.uow(),
            account.id,
            code,
            new_account=created,
            referrer_credits=settings.referral_referrer_credits,
            invitee_credits=settings.referral_invitee_credits,
            now=utcnow(),
        )
    except ServiceError as error:
        return error_text(error, account.language)
    return text("invite.joined", account.language, credits=invitation.invitee_credits)


async def show_invite(update: Update, context: BotContext) -> None:
    """Give the person's invite link."""
    account = await person(update, context)
    settings = context.deps.settings
    code = await invite_code(context.deps.uow(), account.id, now=utcnow())
    await reply(
        update,
        text(
            "invite.link",
            account.language,
            link=invite_link(context.bot.username, code),
            referrer=settings.referral_referrer_credits,
            invitee=settings.referral_invitee_credits,
        ),
    )


async def redeem_promo_code(update: Update, context: BotContext) -> None:
    """Redeem a promo code: /promo CODE."""
    account = await person(update, context)
    language = account.language
    if not context.args or len(context.args) != 1:
        await reply(update, text("promo.usage", language))
        return
    try:
        redeemed = await redeem_promo(context.deps.uow(), account.id, context.args[0], now=utcnow())
    except ServiceError as error:
        await reply(update, error_text(error, language))
        return
    await reply(
        update,
        text("promo.redeemed", language, credits=redeemed.credits, balance=redeemed.balance),
    )


async def operator_create_promo(update: Update, context: BotContext) -> None:
    """Create a promo code: /newpromo CODE CREDITS USES DAYS (operators only)."""
    account = await operator(update, context)
    if account is None:
        return
    language = account.language
    user = update.effective_user
    assert user is not None  # an operator is a known Telegram user
    args = context.args or []
    usage = "/newpromo CODE CREDITS USES DAYS"
    if len(args) != 4 or not all(part.isdigit() for part in args[1:]):
        await reply(update, text("chat.admin.usage", language, usage=usage))
        return
    try:
        promo = await create_promo(
            context.deps.uow(),
            args[0],
            credits=int(args[1]),
            uses=int(args[2]),
            valid_for=timedelta(days=int(args[3])),
            created_by=f"telegram:{user.id}",
            now=utcnow(),
        )
    except InvalidAmount:
        await reply(update, text("chat.admin.usage", language, usage=usage))
        return
    except ServiceError as error:
        await reply(update, error_text(error, language))
        return
    until = promo.expires_at.astimezone(context.deps.settings.zone).strftime("%Y-%m-%d")
    await reply(
        update,
        text(
            "promo.created",
            language,
            code=promo.code,
            credits=promo.credits,
            uses=promo.max_uses,
            until=until,
        ),
    )
