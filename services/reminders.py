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
    """A notice to send: a reminder, a renewal link, or news about a payment."""

    notice_id: int
    account_id: int
    # low_balance, plan_ending, results_expiring, renewal, order_refunded, order_expired,
    # order_failed
    kind: str
    channel: str
    chat: Mapping[str, Any]
    language: str
    values: Mapping[str, Any] = field(default_factory=dict)


def notice_payload(
    channel: str, chat: Mapping[str, Any], language: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """What a notice's retry needs, as JSON: dates as ISO text (`notice_date` reads them)."""
    return {
        "channel": channel,
        "chat": dict(chat),
        "language": language,
        "values": {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in values.items()
        },
    }


def notice_date(value: Any) -> datetime | None:
    """A date of a notice's values, whether fresh (a datetime) or read back (ISO text)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


# A notice is tried at most this many times, a try that has not finished after NOTICE_STALE
# counts as failed, and after NOTICE_GIVE_UP (a person who blocked the bot) it is left alone.
NOTICE_ATTEMPTS = 6
NOTICE_STALE = timedelta(minutes=5)
NOTICE_GIVE_UP = timedelta(days=1)


async def claim_notice(
    uow: UnitOfWork,
    account_id: int,
    kind: str,
    subject: str,
    *,
    channel: str,
    chat: Mapping[str, Any],
    language: str,
    values: Mapping[str, Any],
    now: datetime,
) -> int | None:
    """Record a notice to send, once per (account, kind, subject); its id when new."""
    async with uow:
        notice_id = await uow.reminders.claim(
            account_id, kind, subject, now, notice_payload(channel, chat, language, values)
        )
        await uow.commit()
    return notice_id


async def lease_notice(uow: UnitOfWork, notice_id: int, *, now: datetime) -> Reminder | None:
    """Take a recorded notice for one send; None when it is delivered, being sent by another
    worker, or out of attempts."""
    async with uow:
        row = await uow.reminders.lease(notice_id, now, now - NOTICE_STALE, NOTICE_ATTEMPTS)
        await uow.commit()
        if row is None or row.payload is None:
            return None
        payload = row.payload
        return Reminder(
            notice_id=row.id,
            account_id=row.account_id,
            kind=row.kind,
            channel=str(payload["channel"]),
            chat=dict(payload["chat"]),
            language=str(payload["language"]),
            values=dict(payload["values"]),
        )


async def notice_delivered(uow: UnitOfWork, notice_id: int, *, now: datetime) -> None:
    """Record that the notice reached the chat platform: it is never sent again."""
    async with uow:
        await uow.reminders.mark_delivered(notice_id, now)
        await uow.commit()


async def undelivered_notices(uow: UnitOfWork, *, now: datetime) -> list[int]:
    """Notices whose send failed or was lost, still worth a try."""
    async with uow:
        return list(
            await uow.reminders.undelivered(
                now - NOTICE_STALE, now - NOTICE_GIVE_UP, NOTICE_ATTEMPTS
            )
        )


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
    """Find the reminders due now and record each once (not yet delivered); the caller sends
    them through `lease_notice` and `notice_delivered`."""
    due: list[Reminder] = []
    async with uow:
        repo = uow.reminders

        async def claim(
            account: Account, kind: str, subject: str, channel: str, **values: Any
        ) -> None:
            chat = _chat(account, channel)
            if chat is None or not await repo.enabled(account.id):
                return
            payload = notice_payload(channel, chat, account.language, values)
            notice_id = await repo.claim(account.id, kind, subject, now, payload)
            if notice_id is not None:
                due.append(
                    Reminder(notice_id, account.id, kind, channel, chat, account.language, values)
                )

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
