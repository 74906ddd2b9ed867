"""Reminders a person wants, each sent once: a low balance after a batch, a plan about to end,
results about to be deleted. A person turns them all off (and on) in their settings.

Plans bought by payment link get their renewal link instead (`services.topups.claim_renewals`);
a plan that renews by itself or was stopped on purpose gets nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from db.models import Account
from db.uow import UnitOfWork
from services.accounts import existing_account


@dataclass(frozen=True, slots=True)
class ReminderRules:
    low_balance_credits: int
    plan_ahead: timedelta
    retention: timedelta
    skip_plan_sources: frozenset[str] = frozenset()  # plans reminded another way
    # Batches delivered this recently count as "after a batch".
    recent: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Reminder:
    account_id: int
    kind: str  # low_balance, plan_ending, results_expiring
    channel: str
    chat: Mapping[str, Any]
    language: str
    values: Mapping[str, Any] = field(default_factory=dict)


async def reminders_enabled(uow: UnitOfWork, account_id: int) -> bool:
    async with uow:
        return await uow.reminders.enabled(account_id)


async def set_reminders(uow: UnitOfWork, account_id: int, enabled: bool, *, now: datetime) -> bool:
    """Turn the account's reminders on or off; returns the new setting.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        await existing_account(uow, account_id)
        await uow.reminders.set_enabled(account_id, enabled, now)
        await uow.commit()
    return enabled


def _chat(account: Account, channel: str) -> dict[str, Any] | None:
    if channel == "telegram" and account.telegram_id is not None:
        return {"chat_id": account.telegram_id, "language": account.language}
    if channel == "whatsapp" and account.whatsapp_number is not None:
        return {"number": account.whatsapp_number, "language": account.language}
    return None


def _home_channel(account: Account) -> str:
    return "telegram" if account.telegram_id is not None else "whatsapp"


async def claim_due_reminders(
    uow: UnitOfWork, rules: ReminderRules, *, now: datetime
) -> list[Reminder]:
    """Find the reminders due now and claim each once; the caller sends them."""
    due: list[Reminder] = []
    async with uow:
        repo = uow.reminders

        async def claim(
            account: Account, kind: str, subject: str, channel: str, **values: Any
        ) -> None:
            chat = _chat(account, channel)
            if chat is None or not await repo.enabled(account.id):
                return
            if await repo.claim(account.id, kind, subject, now):
                due.append(Reminder(account.id, kind, channel, chat, account.language, values))

        # A low balance after a batch, once until the next top-up or grant.
        recent = await repo.batches_delivered_since(now - rules.recent)
        channel_of = {batch.account_id: batch.channel for batch in recent}
        for account_id, channel in channel_of.items():
            account = await repo.account(account_id)
            if account is None or account.balance >= rules.low_balance_credits:
                continue
            subject = f"after-credit-{await repo.last_credit_in(account_id)}"
            await claim(account, "low_balance", subject, channel, balance=account.balance)

        # A plan that will end (and not renew by itself) within the warning period.
        for subscription in await repo.plans_ending(now, now + rules.plan_ahead):
            if subscription.source in rules.skip_plan_sources:
                continue
            account = await repo.account(subscription.account_id)
            if account is None:
                continue
            subject = f"{subscription.id}:{subscription.period_end:%Y%m%d%H%M}"
            await claim(
                account,
                "plan_ending",
                subject,
                _home_channel(account),
                plan=subscription.plan,
                ends=subscription.period_end,
            )

        # Results deleted within a day, by the retention clean-up.
        start = now - rules.retention
        for batch in await repo.batches_created_between(start, start + timedelta(days=1)):
            if not batch.results or batch.channel not in ("telegram", "whatsapp"):
                continue
            account = await repo.account(batch.account_id)
            if account is None:
                continue
            await claim(
                account,
                "results_expiring",
                str(batch.id),
                batch.channel,
                batch_id=batch.id,
                deleted_at=batch.created_at + rules.retention,
            )
        await uow.commit()
    return due
