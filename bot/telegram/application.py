"""The Telegram application, built in one place, and its life inside the web process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from urllib.parse import urlsplit

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from bot.chat import error_text
from bot.messages import text
from bot.observability import protect_secrets, tag_telegram_update
from bot.previews import Previewer
from bot.state import SharedState
from bot.telegram import callback_secret, extras, handlers
from bot.telegram.context import (
    DEPS_KEY,
    BotApplication,
    BotContext,
    IncomingFile,
    TelegramDeps,
)
from bot.telegram.intake import quote_gathered, receive_file
from bot.telegram.stars import (
    check_pre_checkout,
    credit_successful_payment,
    settle_star_subscriptions,
)
from db.uow import UnitOfWork
from services.accounts import language_from_client
from services.billing import AcceptedBatch
from services.errors import ServiceError
from services.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = (
    ("start", "Start / Mulai"),
    ("help", "Help / Bantuan"),
    ("stats", "Statistics / Statistik"),
    ("buy", "Buy credits / Beli kredit"),
    ("subscribe", "Plans / Paket"),
    ("history", "Recent jobs / Riwayat"),
    ("settings", "Output settings / Pengaturan"),
    ("language", "Language / Bahasa"),
    ("apikey", "API keys / Kunci API"),
    ("link", "Link WhatsApp / Tautkan WhatsApp"),
    ("invite", "Invite a friend / Undang teman"),
    ("promo", "Promo code / Kode promo"),
)


async def report_error(update: object, context: BotContext) -> None:
    """Log every handler failure with its traceback and tell the person something short."""
    log.error("update handling failed", exc_info=context.error)
    if not isinstance(update, Update):
        return
    user = update.effective_user
    language = language_from_client(user.language_code if user is not None else None)
    message = (
        error_text(context.error, language)
        if isinstance(context.error, ServiceError)
        else text("chat.error.generic", language)
    )
    try:
        if update.callback_query is not None:
            # A query left unanswered keeps a spinner on the person's button.
            await update.callback_query.answer(message[:200], show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(message)
    except BadRequest:
        pass  # already answered, or the message is gone: nothing more to tell
    except TelegramError:
        log.warning("could not tell the person about the failure", exc_info=True)


def build_application(
    settings: Settings,
    uow: Callable[[], UnitOfWork],
    submit: Callable[[AcceptedBatch], Awaitable[bool]],
    state: SharedState,
    *,
    finish: Callable[[int], Awaitable[None]] | None = None,
    previews: Previewer | None = None,
) -> BotApplication:
    """Build the Telegram application of this process from its settings and services."""
    assert settings.telegram_bot_token is not None, "TELEGRAM_BOT_TOKEN is not set"
    protect_secrets(settings.telegram_bot_token.get_secret_value())
    deps = TelegramDeps(settings=settings, uow=uow, submit=submit, previews=previews, finish=finish)
    timers: list[asyncio.Task[None]] = []

    async def settle_stars_on_a_timer(application: BotApplication) -> None:
        # Plans changed outside this chat (credits, operators, another channel) may leave a
        # Stars renewal to stop; a Telegram outage may leave a stop or a refund undone.
        while True:
            try:
                await settle_star_subscriptions(application.bot, deps)
            except Exception:  # a failed tick is logged with its traceback and tried again
                log.exception("settling Stars subscriptions failed")
            await asyncio.sleep(settings.sweep_interval_seconds)

    async def post_init(application: BotApplication) -> None:
        application.bot_data[DEPS_KEY] = deps
        # An album's messages may reach different web processes: the gathering is shared.
        deps.gatherer = state.gathering(
            "telegram",
            partial(quote_gathered, application.bot, deps),
            encode=IncomingFile.encode,
            decode=IncomingFile.decode,
        )
        deps.gatherer.start()
        await application.bot.set_my_commands([BotCommand(*command) for command in COMMANDS])
        timers.append(asyncio.create_task(settle_stars_on_a_timer(application)))

    async def post_shutdown(application: BotApplication) -> None:
        for timer in timers:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        if deps.gatherer is not None:
            await deps.gatherer.close()

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .local_mode(settings.telegram_local_mode)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .context_types(ContextTypes(context=BotContext))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if settings.telegram_webhook_url:
        builder = builder.updater(None)
    application: BotApplication = builder.build()
    add_handlers(application)
    return application


def add_handlers(application: BotApplication) -> None:
    # First, in a group of its own: the update's id tags every record of its handling.
    application.add_handler(TypeHandler(Update, tag_telegram_update), group=-1)
    commands = {
        "start": handlers.start,
        "help": handlers.show_help,
        "stats": handlers.show_stats,
        "subscribe": handlers.show_plans,
        "buy": handlers.show_packs,
        "history": handlers.show_history,
        "language": handlers.choose_language,
        "settings": handlers.show_settings,
        "apikey": handlers.manage_api_keys,
        "link": handlers.link_accounts,
        "admin": handlers.operator_stats,
        "grant": handlers.operator_grant,
        "setplan": handlers.operator_set_plan,
        "refund": handlers.operator_refund,
        "invite": extras.show_invite,
        "promo": extras.redeem_promo_code,
        "newpromo": extras.operator_create_promo,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))
    buttons = {
        r"^q:": handlers.choose_tier,
        r"^buy:": handlers.buy_pack,
        r"^plan:": handlers.choose_plan,
        r"^lang:(id|en)$": handlers.pick_language,
        r"^set:": handlers.change_setting,
        r"^h:\d+$": handlers.resend_results,
        r"^bc:\d+$": extras.cancel_running_batch,
        r"^rd:\d+$": extras.redo_batch,
        r"^ri:\d+:\d+$": extras.list_batch_images,
        r"^rj:\d+$": extras.redo_image,
        r"^cs$": callback_secret.ask_callback_secret,
        r"^cs:[0-9a-z]+$": callback_secret.rotate_secret,
    }
    for pattern, callback in buttons.items():
        application.add_handler(CallbackQueryHandler(callback, pattern=pattern))
    application.add_handler(PreCheckoutQueryHandler(check_pre_checkout))
    # An edited message is not a new upload: quoting it again would offer a second charge.
    new = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, credit_successful_payment))
    application.add_handler(
        MessageHandler(new & (filters.PHOTO | filters.Document.ALL), receive_file)
    )
    application.add_handler(
        MessageHandler(new & filters.TEXT & ~filters.COMMAND, handlers.answer_text)
    )
    application.add_error_handler(report_error)


TELEGRAM = web.AppKey("telegram", BotApplication)


def webhook_path(settings: Settings) -> str:
    """Where this process serves the webhook: the URL's path, unless a proxy rewrites it."""
    if settings.telegram_webhook_path:
        return "/" + settings.telegram_webhook_path.lstrip("/")
    assert settings.telegram_webhook_url is not None
    return urlsplit(settings.telegram_webhook_url).path or "/telegram"


