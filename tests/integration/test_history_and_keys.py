"""API keys and the history views keep every account to its own data."""

import pytest

from services.api_keys import (
    ApiKeyNotFound,
    InvalidApiKey,
    TooManyApiKeys,
    authenticate,
    issue_key,
    list_keys,
    revoke_key,
)
from services.billing import accept_quote
from services.history import NotFound, get_batch, get_job, list_jobs, recent_batches
from services.pricing import Tier
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote


async def test_a_key_is_shown_once_stored_hashed_and_revocable(uow):
    account = await new_account(uow)
    issued = await issue_key(uow, account, "shop", now=NOON)
    assert await authenticate(uow, issued.secret, now=NOON) == account
    async with uow:
        stored = await uow.api_keys.for_account(account)
    assert issued.secret not in {k.key_hash for k in stored}
    assert [k.name for k in await list_keys(uow, account)] == ["shop"]
    await revoke_key(uow, account, issued.key_id, now=NOON)
    with pytest.raises(InvalidApiKey):
        await authenticate(uow, issued.secret, now=NOON)
    with pytest.raises(ApiKeyNotFound):
        await revoke_key(uow, account, issued.key_id, now=NOON)


async def test_an_account_holds_a_bounded_number_of_keys(uow):
    account = await new_account(uow)
    for number in range(5):
        await issue_key(uow, account, f"k{number}", now=NOON)
    with pytest.raises(TooManyApiKeys):
        await issue_key(uow, account, "one too many", now=NOON)


async def test_another_accounts_batch_and_jobs_are_not_found(uow):
    owner = await new_account(uow, telegram_id=1, credits=100)
    stranger = await new_account(uow, telegram_id=2, credits=100)
    accepted = await accept_quote(
        uow, (await new_quote(uow, owner, 3)).quote_id, owner, Tier.BASIC, zone=JAKARTA, now=NOON
    )
    view = await get_batch(uow, owner, accepted.batch_id)
    assert (view.image_count, view.credits_charged, view.done) == (3, 9, 0)
    assert [b.batch_id for b in await recent_batches(uow, owner)] == [accepted.batch_id]
    jobs, total = await list_jobs(uow, owner, limit=2, offset=0)
    assert total == 3 and len(jobs) == 2
    assert (await get_job(uow, owner, jobs[0].job_id)).batch_id == accepted.batch_id
    with pytest.raises(NotFound):
        await get_batch(uow, stranger, accepted.batch_id)
    with pytest.raises(NotFound):
        await get_job(uow, stranger, jobs[0].job_id)
    assert await list_jobs(uow, stranger, limit=10, offset=0) == ([], 0)
