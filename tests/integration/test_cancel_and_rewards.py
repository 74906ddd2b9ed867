"""Cancelling a batch in progress, referral rewards and promo codes, on SQLite and PostgreSQL."""

import asyncio
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from db.models import JobStatus, LedgerReason
from services.billing import BatchCancellation, accept_quote, cancel_batch, settle_batch
from services.history import NotFound
from services.pipeline import complete_job, start_job
from services.pricing import Tier, price_at_rate
from services.promos import PromoAlreadyRedeemed, PromoUsedUp, create_promo, redeem_promo
from services.referrals import SelfReferral, accept_invitation, invite_code
from services.subscriptions import subscribe
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote

STALE = timedelta(minutes=10)


async def _batch(uow, account, images, tier=Tier.STANDARD):
    offer = await new_quote(uow, account, images)
    return await accept_quote(uow, offer.quote_id, account, tier, zone=JAKARTA, now=NOON)


async def _refunds(uow, account):
    async with uow:
        return [e for e in await uow.ledger.entries(account) if e.reason == LedgerReason.REFUND]


async def test_cancel_refunds_unstarted_images_at_the_batch_rate_once(make_uow):
    # Given 25 standard images (5% off: 190 credits), two claimed by a worker, one finished
    account = await new_account(make_uow(), credits=1000)
    accepted = await _batch(make_uow(), account, 25)
    for job_id in accepted.job_ids[:2]:
        assert await start_job(make_uow(), job_id, now=NOON, stale_after=STALE) is not None
    await complete_job(make_uow(), accepted.job_ids[0], "results/a.png", now=NOON, duration_ms=1)

    # When the person cancels twice
    first = await cancel_batch(make_uow(), account, accepted.batch_id, now=NOON)
    second = await cancel_batch(make_uow(), account, accepted.batch_id, now=NOON)

    # Then 23 stop, refunded at 5% off as if the batch had been the 2 kept images
    assert (first.cancelled, first.finished) == (23, False)
    assert first.refunded_credits == 190 - price_at_rate(Tier.STANDARD, 2, 5) == 175
    assert (second.cancelled, second.refunded_credits) == (0, 0)
    # A worker that receives a cancelled job's message skips it
    assert await start_job(make_uow(), accepted.job_ids[5], now=NOON, stale_after=STALE) is None
    # And when the running image fails, the settlement refunds only what is still owed
    from services.pipeline import fail_job

    await fail_job(make_uow(), accepted.job_ids[1], "corrupt", now=NOON)
    settlement = await settle_batch(make_uow(), accepted.batch_id, now=NOON)
    assert (settlement.succeeded, settlement.failed, settlement.cancelled) == (1, 1, 23)
    assert settlement.refunded_credits == 190 - price_at_rate(Tier.STANDARD, 1, 5)
    refunds = await _refunds(make_uow(), account)
    assert sum(e.delta for e in refunds) == settlement.refunded_credits
    assert len(refunds) == 2


async def test_cancel_of_a_quota_batch_gives_the_images_back_to_the_quota(make_uow):
    account = await new_account(make_uow(), credits=0)
    await subscribe(make_uow(), account, "starter", 30, source="admin", auto_renew=False, now=NOON)
    accepted = await _batch(make_uow(), account, 10, Tier.BASIC)

    stopped = await cancel_batch(make_uow(), account, accepted.batch_id, now=NOON)

    assert (stopped.cancelled, stopped.quota_returned, stopped.refunded_credits) == (10, 10, 0)
    assert stopped.finished
    async with make_uow() as uow:
        usage = await uow.usage.get(account, NOON.astimezone(JAKARTA).date())
        assert usage is not None and usage.removals == 0


async def test_cancel_of_another_persons_batch_is_not_found(make_uow):
    owner = await new_account(make_uow(), credits=100)
    stranger = await new_account(make_uow(), telegram_id=2002)
    accepted = await _batch(make_uow(), owner, 2)
    with pytest.raises(NotFound):
        await cancel_batch(make_uow(), stranger, accepted.batch_id, now=NOON)