def webhook_secret(settings: Settings) -> str:
    """The secret token Telegram repeats on every webhook call.

    Every web process registers the webhook at start, and the last registration wins: all of
    them must register the same secret. Without one configured it is derived from the bot
    token, which they share, so strangers still cannot post updates.
    """
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret.get_secret_value()
    assert settings.telegram_bot_token is not None
    token = settings.telegram_bot_token.get_secret_value().encode()
    # Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -: hex qualifies.
    return hmac.new(token, b"telegram webhook secret", hashlib.sha256).hexdigest()


def telegram_context(
    build: Callable[[web.Application], BotApplication], settings: Settings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The aiohttp cleanup context that runs the bot: polling, or the webhook route's feed."""
    secret = webhook_secret(settings)

    async def run(app: web.Application) -> AsyncIterator[None]:
        application = build(app)
        app[TELEGRAM] = application
        app[WEBHOOK_SECRET] = secret
        await application.initialize()
        # Application.initialize does not run post_init (only run_polling does): run it here.
        if application.post_init is not None:
            await application.post_init(application)
        if settings.telegram_webhook_url:
            await application.bot.set_webhook(
                settings.telegram_webhook_url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, timeout=settings.telegram_poll_seconds
            )
        await application.start()
        try:
            yield
        finally:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            await application.stop()
            await application.shutdown()
            if application.post_shutdown is not None:
                await application.post_shutdown(application)

    return run


WEBHOOK_SECRET = web.AppKey("telegram_webhook_secret", str)


async def receive_webhook(request: web.Request) -> web.Response:
    """Queue an update Telegram posted, after checking its secret token."""
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[WEBHOOK_SECRET].encode()):
        raise web.HTTPForbidden(text="wrong secret token")
    application = request.app[TELEGRAM]
    try:
        update = Update.de_json(await request.json(), application.bot)
    except ValueError:
        raise web.HTTPBadRequest(text="not an update") from None
    await application.update_queue.put(update)
    return web.Response(text="ok")


def add_telegram(
    app: web.Application,
    settings: Settings,
    uow: Callable[[], UnitOfWork],
    submit: Callable[[AcceptedBatch], Awaitable[bool]],
    state: web.AppKey[SharedState],
    *,
    finish: Callable[[int], Awaitable[None]] | None = None,
    previews: Previewer | None = None,
) -> None:
    """Run the bot inside the web application: one event loop and one shutdown path.

    Append it after the cleanup contexts that open the database, the queue and the shared
    state (`state`), so the bot starts after them and stops before them.
    """
    app.cleanup_ctx.append(
        telegram_context(
            lambda app: build_application(
                settings, uow, submit, app[state], finish=finish, previews=previews
            ),
            settings,
        )
    )
    if settings.telegram_webhook_url:
        app.router.add_post(webhook_path(settings), receive_webhook)
