"""Command and button handlers: each parses the update, calls one service, renders the answer."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from telegram import InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest, TelegramError

from bot.chat import (
    accepted_text,
    cannot_afford_text,
    error_text,
    help_text,
    history_text,
    operator_stats_text,
    plan_cancelled_text,
    plans_text,
    settings_text,
    stats_text,
    welcome_text,
)
from bot.messages import text
from bot.rupiah_offers import income_text, pack_offers, plan_offers
from bot.telegram.callback_secret import callback_secret_keyboard
from bot.telegram.context import BotContext
from bot.telegram.delivery import is_not_modified
from bot.telegram.extra_keyboards import batch_cancel_keyboard, history_redo_buttons
from bot.telegram.extras import start_invitation
from bot.telegram.keyboards import (
    CANCEL,
    history_keyboard,
    language_keyboard,
    packs_keyboard,
    plans_keyboard,
    settings_keyboard,
)
from bot.telegram.rupiah import (
    CHANNEL,
    REMINDERS,
    with_reminder_toggle,
    with_rupiah_buttons,
    with_rupiah_text,
)
from bot.telegram.session import operator, person, register, reply
from bot.telegram.stars import (
    plan_prices,
    product_for,
    send_product_invoice,
    settle_star_subscriptions,
)
from services.accounts import (
    get_output_options,
    grant_credits,
    resolve_account,
    set_language,
    set_output_options,
)
from services.api_keys import issue_key, list_keys, revoke_key
from services.billing import accept_quote
from services.clock import utcnow
from services.errors import CannotAfford, QuoteAlreadyUsed, ServiceError
from services.history import get_batch, recent_batches
from services.imaging.compose import InvalidOptions, OutputOptions
from services.payments import find_refundable, record_refund
from services.plans import UnknownPlan
from services.pricing import Tier
from services.reminders import reminders_enabled, set_reminders
from services.stats import account_stats, service_figures
from services.subscriptions import cancel, current_plan, subscribe
from services.topups import income_by_method
from services.uploads import cancel_upload

log = logging.getLogger(__name__)


async def start(update: Update, context: BotContext) -> None:
    """Greet the person, with the balance and what to send."""
    account, created = await register(update, context)
    settings = context.deps.settings
    greeting = welcome_text(
        account.display_name or "👋",
        account.balance,
        created=created,
        welcome_credits=settings.welcome_credits,
        credit_price_rp=settings.credit_price_rp,
        language=account.language,
    )
    invitation = await start_invitation(context, account, created=created)
    await reply(update, greeting if invitation is None else f"{greeting}\n\n{invitation}")


async def show_help(update: Update, context: BotContext) -> None:
    """Explain how the service works and what it costs."""
    account = await person(update, context)
    settings = context.deps.settings
    await reply(
        update,
        help_text(
            account.language,
            retention_days=settings.retention_days,
            credit_price_rp=settings.credit_price_rp,
            support_contact=settings.support_contact,
            previews_per_day=settings.previews_per_day,
            referral_credits=settings.referral_invitee_credits,
        ),
    )


async def show_stats(update: Update, context: BotContext) -> None:
    """Show the person's totals."""
    account = await person(update, context)
    settings = context.deps.settings
    stats = await account_stats(context.deps.uow(), account.id, zone=settings.zone, now=utcnow())
    await reply(
        update,
        stats_text(stats, account.language, credit_price_rp=settings.credit_price_rp),
    )


async def show_plans(update: Update, context: BotContext) -> None:
    """Show the plans, the current plan, and buttons to subscribe or stop renewal."""
    account = await person(update, context)
    settings = context.deps.settings
    status = await current_plan(context.deps.uow(), account.id, utcnow())
    keyboard = plans_keyboard(
        plan_prices(settings),
        account.language,
        can_cancel=status is not None and not status.cancelled,
    )
    offers = plan_offers(settings, account.id, CHANNEL, account.language)
    await reply(
        update,
        with_rupiah_text(
            plans_text(status, account.language, zone=settings.zone),
            offers,
            "pay.plans.title",
            account.language,
        ),
        reply_markup=with_rupiah_buttons(keyboard, offers),
    )


