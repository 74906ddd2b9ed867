"""SQLAlchemy models: accounts, credit ledger, plans, quotas, quotes, batches, jobs, payments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in UTC on every database; SQLite alone would hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class LedgerReason(StrEnum):
    WELCOME = "welcome"
    GRANT = "grant"
    PURCHASE = "purchase"
    CHARGE = "charge"
    REFUND = "refund"
    PURCHASE_REFUND = "purchase_refund"
    PLAN_PURCHASE = "plan_purchase"
    # The unused paid days of a plan that another plan replaced, given back as credits.
    PLAN_CREDIT = "plan_credit"
    REFERRAL = "referral"
    PROMO = "promo"


class QuoteStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PaidWith(StrEnum):
    QUOTA = "quota"
    CREDITS = "credits"


class BatchStatus(StrEnum):
    QUEUED = "queued"
    FINISHED = "finished"
    DELIVERED = "delivered"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # not started when the person cancelled the batch; refunded


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    whatsapp_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="id")
    display_name: Mapped[str] = mapped_column(String(128), default="")
    # A cache of the ledger's sum, kept in the same transaction as every entry so that a
    # conditional UPDATE can refuse an overdraft without locking the ledger.
    balance: Mapped[int] = mapped_column(Integer, default=0)
    output_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Random and rotatable; the callback signing secret is derived from it with a server-side
    # key that is not in the database, so a dump alone cannot sign callbacks.
    callback_secret_nonce: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    """One credit movement; rows are only ever inserted."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    delta: Mapped[int]
    balance_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(128), default="")
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime]


class Subscription(Base):
    """One uninterrupted run of one plan; an account has at most one run active at a time."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    auto_renew: Mapped[bool] = mapped_column(default=True)
    cancelled_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(32), default="admin")
    created_at: Mapped[datetime]
    # The end of the paid part of the period (days given by an operator are not paid).
    paid_until: Mapped[datetime | None]
    # When another plan took this one's place (its period then ends at that moment).
    replaced_at: Mapped[datetime | None]
    # The provider's recurring subscription that renews this run (Telegram Stars: the charge
    # id of its first payment), and when the provider confirmed it renews no more.
    provider_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    renewal_stopped_at: Mapped[datetime | None]


class DailyUsage(Base):
    """Removals paid by the quota on one day in the service's time zone."""

    __tablename__ = "daily_usage"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    removals: Mapped[int] = mapped_column(default=0)
    premium_removals: Mapped[int] = mapped_column(default=0)


class Quote(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    image_count: Mapped[int]
    # [{"name": original file name, "path": path under DATA_DIR}], one per image.
    files: Mapped[list[Any]] = mapped_column(default=list)
    # Failures found at intake (skipped ZIP entries and the like), reported with the results.
    rejected: Mapped[list[Any]] = mapped_column(default=list)
    channel: Mapped[str] = mapped_column(String(16))
    chat: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=QuoteStatus.OPEN)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), unique=True)
    tier: Mapped[str] = mapped_column(String(16))
    image_count: Mapped[int]
    discount_percent: Mapped[int]
    gross_credits: Mapped[int]
    price_credits: Mapped[int]
    paid_with: Mapped[str] = mapped_column(String(16))
    credits_charged: Mapped[int]
    quota_day: Mapped[date | None] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(default=0)
    channel: Mapped[str] = mapped_column(String(16))
    chat: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.QUEUED)
    failed_count: Mapped[int] = mapped_column(default=0)
    refunded_credits: Mapped[int] = mapped_column(default=0)
    settled_at: Mapped[datetime | None]
    results: Mapped[list[Any]] = mapped_column(default=list)
    progress_reported_at: Mapped[datetime | None]
    delivery_claimed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    # The callback of a batch started with a callback URL: pending once the results are
    # recorded, then delivered or failed (given up after its bounded schedule).
    callback_state: Mapped[str | None] = mapped_column(String(16))
    callback_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    callback_next_at: Mapped[datetime | None]
    # The person's last Cancel on the batch in progress (the images not yet started stop).
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class CallbackState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class IdempotencyRecord(Base):
    """The first answer to an HTTP request sent with an Idempotency-Key, kept for 24 hours.

    `fingerprint` is a hash of what the request asked for; the same key with another request
    is refused. A record is `started` while the first request runs; `quote_id`, written before
    anything is charged, ties it to the batch that request paid for.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    key: Mapped[str] = mapped_column(String(255))
    route: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    quote_id: Mapped[str | None] = mapped_column(String(16))
    batch_id: Mapped[int | None]
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]


class Job(Base):
    """One image of a batch."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("batch_id", "position"),
        Index("ix_jobs_status_enqueued_at", "status", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    position: Mapped[int]
    input_name: Mapped[str] = mapped_column(String(255))
    input_path: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(64))
    output_path: Mapped[str | None] = mapped_column(String(512))
    duration_ms: Mapped[int | None]
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Payment(Base):
    """A purchase made through a payment provider, recorded once per provider charge id."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_charge_id: Mapped[str] = mapped_column(String(255), unique=True)
    product: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(8))
    credits: Mapped[int] = mapped_column(default=0)
    refunded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A personal key for the HTTP API; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LinkCode(Base):
    """A one-time code that joins a second chat channel to an account; only its hash is kept."""

    __tablename__ = "link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]


class WhatsAppInbound(Base):
    """A WhatsApp message id already taken in, so that Meta's repeated deliveries are ignored."""

    __tablename__ = "whatsapp_inbound"

    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    # The message itself, for the job that handles it after the webhook has answered Meta,
    # and when that job finished (or gave up): unhandled messages are queued again.
    payload: Mapped[dict[str, Any] | None]
    handled_at: Mapped[datetime | None]


