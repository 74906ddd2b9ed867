"""Unit of work: one session and its repositories for one use case, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from db.chat_extras import ChatExtrasRepository
from db.engine import SessionFactory
from db.payment_orders import PaymentOrderRepository
from db.reminder_repository import ReminderRepository
from db.repositories import (
    AccountLinkRepository,
    AccountRepository,
    ApiKeyRepository,
    BatchRepository,
    HistoryRepository,
    IdempotencyRepository,
    JobRepository,
    LedgerRepository,
    MetricsRepository,
    PaymentRepository,
    QuoteRepository,
    SubscriptionRepository,
    UsageRepository,
    WhatsAppRepository,
    WorkRepository,
)


class UnitOfWork:
    """`async with uow: ...; await uow.commit()`; leaving the block without a commit rolls back."""

    session: AsyncSession
    accounts: AccountRepository
    ledger: LedgerRepository
    subscriptions: SubscriptionRepository
    usage: UsageRepository
    quotes: QuoteRepository
    batches: BatchRepository
    jobs: JobRepository
    payments: PaymentRepository
    work: WorkRepository
    api_keys: ApiKeyRepository
    history: HistoryRepository
    idempotency: IdempotencyRepository
    metrics: MetricsRepository
    account_links: AccountLinkRepository
    whatsapp: WhatsAppRepository
    extras: ChatExtrasRepository
    orders: PaymentOrderRepository
    reminders: ReminderRepository

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> Self:
        self.session = self._session_factory()
        self.accounts = AccountRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        self.subscriptions = SubscriptionRepository(self.session)
        self.usage = UsageRepository(self.session)
        self.quotes = QuoteRepository(self.session)
        self.batches = BatchRepository(self.session)
        self.jobs = JobRepository(self.session)
        self.payments = PaymentRepository(self.session)
        self.work = WorkRepository(self.session)
        self.api_keys = ApiKeyRepository(self.session)
        self.history = HistoryRepository(self.session)
        self.idempotency = IdempotencyRepository(self.session)
        self.metrics = MetricsRepository(self.session)
        self.account_links = AccountLinkRepository(self.session)
        self.whatsapp = WhatsAppRepository(self.session)
        self.extras = ChatExtrasRepository(self.session)
        self.orders = PaymentOrderRepository(self.session)
        self.reminders = ReminderRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Closing rolls back whatever was not committed and detaches the objects without
        # expiring them, so a use case can return what it read.
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