async def show_packs(update: Update, context: BotContext) -> None:
    """Offer the credit packs for Stars."""
    account = await person(update, context)
    packs = context.deps.settings.stars_credit_packs
    lines = [text("chat.packs.title", account.language, balance=account.balance)]
    lines.extend(
        text("chat.packs.line", account.language, credits=credits, stars=stars)
        for credits, stars in packs.items()
    )
    offers = pack_offers(context.deps.settings, account.id, CHANNEL, account.language)
    await reply(
        update,
        with_rupiah_text("\n".join(lines), offers, "pay.packs.title", account.language),
        reply_markup=with_rupiah_buttons(packs_keyboard(packs, account.language), offers),
    )


async def show_history(update: Update, context: BotContext) -> None:
    """List recent batches, with a button to re-send results still kept."""
    account = await person(update, context)
    batches = await recent_batches(context.deps.uow(), account.id, limit=10)
    keyboard = history_keyboard(batches, account.language)
    rows = [list(row) for row in keyboard.inline_keyboard] if keyboard else []
    redo = history_redo_buttons(batches, account.language)
    rows += [redo[i : i + 2] for i in range(0, len(redo), 2)]
    await reply(
        update,
        history_text(batches, account.language, zone=context.deps.settings.zone),
        reply_markup=InlineKeyboardMarkup(rows) if rows else None,
    )


async def choose_language(update: Update, context: BotContext) -> None:
    """Offer Indonesian and English."""
    account = await person(update, context)
    await reply(
        update, text("chat.language.choose", account.language), reply_markup=language_keyboard()
    )


def _options(stored: dict[str, object]) -> OutputOptions:
    try:
        return OutputOptions.from_dict(dict(stored))
    except InvalidOptions:
        return OutputOptions()  # options saved by an older version that no longer validate


async def show_settings(update: Update, context: BotContext) -> None:
    """Show the output options; `/settings bg #RRGGBB` picks a background colour."""
    account = await person(update, context)
    language = account.language
    options = _options(await get_output_options(context.deps.uow(), account.id))
    args = context.args or []
    if len(args) == 2 and args[0] in {"bg", "background"}:
        try:
            options = dataclasses.replace(options, background=args[1])
        except InvalidOptions as error:
            await reply(update, error_text(error, language))
            return
        await set_output_options(context.deps.uow(), account.id, options.to_dict())
    reminders = await reminders_enabled(context.deps.uow(), account.id)
    await reply(
        update,
        settings_text(options, language),
        reply_markup=with_reminder_toggle(
            settings_keyboard(options, language), reminders, language
        ),
    )


async def manage_api_keys(update: Update, context: BotContext) -> None:
    """Create (`new [name]`), list, or revoke (`revoke ID`) personal API keys."""
    account = await person(update, context)
    language = account.language
    args = context.args or []
    uow = context.deps.uow
    try:
        if args and args[0] == "new":
            issued = await issue_key(uow(), account.id, " ".join(args[1:]) or "chat", now=utcnow())
            await reply(update, text("chat.apikey.created", language, secret=issued.secret))
            return
        if len(args) == 2 and args[0] == "revoke" and args[1].isdigit():
            await revoke_key(uow(), account.id, int(args[1]), now=utcnow())
            await reply(update, text("chat.apikey.revoked", language, key_id=args[1]))
            return
    except ServiceError as error:
        await reply(update, error_text(error, language))
        return
    keys = await list_keys(uow(), account.id)
    lines = [text("chat.apikey.list", language) if keys else text("chat.apikey.none", language)]
    lines.extend(
        text(
            "chat.apikey.line",
            language,
            key_id=key.key_id,
            prefix=key.prefix,
            name=key.name,
            created=key.created_at.astimezone(context.deps.settings.zone).strftime("%Y-%m-%d"),
        )
        for key in keys
    )
    lines.append(text("chat.apikey.usage", language))
    await reply(update, "\n".join(lines), reply_markup=callback_secret_keyboard(language))