class WhatsAppContact(Base):
    """When a WhatsApp number last wrote to us: free-form replies are allowed for 24 hours after."""

    __tablename__ = "whatsapp_contacts"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_inbound_at: Mapped[datetime]
    # The last progress text, so that every batch of one person together keeps WhatsApp's pace.
    last_progress_at: Mapped[datetime | None]


class WhatsAppHeld(Base):
    """A message that could not be sent because the 24-hour window was closed.

    Sent, oldest first, as soon as the person writes again and so reopens the window.
    """

    __tablename__ = "whatsapp_held"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    body: Mapped[str] = mapped_column(String(4096))
    created_at: Mapped[datetime]


class InviteCode(Base):
    """The personal code of an account's invite link (`t.me/<bot>?start=ref_<code>`)."""

    __tablename__ = "invite_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    created_at: Mapped[datetime]


class Referral(Base):
    """Who invited an account; rewarded once, after the invitee's first paid batch succeeds."""

    __tablename__ = "referrals"

    invitee_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    referrer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # The reward promised when the invitation was accepted, kept whatever the settings become.
    referrer_credits: Mapped[int]
    invitee_credits: Mapped[int]
    created_at: Mapped[datetime]
    rewarded_at: Mapped[datetime | None]
    rewarded_batch_id: Mapped[int | None]


class PromoCode(Base):
    """Credits an operator hands out by code: a number of uses, until an expiry."""

    __tablename__ = "promo_codes"
    __table_args__ = (CheckConstraint("uses <= max_uses", name="uses_within_limit"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    credits: Mapped[int]
    max_uses: Mapped[int]
    uses: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]


class PromoRedemption(Base):
    """One person's use of one promo code: at most one per person and code."""

    __tablename__ = "promo_redemptions"

    code: Mapped[str] = mapped_column(ForeignKey("promo_codes.code"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    created_at: Mapped[datetime]


class PreviewUsage(Base):
    """Free previews shown to one account on one day in the service's time zone."""

    __tablename__ = "preview_usage"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(default=0)


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    # The gateway says paid, but not the order's amount: nothing is applied, an operator looks.
    AMOUNT_MISMATCH = "amount_mismatch"


class PaymentOrder(Base):
    """A rupiah payment link for a credit pack or a month of a plan, and what became of it."""

    __tablename__ = "payment_orders"
    __table_args__ = (Index("ix_payment_orders_status_created_at", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(50), primary_key=True)  # the gateway's order_id
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    product: Mapped[str] = mapped_column(String(64))  # pack:<rupiah> or plan:<code>
    amount_rp: Mapped[int]
    credits: Mapped[int] = mapped_column(default=0)
    plan: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default=OrderStatus.PENDING)
    gateway_status: Mapped[str] = mapped_column(String(32), default="")
    method: Mapped[str] = mapped_column(String(32), default="")
    payment_url: Mapped[str] = mapped_column(String(512), default="")
    reference: Mapped[str] = mapped_column(String(128), default="")
    # Where receipts go: a chat channel (telegram, whatsapp) or the HTTP API.
    channel: Mapped[str] = mapped_column(String(16))
    chat: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(8), default="id")
    refunded_amount_rp: Mapped[int] = mapped_column(default=0)
    refunded_credits: Mapped[int] = mapped_column(default=0)
    # Credits a refund should have taken back but that were already spent.
    refund_shortfall: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    notice_claimed_at: Mapped[datetime | None]
    notice_sent_at: Mapped[datetime | None]
    renewal_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ReminderPreference(Base):
    """A person's choice about reminders; no row means reminders are on."""

    __tablename__ = "reminder_preferences"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]


class ReminderSent(Base):
    """One notice about one subject (a reminder, a renewal link, a payment's refund, expiry or
    failure): its unique key claims it once; it is delivered at least once, never twice."""

    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("account_id", "kind", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    # When it was claimed, then when its latest send began.
    sent_at: Mapped[datetime]
    # Set only after a send succeeded; until then the upkeep retries it, `attempts` times at most.
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Where and what to send: channel, chat, language and the values of the text.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
