"""Plans, purchases, statistics and the operator commands, on both databases."""

import asyncio
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot.cli import cli
from db.models import JobStatus
from services.accounts import ChannelIdentity, resolve_account
from services.billing import accept_quote, settle_batch
from services.clock import utcnow
from services.errors import AccountNotFound
from services.payments import Purchase, record_credit_purchase
from services.plans import PlanCode
from services.pricing import Tier
from services.stats import account_stats
from services.subscriptions import NoActiveSubscription, cancel, current_plan, subscribe
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote


async def test_a_cancelled_plan_stays_active_until_its_paid_period_ends(uow):
    account = await new_account(uow)
    await subscribe(uow, account, "pro", 30, source="test", auto_renew=True, now=NOON)
    cancelled = await cancel(uow, account, now=NOON + timedelta(days=3))
    assert cancelled.cancelled and not cancelled.auto_renew
    still = await current_plan(uow, account, NOON + timedelta(days=29, hours=23))
    assert still is not None and still.plan.code == PlanCode.PRO
    assert await current_plan(uow, account, NOON + timedelta(days=30, seconds=1)) is None
    with pytest.raises(NoActiveSubscription):
        await cancel(uow, account, now=NOON + timedelta(days=31))


async def test_renewing_the_same_plan_extends_it_and_a_new_plan_replaces_it(uow):
    account = await new_account(uow)
    await subscribe(uow, account, "starter", 30, source="test", auto_renew=True, now=NOON)
    renewed = await subscribe(
        uow, account, "starter", 30, source="test", auto_renew=True, now=NOON + timedelta(days=29)
    )
    assert renewed.period_end == NOON + timedelta(days=60)
    upgraded = await subscribe(
        uow, account, "pro", 30, source="test", auto_renew=True, now=NOON + timedelta(days=40)
    )
    assert upgraded.plan.code == PlanCode.PRO
    current = await current_plan(uow, account, NOON + timedelta(days=41))
    assert current is not None and current.plan.code == PlanCode.PRO


async def test_a_purchase_delivered_twice_credits_once(make_uow):
    account = await new_account(make_uow(), credits=0)
    purchase = Purchase(
        provider="telegram_stars",
        provider_charge_id="stars-1",
        product="credits:100",
        amount=50,
        currency="XTR",
        credits=100,
    )
    results = await asyncio.gather(
        *(record_credit_purchase(make_uow(), account, purchase, now=NOON) for _ in range(3))
    )
    assert sorted(results) == [False, False, True]
    async with make_uow() as uow:
        assert (await uow.accounts.get(account)).balance == 100


async def test_stats_match_the_ledger(uow):
    account = await new_account(uow, credits=3000)
    first = await accept_quote(
        uow,
        (await new_quote(uow, account, 150)).quote_id,
        account,
        Tier.PROFESSIONAL,
        zone=JAKARTA,
        now=NOON,
    )
    second = await accept_quote(
        uow,
        (await new_quote(uow, account, 2)).quote_id,
        account,
        Tier.BASIC,
        zone=JAKARTA,
        now=NOON,
    )
    async with uow:
        for batch_id, failed in ((first.batch_id, 10), (second.batch_id, 0)):
            for job in await uow.jobs.for_batch(batch_id):
                job.status = JobStatus.FAILED if job.position < failed else JobStatus.DONE
        await uow.commit()
    for batch_id in (first.batch_id, second.batch_id):
        await settle_batch(uow, batch_id, now=NOON)
    stats = await account_stats(uow, account, zone=JAKARTA, now=NOON)
    async with uow:
        ledger_total = await uow.ledger.total(account)
    assert stats.images_by_tier[Tier.PROFESSIONAL] == 140
    assert stats.images_by_tier[Tier.BASIC] == 2
    assert stats.credits_spent == 1913 - 128 + 6 == 3000 - ledger_total
    assert stats.saved_by_discounts == 140 * 15 - (1913 - 128)
    assert stats.balance == ledger_total
    assert stats.plan is None and stats.quota_left_today == 0


async def test_operator_references_name_accounts_on_either_channel(uow):
    account = await new_account(uow, telegram_id=777)
    assert await resolve_account(uow, "tg:777") == account
    assert await resolve_account(uow, str(account)) == account
    with pytest.raises(AccountNotFound):
        await resolve_account(uow, "wa:628123")
    with pytest.raises(ValueError, match="not an account reference"):
        ChannelIdentity.parse("bob")


def test_bgbot_quote_prints_the_total_credits():
    result = CliRunner().invoke(cli, ["quote", "--tier", "professional", "--count", "150"])
    assert result.exit_code == 0, result.output
    assert "total credits: 1913" in result.output.splitlines()
    assert "volume discount: 15%" in result.output


async def test_admin_commands_grant_credits_and_set_a_plan(uow, database_url, monkeypatch):
    account = await new_account(uow, telegram_id=4242, credits=0)
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, list(args))

    granted = await asyncio.to_thread(run, "admin", "grant", "tg:4242", "150")
    assert granted.exit_code == 0, granted.output
    assert "balance 150 credits" in granted.output
    planned = await asyncio.to_thread(run, "admin", "plan", str(account), "pro", "30")
    assert planned.exit_code == 0, planned.output
    assert "pro until" in planned.output
    missing = await asyncio.to_thread(run, "admin", "grant", "tg:1", "5")
    assert missing.exit_code != 0 and "no account" in missing.output
    async with uow:
        assert (await uow.accounts.get(account)).balance == 150
        active = await uow.subscriptions.active(account, utcnow())
        assert active is not None and active.plan == PlanCode.PRO
