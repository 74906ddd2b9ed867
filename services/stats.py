"""Per-account and service-wide statistics, read from the ledger, batches and jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from db.models import LedgerReason, PaidWith
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.billing import read_standing
from services.plans import PlanCode
from services.pricing import Tier


@dataclass(frozen=True, slots=True)
class AccountStats:
    images_by_tier: dict[Tier, int]
    credits_spent: int
    saved_by_discounts: int
    balance: int
    plan: PlanCode | None
    quota_left_today: int

    @property
    def images_total(self) -> int:
        return sum(self.images_by_tier.values())


async def account_stats(
    uow: UnitOfWork, account_id: int, *, zone: ZoneInfo, now: datetime
) -> AccountStats:
    """Totals for one person: images by tier, credits spent net of refunds, discount savings.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    async with uow:
        account = await existing_account(uow, account_id)
        done = await uow.jobs.done_by_tier(account_id)
        by_reason = await uow.ledger.sum_by_reason(account_id)
        batches = await uow.batches.for_account(account_id)
        standing = await read_standing(uow, account, zone, now)
    saved = 0
    for batch in batches:
        if batch.paid_with != PaidWith.CREDITS:
            continue
        # What was saved is the discount on the images that were finally paid for.
        kept = batch.credits_charged - batch.refunded_credits
        succeeded = batch.image_count - batch.failed_count
        saved += max(0, succeeded * Tier(batch.tier).credits_per_image - kept)
    spent = -(by_reason.get(LedgerReason.CHARGE, 0) + by_reason.get(LedgerReason.REFUND, 0))
    return AccountStats(
        images_by_tier={tier: done.get(tier, 0) for tier in Tier},
        credits_spent=spent,
        saved_by_discounts=saved,
        balance=account.balance,
        plan=standing.plan.code if standing.plan else None,
        quota_left_today=standing.quota_left(),
    )