async def link_accounts(update: Update, context: BotContext) -> None:
    """Show a code to send from WhatsApp, or redeem a code WhatsApp showed (`/link CODE`)."""
    from services.account_links import issue_link_code, redeem_link_code

    account = await person(update, context)
    language = account.language
    try:
        if context.args:
            await redeem_link_code(context.deps.uow(), context.args[0], account.id, now=utcnow())
            await reply(update, text("chat.link.done", language))
        else:
            code = await issue_link_code(context.deps.uow(), account.id, now=utcnow())
            await reply(update, text("chat.link.code", language, code=code))
    except ServiceError as error:
        await reply(update, error_text(error, language))


async def answer_text(update: Update, context: BotContext) -> None:
    """Answer a plain message with what to send."""
    account = await person(update, context)
    await reply(update, text("chat.welcome.send", account.language))


# --- Buttons. Every callback query is answered, or the client keeps showing a spinner. ---


async def choose_tier(update: Update, context: BotContext) -> None:
    """Accept the quote at the tapped tier (charging once), or cancel it."""
    query = update.callback_query
    message = update.effective_message
    assert query is not None and query.data is not None and message is not None
    _, quote_id, choice = query.data.split(":", 2)
    account = await person(update, context)
    language = account.language
    deps = context.deps
    if choice == CANCEL:
        try:
            await cancel_upload(
                deps.uow(), quote_id, account.id, data_dir=deps.settings.data_dir, now=utcnow()
            )
        except ServiceError as error:
            await query.answer(error_text(error, language), show_alert=True)
            return
        await query.answer()
        await query.edit_message_text(text("chat.quote.cancelled", language))
        return
    try:
        accepted = await accept_quote(
            deps.uow(),
            quote_id,
            account.id,
            Tier(choice),
            zone=deps.settings.zone,
            now=utcnow(),
            available=deps.settings.available_tiers(),
        )
    except CannotAfford as refusal:
        refusal_text = cannot_afford_text(refusal.decision, language)
        await query.answer(refusal_text[:200], show_alert=True)
        # The quote stays open: after a top-up the same button works.
        await message.reply_text(
            refusal_text,
            reply_markup=with_rupiah_buttons(
                packs_keyboard(deps.settings.stars_credit_packs, language),
                pack_offers(deps.settings, account.id, CHANNEL, language),
            ),
        )
        return
    except QuoteAlreadyUsed as error:
        await query.answer(error_text(error, language))
        return
    except ServiceError as error:
        await query.answer(error_text(error, language), show_alert=True)
        return
    await query.answer(accepted_text(accepted, language)[:200])
    started = text("progress", language, finished=0, total=len(accepted.job_ids))
    await query.edit_message_text(
        f"{accepted_text(accepted, language)}\n{started}",
        reply_markup=batch_cancel_keyboard(accepted.batch_id, language),
    )
    if not await deps.submit(accepted):
        await message.reply_text(text("chat.accepted.queue_delayed", language))


async def buy_pack(update: Update, context: BotContext) -> None:
    """Send the invoice of the tapped credit pack."""
    query = update.callback_query
    assert query is not None and query.data is not None
    account = await person(update, context)
    product = product_for(context.deps.settings, "pack", query.data.partition(":")[2])
    if product is None:
        await query.answer(text("tg.precheckout.invalid", account.language), show_alert=True)
        return
    await query.answer()
    await send_product_invoice(update, context, product, account.language)


