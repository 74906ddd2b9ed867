"""A tier whose engine cannot run here is neither offered nor charged."""

from datetime import timedelta

import pytest

from services.billing import QuoteFile, accept_quote, create_quote
from services.errors import TierUnavailable
from services.pricing import Tier
from tests.integration.helpers import JAKARTA, NOON, new_account

RUNNABLE = frozenset({Tier.BASIC, Tier.STANDARD})


async def _quote(uow, account_id):
    return await create_quote(
        uow,
        account_id,
        [QuoteFile(name="a.jpg", path="inbox/a.jpg")],
        channel="telegram",
        chat={"chat_id": 1},
        ttl=timedelta(hours=1),
        zone=JAKARTA,
        now=NOON,
        available=RUNNABLE,
    )


async def test_a_quote_offers_only_the_tiers_that_can_run(uow):
    account = await new_account(uow, credits=100)

    offer = await _quote(uow, account)

    assert [tier_offer.price.tier for tier_offer in offer.tiers] == [Tier.BASIC, Tier.STANDARD]


async def test_choosing_a_tier_that_cannot_run_charges_nothing_and_keeps_the_quote(uow):
    account = await new_account(uow, credits=100)
    offer = await _quote(uow, account)

    with pytest.raises(TierUnavailable):
        await accept_quote(
            uow, offer.quote_id, account, Tier.INDUSTRY, zone=JAKARTA, now=NOON, available=RUNNABLE
        )

    async with uow:
        assert (await uow.accounts.get(account)).balance == 100
        assert await uow.ledger.total(account) == 100
    accepted = await accept_quote(
        uow, offer.quote_id, account, Tier.BASIC, zone=JAKARTA, now=NOON, available=RUNNABLE
    )
    assert accepted.credits_charged == Tier.BASIC.credits_per_image
