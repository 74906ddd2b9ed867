"""Reminders people want, each once, and none for a person who turned them off."""

from __future__ import annotations

from datetime import timedelta

from db.models import Batch
from services.billing import accept_quote
from services.pricing import Tier
from services.reminders import ReminderRules, claim_due_reminders, set_reminders
from services.subscriptions import subscribe
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote

RULES = ReminderRules(
    low_balance_credits=25,
    plan_ahead=timedelta(days=3),
    retention=timedelta(days=7),
    skip_plan_sources=frozenset({"midtrans"}),
)


async def _delivered_batch(make_uow, account_id: int, images: int, *, at=NOON) -> int:
    quote = await new_quote(make_uow(), account_id, images, now=at)
    accepted = await accept_quote(
        make_uow(), quote.quote_id, account_id, Tier.BASIC, zone=JAKARTA, now=at
    )
    async with make_uow() as uow:
        batch = await uow.session.get(Batch, accepted.batch_id)
        assert batch is not None
        batch.delivered_at = at
        batch.results = ["results/1/batch.zip"]
        await uow.commit()
    return accepted.batch_id


async def test_low_balance_after_a_batch_is_reminded_once_until_the_next_top_up(make_uow):
    account_id = await new_account(make_uow(), credits=30)
    await _delivered_batch(make_uow, account_id, 3)  # 9 credits: 21 left
    (reminder,) = await claim_due_reminders(make_uow(), RULES, now=NOON)
    assert (reminder.kind, reminder.channel, dict(reminder.values)) == (
        "low_balance",
        "telegram",
        {"balance": 21},
    )
    assert reminder.chat == {"chat_id": 1001, "language": "id"}
    await _delivered_batch(make_uow, account_id, 1)
    assert await claim_due_reminders(make_uow(), RULES, now=NOON) == []
    async with make_uow() as uow:  # a top-up, then the balance runs low again
        await uow.ledger.apply(
            account_id=account_id,
            delta=5,
            reason="grant",
            reference="test",
            idempotency_key="top-up",
            now=NOON,
        )
        await uow.commit()
    await _delivered_batch(make_uow, account_id, 1)
    assert [r.kind for r in await claim_due_reminders(make_uow(), RULES, now=NOON)] == [
        "low_balance"
    ]


async def test_plan_ending_soon_is_reminded_once_unless_it_renews_or_came_by_link(make_uow):
    credits_plan = await new_account(make_uow(), telegram_id=1, credits=100)
    link_plan = await new_account(make_uow(), telegram_id=2, credits=100)
    stars_plan = await new_account(make_uow(), telegram_id=3, credits=100)
    for account_id, source, renews in (
        (credits_plan, "credits", False),
        (link_plan, "midtrans", False),
        (stars_plan, "telegram_stars", True),
    ):
        await subscribe(
            make_uow(), account_id, "pro", 30, source=source, auto_renew=renews, now=NOON
        )
    assert await claim_due_reminders(make_uow(), RULES, now=NOON + timedelta(days=26)) == []
    later = NOON + timedelta(days=28)
    (reminder,) = await claim_due_reminders(make_uow(), RULES, now=later)
    assert (reminder.account_id, reminder.kind, reminder.values["plan"]) == (
        credits_plan,
        "plan_ending",
        "pro",
    )
    assert await claim_due_reminders(make_uow(), RULES, now=later) == []


async def test_results_about_to_be_deleted_are_reminded_a_day_before(make_uow):
    account_id = await new_account(make_uow(), credits=500)
    batch_id = await _delivered_batch(make_uow, account_id, 2)
    assert await claim_due_reminders(make_uow(), RULES, now=NOON + timedelta(days=5)) == []
    (reminder,) = await claim_due_reminders(
        make_uow(), RULES, now=NOON + timedelta(days=6, hours=2)
    )
    assert (reminder.kind, reminder.values["batch_id"]) == ("results_expiring", batch_id)
    assert reminder.values["deleted_at"] == NOON + timedelta(days=7)


async def test_a_person_who_turned_reminders_off_gets_none(make_uow):
    account_id = await new_account(make_uow(), credits=30)
    await set_reminders(make_uow(), account_id, False, now=NOON)
    await _delivered_batch(make_uow, account_id, 3)
    assert await claim_due_reminders(make_uow(), RULES, now=NOON) == []
    assert await claim_due_reminders(make_uow(), RULES, now=NOON + timedelta(days=6, hours=2)) == []