@pytest.mark.parametrize("round_", range(3))
async def test_a_job_starting_as_the_cancel_lands_is_either_processed_or_refunded(make_uow, round_):
    # Given 6 images and workers claiming each of them while the person cancels
    account = await new_account(make_uow(), credits=1000)
    accepted = await _batch(make_uow(), account, 6)

    async def claim(job_id: int) -> bool:
        return await start_job(make_uow(), job_id, now=NOON, stale_after=STALE) is not None

    results = await asyncio.gather(
        *(claim(job_id) for job_id in accepted.job_ids[:3]),
        cancel_batch(make_uow(), account, accepted.batch_id, now=NOON),
        *(claim(job_id) for job_id in accepted.job_ids[3:]),
    )

    # Then no job is both running and cancelled, and the refund matches the cancelled count
    claimed = sum(1 for r in results if r is True)
    stopped = next(r for r in results if isinstance(r, BatchCancellation))
    assert claimed + stopped.cancelled == 6
    async with make_uow() as uow:
        counts = await uow.jobs.status_counts(accepted.batch_id)
    assert counts[JobStatus.RUNNING] == claimed
    assert counts[JobStatus.CANCELLED] == stopped.cancelled
    price = accepted.credits_charged
    kept = 6 - stopped.cancelled
    expected = price if kept == 0 else price - price_at_rate(Tier.STANDARD, kept, 0)
    assert stopped.refunded_credits == (expected if stopped.cancelled else 0)


async def test_referral_is_rewarded_once_after_a_paid_batch(make_uow):
    ana = await new_account(make_uow(), credits=0)
    budi = await new_account(make_uow(), telegram_id=2002, credits=0)
    code = await invite_code(make_uow(), ana, now=NOON)
    assert code == await invite_code(make_uow(), ana, now=NOON)
    with pytest.raises(SelfReferral):
        await accept_invitation(
            make_uow(), ana, code, new_account=True, referrer_credits=5, invitee_credits=7, now=NOON
        )
    await accept_invitation(
        make_uow(), budi, code, new_account=True, referrer_credits=5, invitee_credits=7, now=NOON
    )
    async with make_uow() as uow:
        await uow.ledger.apply(
            account_id=budi,
            delta=100,
            reason=LedgerReason.PURCHASE,
            reference="test",
            idempotency_key="buy:1",
            now=NOON,
        )
        await uow.commit()

    for _ in range(2):
        accepted = await _batch(make_uow(), budi, 1, Tier.BASIC)
        job_id = accepted.job_ids[0]
        await start_job(make_uow(), job_id, now=NOON, stale_after=STALE)
        await complete_job(make_uow(), job_id, "results/x.png", now=NOON, duration_ms=1)
        await settle_batch(make_uow(), accepted.batch_id, now=NOON)
        await settle_batch(make_uow(), accepted.batch_id, now=NOON)

    async with make_uow() as uow:
        assert (await uow.accounts.get(ana)).balance == 5
        assert (await uow.accounts.get(budi)).balance == 100 - 2 * 3 + 7


async def test_promo_code_counts_each_person_once_and_stops_at_its_last_use(make_uow):
    people = [await new_account(make_uow(), telegram_id=3000 + n) for n in range(3)]
    await create_promo(
        make_uow(),
        "hemat",
        credits=10,
        uses=2,
        valid_for=timedelta(days=1),
        created_by="t",
        now=NOON,
    )
    assert (await redeem_promo(make_uow(), people[0], "HEMAT", now=NOON)).balance == 10
    with pytest.raises(PromoAlreadyRedeemed):
        await redeem_promo(make_uow(), people[0], "hemat", now=NOON)
    await redeem_promo(make_uow(), people[1], "hemat", now=NOON)
    with pytest.raises(PromoUsedUp):
        await redeem_promo(make_uow(), people[2], "hemat", now=NOON)
    async with make_uow() as uow:
        promo = await uow.extras.promo("HEMAT")
        assert promo is not None and promo.uses == 2


async def test_bgbot_admin_promo_create_makes_a_code_once(uow, database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["admin", "promo", "create", *args])

    made = await asyncio.to_thread(run, "ramadan", "--credits", "25", "--uses", "100")
    assert made.exit_code == 0, made.output
    assert "promo RAMADAN: 25 credits, 100 uses" in made.output
    again = await asyncio.to_thread(run, "RAMADAN", "--credits", "5", "--uses", "1")
    assert again.exit_code != 0
    async with uow:
        promo = await uow.extras.promo("RAMADAN")
        assert promo is not None and promo.credits == 25