async def choose_plan(update: Update, context: BotContext) -> None:
    """Send the invoice of 30 days of the tapped plan, or stop the current plan's renewal."""
    query = update.callback_query
    assert query is not None and query.data is not None
    account = await person(update, context)
    language = account.language
    code = query.data.partition(":")[2]
    if code == CANCEL:
        # Every renewal is stopped in the database first; Telegram renews a Stars
        # subscription by itself until the bot cancels it, which the settling does next.
        try:
            status = await cancel(context.deps.uow(), account.id, now=utcnow())
        except ServiceError as error:
            await query.answer(error_text(error, language), show_alert=True)
            await settle_star_subscriptions(context.bot, context.deps)
            return
        await query.answer()
        await settle_star_subscriptions(context.bot, context.deps)
        await query.edit_message_text(
            plan_cancelled_text(status, language, zone=context.deps.settings.zone)
        )
        return
    product = product_for(context.deps.settings, "plan", code)
    if product is None:
        await query.answer(text("chat.error.unknown_plan", language), show_alert=True)
        return
    await query.answer()
    await send_product_invoice(update, context, product, language)


async def pick_language(update: Update, context: BotContext) -> None:
    """Switch the person's language."""
    query = update.callback_query
    assert query is not None and query.data is not None
    account = await person(update, context)
    language = query.data.partition(":")[2]
    await set_language(context.deps.uow(), account.id, language)
    await query.answer()
    await query.edit_message_text(text("chat.language.set", language))


async def change_setting(update: Update, context: BotContext) -> None:
    """Toggle or set one output option."""
    query = update.callback_query
    assert query is not None and query.data is not None
    account = await person(update, context)
    language = account.language
    options = _options(await get_output_options(context.deps.uow(), account.id))
    _, name, *value = query.data.split(":")
    reminders = await reminders_enabled(context.deps.uow(), account.id)
    if name == REMINDERS:
        reminders = await set_reminders(context.deps.uow(), account.id, not reminders, now=utcnow())
    try:
        if name == "bg":
            background = None if value == ["none"] else value[0]
            fmt = "png" if background is None and not options.marketplace else options.format
            options = dataclasses.replace(options, background=background, format=fmt)
        elif name == "fmt":
            background = options.background
            if value[0] != "png" and background is None and not options.marketplace:
                background = "white"  # JPEG and WebP have no transparency
            options = dataclasses.replace(options, format=value[0], background=background)
        elif name == "crop":
            options = dataclasses.replace(options, crop=not options.crop)
        elif name == "square":
            options = dataclasses.replace(options, square=not options.square)
        elif name == "marketplace":
            options = dataclasses.replace(options, marketplace=not options.marketplace)
    except InvalidOptions as error:
        await query.answer(error_text(error, language), show_alert=True)
        return
    await set_output_options(context.deps.uow(), account.id, options.to_dict())
    await query.answer()
    try:
        await query.edit_message_text(
            settings_text(options, language),
            reply_markup=with_reminder_toggle(
                settings_keyboard(options, language), reminders, language
            ),
        )
    except BadRequest as error:
        if not is_not_modified(error):
            raise


async def resend_results(update: Update, context: BotContext) -> None:
    """Send a batch's results again while they are kept."""
    query = update.callback_query
    message = update.effective_message
    assert query is not None and query.data is not None and message is not None
    account = await person(update, context)
    language = account.language
    deps = context.deps
    try:
        batch = await get_batch(deps.uow(), account.id, int(query.data.partition(":")[2]))
    except (ServiceError, ValueError) as error:
        await query.answer(error_text(error, language), show_alert=True)
        return
    paths = [deps.settings.data_dir / result for result in batch.results]
    kept = [path for path in paths if await asyncio.to_thread(path.is_file)]
    await query.answer()
    if not kept:
        await message.reply_text(
            text("chat.history.gone", language, days=deps.settings.retention_days)
        )
        return
    for path in kept:
        content = await asyncio.to_thread(path.read_bytes)
        await message.reply_document(
            InputFile(content, filename=path.name), disable_content_type_detection=True
        )


# --- Operators (ADMIN_IDS) ---


async def _tell_operator(update: Update, error: Exception, language: str) -> None:
    """Report a refused operator command: service errors as people see them, others verbatim."""
    known = isinstance(error, ServiceError | UnknownPlan)
    await reply(update, error_text(error, language) if known else str(error))


