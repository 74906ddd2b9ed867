"""What the WhatsApp channel does with each message a person sends.

Each handler translates: it reads the message, calls one service function, and answers in the
account's language with the channel-neutral texts of `bot.chat`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot import chat
from bot.messages import text, text_count
from bot.previews import Previewer
from bot.rupiah_offers import RUPIAH_ROW, Offer, offer_for, pack_offers, plan_offers
from bot.state import SharedState
from bot.whatsapp.graph import (
    GraphClient,
    GraphError,
    ListRow,
    MediaTooLarge,
    ReplyButton,
    send_paced,
)
from bot.whatsapp.updates import Inbound, Kind
from db.models import Account
from db.uow import UnitOfWork
from services.account_links import issue_link_code, looks_like_link_code, redeem_link_code
from services.accounts import ChannelIdentity, get_or_register
from services.billing import AcceptedBatch, QuoteOffer, accept_quote, cancel_batch
from services.clock import utcnow
from services.errors import CannotAfford, ServiceError
from services.plans import PLANS, PlanCode, UnknownPlan
from services.pricing import Tier
from services.promos import redeem_promo
from services.redo import InputsGone, quote_redo
from services.referrals import accept_invitation, invite_code
from services.reminders import set_reminders
from services.settings import Settings
from services.stats import account_stats
from services.subscriptions import buy_plan_with_credits, cancel, current_plan, plan_price_credits
from services.uploads import ReceivedFile, cancel_upload, quote_upload
from services.whatsapp import hold_message, take_held_messages

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
QUOTE_ROW = "q"
PLAN_ROW = "plan"
STOP_PLAN = "stop"
CANCEL = "cancel"
CANCEL_BATCH = "bc"
REDO_BATCH = "rd"
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
COMMANDS = {
    "stats": "stats",
    "statistik": "stats",
    "subscribe": "subscribe",
    "langganan": "subscribe",
    "paket": "subscribe",
    "help": "help",
    "bantuan": "help",
    "start": "help",
    "saldo": "balance",
    "balance": "balance",
    "link": "link",
    "tautkan": "link",
    "invite": "invite",
    "undang": "invite",
    "promo": "promo",
    "buy": "buy",
    "beli": "buy",
    "topup": "buy",
    "pengingat": "reminders",
    "reminders": "reminders",
}

Submit = Callable[[AcceptedBatch], Awaitable[bool]]
Finish = Callable[[int], Awaitable[None]]


def language_of_number(number: str) -> str:
    """WhatsApp tells no client language: Indonesian numbers (+62) get Indonesian."""
    return "id" if number.startswith("62") else "en"


@dataclass(frozen=True, slots=True)
class Arrival:
    """A file fetched from WhatsApp, waiting for the person's other files."""

    account_id: int
    language: str
    file: ReceivedFile
    compressed: bool  # sent as a photo, which WhatsApp recompresses, rather than a document

    def encode(self) -> str:
        return json.dumps(
            [self.account_id, self.language, self.file.name, str(self.file.path), self.compressed]
        )

    @classmethod
    def decode(cls, encoded: str) -> Arrival:
        account_id, language, name, path, compressed = json.loads(encoded)
        return cls(account_id, language, ReceivedFile(name, Path(path)), compressed)


def error_text(error: BaseException, language: str, *, rupiah: bool = False) -> str:
    """The shared refusal texts, with WhatsApp's own way to top up (there is no /buy here)."""
    if not isinstance(error, CannotAfford):
        return chat.error_text(error, language)
    decision = error.decision
    lines = [
        text(
            "chat.cannot_afford",
            language,
            needed=chat.money(decision.credits_needed, language),
            balance=chat.money(decision.balance, language),
            shortfall=chat.money(decision.shortfall, language),
        )
    ]
    lines.extend(chat.plan_refusal_lines(decision, language))
    lines.append(text("wa.topup_rupiah" if rupiah else "wa.topup", language))
    return "\n".join(lines)


def _plan_row_title(offer: Offer, language: str) -> str:
    plan = (offer.product.plan or "").title()
    return f"{plan} · Rp {chat.money(offer.product.amount_rp, language)}"[:24]


