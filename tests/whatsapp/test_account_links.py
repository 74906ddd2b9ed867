"""One-time link codes: one account reachable from Telegram and WhatsApp."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from db.models import LedgerReason
from db.uow import UnitOfWork
from services.account_links import (
    ChannelAlreadyLinked,
    LinkCodeError,
    LinkCodeExpired,
    LinkCodeUnknown,
    LinkCodeUsed,
    LinkedAccountHasActivity,
    LinkToSameAccount,
    issue_link_code,
    looks_like_link_code,
    redeem_link_code,
)
from services.accounts import grant_credits
from tests.integration.helpers import NOON, new_account


async def _whatsapp_account(
    uow: UnitOfWork, number: str = "6281234567890", credits: int = 5
) -> int:
    return await new_account(uow, credits=credits, whatsapp_number=number)


async def test_code_from_telegram_sent_on_whatsapp_joins_the_number_to_the_telegram_account(uow):
    telegram = await new_account(uow, telegram_id=77, credits=40)
    whatsapp = await _whatsapp_account(uow)

    code = await issue_link_code(uow, telegram, now=NOON)
    survivor = await redeem_link_code(uow, code.lower(), whatsapp, now=NOON + timedelta(minutes=3))

    assert survivor == telegram
    async with uow:
        joined = await uow.accounts.by_whatsapp_number("6281234567890")
        assert joined is not None
        assert joined.id == telegram
        assert joined.telegram_id == 77
        assert joined.balance == 40
        left = await uow.accounts.get(whatsapp)
        assert left is not None
        assert left.whatsapp_number is None


async def test_code_from_whatsapp_sent_on_telegram_joins_the_telegram_id(uow):
    whatsapp = await _whatsapp_account(uow, credits=0)
    telegram = await new_account(uow, telegram_id=78, credits=5)

    code = await issue_link_code(uow, whatsapp, now=NOON)
    assert looks_like_link_code(code)
    assert await redeem_link_code(uow, code, telegram, now=NOON) == whatsapp

    async with uow:
        joined = await uow.accounts.by_telegram_id(78)
        assert joined is not None
        assert joined.id == whatsapp


async def test_code_works_once(uow):
    telegram = await new_account(uow, telegram_id=79)
    first = await _whatsapp_account(uow, "628111")
    second = await _whatsapp_account(uow, "628222")
    code = await issue_link_code(uow, telegram, now=NOON)
    await redeem_link_code(uow, code, first, now=NOON)

    with pytest.raises(LinkCodeUsed) as refused:
        await redeem_link_code(uow, code, second, now=NOON)
    assert refused.value.code == "link_code_used"


async def test_two_redeems_racing_link_one_account(make_uow: Callable[[], UnitOfWork]):
    telegram = await new_account(make_uow(), telegram_id=80)
    first = await _whatsapp_account(make_uow(), "628333")
    second = await _whatsapp_account(make_uow(), "628444")
    code = await issue_link_code(make_uow(), telegram, now=NOON)

    outcomes = await asyncio.gather(
        redeem_link_code(make_uow(), code, first, now=NOON),
        redeem_link_code(make_uow(), code, second, now=NOON),
        return_exceptions=True,
    )

    assert [o for o in outcomes if o == telegram] == [telegram]
    assert len([o for o in outcomes if isinstance(o, LinkCodeError)]) == 1


async def test_expired_and_unknown_codes_are_refused_with_stable_codes(uow):
    telegram = await new_account(uow, telegram_id=81)
    whatsapp = await _whatsapp_account(uow)
    code = await issue_link_code(uow, telegram, now=NOON)

    with pytest.raises(LinkCodeExpired) as expired:
        await redeem_link_code(uow, code, whatsapp, now=NOON + timedelta(minutes=11))
    with pytest.raises(LinkCodeUnknown) as unknown:
        await redeem_link_code(uow, "ZZZZ2222", whatsapp, now=NOON)

    assert (expired.value.code, unknown.value.code) == ("link_code_expired", "link_code_unknown")


async def test_code_sent_back_to_its_own_account_is_refused(uow):
    telegram = await new_account(uow, telegram_id=82)
    code = await issue_link_code(uow, telegram, now=NOON)

    with pytest.raises(LinkToSameAccount):
        await redeem_link_code(uow, code, telegram, now=NOON)


async def test_account_with_its_own_credits_is_not_merged(uow):
    telegram = await new_account(uow, telegram_id=83, credits=10)
    whatsapp = await _whatsapp_account(uow, credits=5)
    await grant_credits(uow, whatsapp, 100, reference="test", idempotency_key="grant:wa", now=NOON)
    code = await issue_link_code(uow, telegram, now=NOON)

    with pytest.raises(LinkedAccountHasActivity) as refused:
        await redeem_link_code(uow, code, whatsapp, now=NOON)

    assert refused.value.code == "link_account_has_activity"
    async with uow:
        untouched = await uow.accounts.get(whatsapp)
        assert untouched is not None
        assert untouched.whatsapp_number == "6281234567890"
        assert untouched.balance == 105
        reasons = [entry.reason for entry in await uow.ledger.entries(telegram)]
        assert reasons == [LedgerReason.WELCOME]
    # The refused attempt did not use the code up.
    other = await _whatsapp_account(uow, "628999")
    assert await redeem_link_code(uow, code, other, now=NOON) == telegram


async def test_account_already_joined_to_another_number_is_refused(uow):
    telegram = await new_account(uow, telegram_id=84)
    first = await _whatsapp_account(uow, "628555")
    await redeem_link_code(uow, await issue_link_code(uow, telegram, now=NOON), first, now=NOON)
    second = await _whatsapp_account(uow, "628666")

    with pytest.raises(ChannelAlreadyLinked):
        await redeem_link_code(
            uow, await issue_link_code(uow, telegram, now=NOON), second, now=NOON
        )