async def operator_stats(update: Update, context: BotContext) -> None:
    """Show service figures: users, images, income by source, engine cost, margin per tier."""
    account = await operator(update, context)
    if account is None:
        return
    settings = context.deps.settings
    figures = await service_figures(
        context.deps.uow(),
        credit_price_rp=settings.credit_price_rp,
        engine_costs={tier: settings.engine_cost_rp(tier) for tier in Tier},
    )
    report = operator_stats_text(figures, account.language)
    if settings.payments_enabled:
        incomes = await income_by_method(context.deps.uow())
        report += "\n\n" + income_text(incomes, account.language)
    await reply(update, report)


async def operator_grant(update: Update, context: BotContext) -> None:
    """Grant credits: /grant ACCOUNT CREDITS (ACCOUNT is an id, tg:ID or wa:NUMBER)."""
    account = await operator(update, context)
    if account is None:
        return
    language = account.language
    args = context.args or []
    if len(args) != 2 or not args[1].lstrip("-").isdigit():
        await reply(update, text("chat.admin.usage", language, usage="/grant ACCOUNT CREDITS"))
        return
    message = update.effective_message
    assert message is not None
    try:
        target = await resolve_account(context.deps.uow(), args[0])
        balance = await grant_credits(
            context.deps.uow(),
            target,
            int(args[1]),
            reference=f"telegram:operator:{account.id}",
            # One grant per command message, however often Telegram delivers it.
            idempotency_key=f"grant:telegram:{message.chat_id}:{message.message_id}",
            now=utcnow(),
        )
    except (ServiceError, ValueError) as error:
        await _tell_operator(update, error, language)
        return
    await reply(update, text("chat.admin.granted", language, account=target, balance=balance))


async def operator_set_plan(update: Update, context: BotContext) -> None:
    """Give a plan: /setplan ACCOUNT PLAN DAYS."""
    account = await operator(update, context)
    if account is None:
        return
    language = account.language
    args = context.args or []
    if len(args) != 3 or not args[2].isdigit() or int(args[2]) < 1:
        await reply(
            update, text("chat.admin.usage", language, usage="/setplan ACCOUNT starter|pro DAYS")
        )
        return
    try:
        target = await resolve_account(context.deps.uow(), args[0])
        status = await subscribe(
            context.deps.uow(),
            target,
            args[1],
            int(args[2]),
            source="admin",
            auto_renew=False,
            now=utcnow(),
            credit_price_rp=context.deps.settings.credit_price_rp,
        )
    except (ServiceError, ValueError) as error:
        await _tell_operator(update, error, language)
        return
    # A plan given over a Stars plan of another kind replaces it: stop its renewal.
    await settle_star_subscriptions(context.bot, context.deps)
    until = status.period_end.astimezone(context.deps.settings.zone).strftime("%Y-%m-%d")
    await reply(
        update,
        text(
            "chat.admin.plan_set",
            language,
            account=target,
            plan=status.plan.code.value.title(),
            until=until,
        ),
    )


async def operator_refund(update: Update, context: BotContext) -> None:
    """Refund a Stars payment: /refund CHARGE_ID (Telegram first, then the ledger)."""
    account = await operator(update, context)
    if account is None:
        return
    language = account.language
    args = context.args or []
    if len(args) != 1:
        await reply(update, text("chat.admin.usage", language, usage="/refund CHARGE_ID"))
        return
    charge_id = args[0]
    try:
        payment = await find_refundable(context.deps.uow(), charge_id)
        if payment.telegram_id is None:
            raise ValueError("the paying account is no longer on Telegram")
        await context.bot.refund_star_payment(payment.telegram_id, charge_id)
        taken = await record_refund(context.deps.uow(), charge_id, now=utcnow())
    except (ServiceError, ValueError) as error:
        await _tell_operator(update, error, language)
        return
    except TelegramError as error:
        await reply(update, f"{text('chat.error.generic', language)} ({error.message})")
        return
    await reply(update, text("chat.admin.refunded", language, charge=charge_id, credits=taken))