class Conversation:
    """The WhatsApp channel: one instance per process that runs the WhatsApp message jobs."""

    def __init__(
        self,
        settings: Settings,
        uow: Callable[[], UnitOfWork],
        graph: GraphClient,
        submit: Submit,
        state: SharedState,
        *,
        rate_limit_waits: tuple[float, ...] = (6.0, 12.0),
        finish: Finish | None = None,
        previews: Previewer | None = None,
    ) -> None:
        self.settings = settings
        self.uow = uow
        self.graph = graph
        self.submit = submit
        self.finish = finish
        self.previews = previews
        self.rate_limit_waits = rate_limit_waits
        # A person's files may be fetched by jobs in different processes: a shared gathering.
        self.gatherer = state.gathering(
            CHANNEL, self._quote_gathered, encode=Arrival.encode, decode=Arrival.decode
        )
        self.gatherer.start()

    async def close(self) -> None:
        await self.gatherer.close()

    async def say(self, number: str, body: str) -> None:
        await send_paced(lambda: self.graph.send_text(number, body), self.rate_limit_waits)

    async def handle(self, inbound: Inbound) -> None:
        """Handle one message, taken in once by the webhook (repeated deliveries are not)."""
        now = utcnow()
        registration = await get_or_register(
            self.uow(),
            ChannelIdentity(whatsapp_number=inbound.number),
            language=language_of_number(inbound.number),
            display_name=inbound.name,
            welcome_credits=self.settings.welcome_credits,
            now=now,
        )
        account = registration.account
        await self._send_held(inbound.number)
        if registration.created:
            await self.say(inbound.number, self._welcome(account, created=True))
        try:
            await self._dispatch(inbound, account)
        except (ServiceError, UnknownPlan) as error:
            await self.say(
                inbound.number,
                error_text(error, account.language, rupiah=self.settings.payments_enabled),
            )

    async def _send_held(self, number: str) -> None:
        """Send what was held while the 24-hour window was closed; it is open again now."""
        held = await take_held_messages(
            self.uow(),
            number,
            now=utcnow(),
            max_age=timedelta(days=self.settings.retention_days),
        )
        if not held:
            return
        try:
            await self.say(number, "\n\n".join(held)[:4096])
        except BaseException:
            for body in held:  # keep them for the next message
                await hold_message(self.uow(), number, body, now=utcnow())
            raise

    def _welcome(self, account: Account, *, created: bool) -> str:
        return chat.welcome_text(
            account.display_name,
            account.balance,
            created=created,
            welcome_credits=self.settings.welcome_credits,
            credit_price_rp=self.settings.credit_price_rp,
            language=account.language,
        )

    async def _dispatch(self, inbound: Inbound, account: Account) -> None:
        if inbound.kind is Kind.TEXT:
            await self._on_text(inbound, account)
        elif inbound.kind in (Kind.IMAGE, Kind.DOCUMENT):
            await self._on_media(inbound, account)
        elif inbound.kind in (Kind.LIST_REPLY, Kind.BUTTON_REPLY):
            await self._on_choice(inbound, account)
        else:
            await self.say(inbound.number, text("wa.unsupported", account.language))

    # --- text commands -------------------------------------------------------------------

    async def _on_text(self, inbound: Inbound, account: Account) -> None:
        word = inbound.text.strip().lstrip("/").split(maxsplit=1)
        command = COMMANDS.get(word[0].lower()) if word else None
        language = account.language
        if command == "stats":
            stats = await account_stats(
                self.uow(), account.id, zone=self.settings.zone, now=utcnow()
            )
            reply = chat.stats_text(stats, language, credit_price_rp=self.settings.credit_price_rp)
        elif command == "balance":
            stats = await account_stats(
                self.uow(), account.id, zone=self.settings.zone, now=utcnow()
            )
            reply = self._balance_text(stats.balance, stats.plan, stats.quota_left_today, language)
        elif command == "help":
            settings = self.settings
            reply = "\n\n".join(
                [
                    chat.help_text(
                        language,
                        retention_days=settings.retention_days,
                        credit_price_rp=settings.credit_price_rp,
                        support_contact=settings.support_contact,
                        previews_per_day=settings.previews_per_day,
                        referral_credits=settings.referral_invitee_credits,
                    ),
                    text("wa.commands", language),
                    text("wa.commands.extras", language),
                ]
            )
        elif command == "invite":
            reply = await self._invite(account, word[1] if len(word) > 1 else "")
        elif command == "promo" and len(word) > 1:
            redeemed = await redeem_promo(self.uow(), account.id, word[1], now=utcnow())
            reply = text(
                "promo.redeemed", language, credits=redeemed.credits, balance=redeemed.balance
            )
        elif command == "subscribe":
            await self._offer_plans(inbound.number, account)
            return
        elif command == "buy":
            await self._offer_packs(inbound.number, account)
            return
        elif command == "reminders":
            # "pengingat mati" / "reminders off" turns them off; "on"/"aktif" back on.
            wanted = inbound.text.lower().split()[1:2]
            enabled = not wanted or wanted[0] not in ("off", "mati", "stop")
            await set_reminders(self.uow(), account.id, enabled, now=utcnow())
            reply = text("remind.now_on" if enabled else "remind.now_off", language)
        elif command == "link":
            code = await issue_link_code(self.uow(), account.id, now=utcnow())
            reply = text("wa.link.code", language, code=code)
        elif looks_like_link_code(inbound.text):
            await redeem_link_code(self.uow(), inbound.text, account.id, now=utcnow())
            reply = text("chat.link.done", language)
        else:
            reply = "\n".join([text("wa.unsupported", language), text("wa.commands", language)])
        await self.say(inbound.number, reply)

    async def _invite(self, account: Account, code: str) -> str:
        """`invite` shows the person's code; `invite CODE` accepts a friend's invitation."""
        settings = self.settings
        if not code:
            own = await invite_code(self.uow(), account.id, now=utcnow())
            return text("invite.code", account.language, code=own)
        # WhatsApp has no start link: a new account is one that has done nothing yet.
        invitation = await accept_invitation(
            self.uow(),
            account.id,
            code.strip().lower(),
            new_account=False,
            referrer_credits=settings.referral_referrer_credits,
            invitee_credits=settings.referral_invitee_credits,
            now=utcnow(),
        )
        return text("invite.joined", account.language, credits=invitation.invitee_credits)

    def _balance_text(
        self, balance: int, plan: PlanCode | None, quota_left: int, language: str
    ) -> str:
        lines = [
            text(
                "chat.welcome.balance",
                language,
                balance=chat.money(balance, language),
                credit_rp=chat.money(self.settings.credit_price_rp, language),
            )
        ]
        if plan is not None:
            lines.append(
                text("chat.stats.plan", language, plan=plan.value.title(), left=quota_left)
            )
        return "\n".join(lines)

    async def _offer_plans(self, number: str, account: Account) -> None:
        language = account.language
        status = await current_plan(self.uow(), account.id, utcnow())
        body = "\n\n".join(
            [
                chat.plans_text(status, language, zone=self.settings.zone),
                text("wa.plans.pay_hint", language),
            ]
        )
        rows = [
            ListRow(
                f"{PLAN_ROW}:{code.value}",
                code.value.title(),
                text(
                    "wa.plans.row",
                    language,
                    credits=chat.money(
                        plan_price_credits(PLANS[code], self.settings.credit_price_rp), language
                    ),
                ),
            )
            for code in (PlanCode.STARTER, PlanCode.PRO)
        ]
        rows.extend(
            ListRow(
                f"{RUPIAH_ROW}:{offer.product.code}",
                _plan_row_title(offer, language),
                text("wa.pay.row", language),
            )
            for offer in plan_offers(self.settings, account.id, CHANNEL, language)
        )
        if status is not None and not status.cancelled:
            rows.append(
                ListRow(
                    f"{PLAN_ROW}:{STOP_PLAN}",
                    text("wa.plans.stop_row", language),
                    text("wa.plans.stop_row_desc", language),
                )
            )
        await send_paced(
            lambda: self.graph.send_list(
                number,
                body=body,
                button=text("wa.plans.button", language),
                section=text("wa.plans.section", language),
                rows=rows,
            ),
            self.rate_limit_waits,
        )

    async def _offer_packs(self, number: str, account: Account) -> None:
        """Offer the rupiah credit packs as a list; each choice answers with its pay link."""
        language = account.language
        offers = pack_offers(self.settings, account.id, CHANNEL, language)
        if not offers:
            await self.say(number, text("wa.topup", language))
            return
        rows = [
            ListRow(
                f"{RUPIAH_ROW}:{offer.product.code}",
                f"Rp {chat.money(offer.product.amount_rp, language)}",
                offer.label[:72],
            )
            for offer in offers
        ]
        await send_paced(
            lambda: self.graph.send_list(
                number,
                body=text("pay.packs.title", language),
                button=text("wa.pay.button", language),
                section=text("wa.pay.section", language),
                rows=rows,
            ),
            self.rate_limit_waits,
        )

    async def _send_pay_link(self, number: str, account: Account, code: str) -> None:
        language = account.language
        offer = offer_for(self.settings, account.id, CHANNEL, language, code)
        if offer is None:
            await self.say(number, text("chat.error.unknown_product", language))
            return
        await self.say(number, f"{offer.label}\n{offer.url}")

    # --- files in, quote out ---------------------------------------------------------------

    def _limit_bytes(self, inbound: Inbound) -> int:
        if inbound.kind is Kind.IMAGE or inbound.mime_type.startswith("image/"):
            return self.settings.max_image_mb * 2**20
        return self.settings.max_upload_mb * 2**20

    async def _on_media(self, inbound: Inbound, account: Account) -> None:
        """Fetch the file in the Cloud API's two steps and add it to the person's gathering."""
        if inbound.kind is Kind.DOCUMENT and not (
            inbound.mime_type.startswith("image/") or inbound.mime_type in ZIP_TYPES
        ):
            await self.say(inbound.number, text("wa.unsupported", account.language))
            return
        directory = self.settings.data_dir / "inbox" / str(account.id) / secrets.token_hex(8)
        directory.mkdir(parents=True, exist_ok=True)
        name = Path(inbound.filename).name or f"whatsapp-{inbound.media_id}"
        destination = directory / "upload"
        limit = self._limit_bytes(inbound)
        try:
            info = await self.graph.media_info(inbound.media_id)
            await self.graph.download(info, destination, max_bytes=limit)
        except MediaTooLarge:
            await self.say(
                inbound.number, chat.file_too_large_text(limit // 2**20, account.language)
            )
            return
        except GraphError as error:
            if error.status >= 500:
                raise  # WhatsApp's trouble: the webhook fails and Meta delivers it again
            # The media is gone (ids expire) or refused: only the person can send it again.
            await self.say(inbound.number, text("wa.media.failed", account.language))
            return
        await self.gatherer.add(
            inbound.number,
            Arrival(
                account.id,
                account.language,
                ReceivedFile(name=name, path=destination),
                compressed=inbound.kind is Kind.IMAGE,
            ),
        )

    async def _quote_gathered(self, number: Hashable, arrivals: list[Arrival]) -> None:
        """Quote the files that came in a row as one upload, as an interactive list."""
        assert isinstance(number, str)
        account_id, language = arrivals[-1].account_id, arrivals[-1].language
        try:
            offer = await quote_upload(
                self.uow(),
                account_id,
                [arrival.file for arrival in arrivals],
                data_dir=self.settings.data_dir,
                limits=self.settings.intake_limits(),
                archive_limits=self.settings.archive_limits(),
                channel=CHANNEL,
                chat={"number": number, "language": language},
                ttl=timedelta(minutes=self.settings.quote_ttl_minutes),
                zone=self.settings.zone,
                now=utcnow(),
                available=self.settings.available_tiers(),
            )
        except ServiceError as error:
            await self.say(
                number, error_text(error, language, rupiah=self.settings.payments_enabled)
            )
            return
        compressed = any(arrival.compressed for arrival in arrivals)
        await self._send_quote(number, offer, language, compressed_photos=compressed)
        if self.previews is not None and offer.first_input:
            # After the quote, in the background: the preview never delays it.
            self.previews.start(self._send_preview(number, account_id, offer.first_input, language))

    async def _send_preview(
        self, number: str, account_id: int, input_path: str, language: str
    ) -> None:
        """Send the free preview, on white: WhatsApp shows images without transparency."""
        assert self.previews is not None
        preview = await self.previews.make(account_id, input_path, background="white")
        if preview is None:
            return
        caption = text("preview.caption", language, left=preview.left_today)

        async def upload_and_send() -> None:
            media_id = await self.graph.upload(
                preview.png, mime_type="image/png", filename="preview.png"
            )
            await self.graph.send_image(number, media_id, caption)

        try:
            await send_paced(upload_and_send, self.rate_limit_waits)
        except GraphError:
            log.warning("preview not sent to %s", number, exc_info=True)

    async def _send_quote(
        self, number: str, offer: QuoteOffer, language: str, *, compressed_photos: bool
    ) -> None:
        rows = [
            ListRow(
                f"{QUOTE_ROW}:{offer.quote_id}:{tier_offer.price.tier.value}",
                chat.tier_label(tier_offer, language),
                text(
                    "wa.quote.row",
                    language,
                    credits=chat.money(tier_offer.price.credits, language),
                    rupiah=chat.money(
                        tier_offer.price.credits * self.settings.credit_price_rp, language
                    ),
                )
                + (f" · {text('wa.quote.row_plan', language)}" if tier_offer.in_plan else "")
                # Last: WhatsApp cuts a row's description at 72 characters, never the price.
                + f" · {chat.tier_purpose(tier_offer.price.tier, language)}",
            )
            for tier_offer in offer.tiers
        ]
        rows.append(
            ListRow(
                f"{QUOTE_ROW}:{offer.quote_id}:{CANCEL}",
                chat.cancel_label(language),
                text("wa.quote.cancel_row", language),
            )
        )
        body = chat.quote_text(
            offer,
            language,
            credit_price_rp=self.settings.credit_price_rp,
            compressed_photos=compressed_photos,
        )
        await send_paced(
            lambda: self.graph.send_list(
                number,
                body=body,
                button=text("wa.quote.button", language),
                section=text("wa.quote.section", language),
                rows=rows,
            ),
            self.rate_limit_waits,
        )

    # --- choices from list messages ---------------------------------------------------------

    async def _on_choice(self, inbound: Inbound, account: Account) -> None:
        kind, _, rest = inbound.text.partition(":")
        if kind == QUOTE_ROW:
            quote_id, _, choice = rest.rpartition(":")
            await self._on_tier(inbound.number, account, quote_id, choice)
        elif kind == PLAN_ROW:
            await self._on_plan(inbound, account, rest)
        elif kind == CANCEL_BATCH and rest.isdigit():
            await self._on_cancel_batch(inbound.number, account, int(rest))
        elif kind == REDO_BATCH and rest.isdigit():
            await self._on_redo(inbound.number, account, int(rest))
        elif kind == RUPIAH_ROW:
            await self._send_pay_link(inbound.number, account, rest)
        else:
            await self.say(inbound.number, text("chat.error.quote_not_found", account.language))

    async def _on_tier(self, number: str, account: Account, quote_id: str, choice: str) -> None:
        """Accept the quote for the chosen tier (once, however often it is chosen) and queue it."""
        language = account.language
        if choice == CANCEL:
            await cancel_upload(
                self.uow(), quote_id, account.id, data_dir=self.settings.data_dir, now=utcnow()
            )
            await self.say(number, text("chat.quote.cancelled", language))
            return
        try:
            tier = Tier(choice)
        except ValueError:
            await self.say(number, text("chat.error.quote_not_found", language))
            return
        accepted = await accept_quote(
            self.uow(),
            quote_id,
            account.id,
            tier,
            zone=self.settings.zone,
            now=utcnow(),
            available=self.settings.available_tiers(),
        )
        queued = await self.submit(accepted)
        reply = chat.accepted_text(accepted, language)
        if not queued:
            reply += "\n" + text("chat.accepted.queue_delayed", language)
        cancel = ReplyButton(
            f"{CANCEL_BATCH}:{accepted.batch_id}", text("wa.cancel_button", language)
        )
        await send_paced(
            lambda: self.graph.send_buttons(number, body=reply, buttons=[cancel]),
            self.rate_limit_waits,
        )

    async def _on_cancel_batch(self, number: str, account: Account, batch_id: int) -> None:
        """Stop the images of a batch not yet started, refund them, keep what is done."""
        language = account.language
        stopped = await cancel_batch(self.uow(), account.id, batch_id, now=utcnow())
        if not stopped.cancelled:
            await self.say(number, text("batch.cancel_nothing", language))
            return
        lines = [text_count("batch.cancelled", language, stopped.cancelled)]
        if stopped.refunded_credits:
            lines.append(text("batch.cancel_refund", language, credits=stopped.refunded_credits))
        if stopped.quota_returned:
            lines.append(text("batch.cancel_quota", language, images=stopped.quota_returned))
        await self.say(number, "\n".join(lines))
        if stopped.finished and self.finish is not None:
            await self.finish(stopped.batch_id)

    async def _on_redo(self, number: str, account: Account, batch_id: int) -> None:
        """Quote a delivered batch's inputs again, to choose another tier."""
        language = account.language
        try:
            offer = await quote_redo(
                self.uow(),
                account.id,
                batch_id,
                data_dir=self.settings.data_dir,
                channel=CHANNEL,
                chat={"number": number, "language": language},
                ttl=timedelta(minutes=self.settings.quote_ttl_minutes),
                zone=self.settings.zone,
                now=utcnow(),
            )
        except InputsGone:
            await self.say(number, text("redo.gone", language, days=self.settings.retention_days))
            return
        await self._send_quote(number, offer, language, compressed_photos=False)

    async def _on_plan(self, inbound: Inbound, account: Account, choice: str) -> None:
        language = account.language
        if choice == STOP_PLAN:
            status = await cancel(self.uow(), account.id, now=utcnow())
            reply = chat.plan_cancelled_text(status, language, zone=self.settings.zone)
        else:
            status = await buy_plan_with_credits(
                self.uow(),
                account.id,
                choice,
                credit_price_rp=self.settings.credit_price_rp,
                # The reply's message id: a repeated delivery of it never pays twice.
                request_key=f"wa:{inbound.message_id}",
                now=utcnow(),
            )
            reply = chat.plan_started_text(status, language, zone=self.settings.zone)
        await self.say(inbound.number, reply)
