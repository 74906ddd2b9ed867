"""The HTTP API through aiohttp's test client, on real SQLite and PostgreSQL."""

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.http_api import PREFIX, ApiContext, build_api
from db.uow import UnitOfWork
from services.api_keys import issue_key
from services.billing import accept_quote
from services.pricing import Tier
from services.settings import Settings
from services.subscriptions import subscribe
from tests.integration.helpers import JAKARTA, NOON, new_account, new_quote


@pytest.fixture
def api(service):
    return service


async def bearer(uow, telegram_id, credits=100):
    account = await new_account(uow, telegram_id=telegram_id, credits=credits)
    issued = await issue_key(uow, account, "test", now=NOON)
    return account, {"Authorization": f"Bearer {issued.secret}"}


async def test_a_missing_or_bad_key_gives_401(api):
    missing = await api.get(f"{PREFIX}/stats")
    assert missing.status == 401
    assert (await missing.json())["error"]["code"] == "invalid_api_key"
    wrong = await api.get(f"{PREFIX}/stats", headers={"Authorization": "Bearer brp_nope"})
    assert wrong.status == 401


async def test_pricing_calculation_matches_the_product_table(api, uow):
    _, headers = await bearer(uow, 1)
    response = await api.post(
        f"{PREFIX}/pricing/calculate", json={"tier": "professional", "count": 150}, headers=headers
    )
    assert response.status == 200
    body = await response.json()
    assert (body["credits"], body["discount_percent"], body["rupiah"]) == (1913, 15, 191300)
    bad = await api.post(
        f"{PREFIX}/pricing/calculate", json={"tier": "gold", "count": 1}, headers=headers
    )
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_tier"
    too_many = await api.post(
        f"{PREFIX}/pricing/calculate", json={"tier": "basic", "count": 501}, headers=headers
    )
    assert (await too_many.json())["error"]["code"] == "invalid_count"


async def test_another_accounts_batch_and_job_give_404(api, uow):
    owner, owner_headers = await bearer(uow, 1)
    _, stranger_headers = await bearer(uow, 2)
    accepted = await accept_quote(
        uow, (await new_quote(uow, owner, 2)).quote_id, owner, Tier.BASIC, zone=JAKARTA, now=NOON
    )
    mine = await api.get(f"{PREFIX}/batch/{accepted.batch_id}", headers=owner_headers)
    assert mine.status == 200 and (await mine.json())["image_count"] == 2
    theirs = await api.get(f"{PREFIX}/batch/{accepted.batch_id}", headers=stranger_headers)
    assert theirs.status == 404
    job_id = accepted.job_ids[0]
    assert (await api.get(f"{PREFIX}/jobs/{job_id}", headers=owner_headers)).status == 200
    assert (await api.get(f"{PREFIX}/jobs/{job_id}", headers=stranger_headers)).status == 404
    page = await (await api.get(f"{PREFIX}/jobs?per_page=1&page=2", headers=owner_headers)).json()
    assert (page["total"], len(page["jobs"])) == (2, 1)


async def test_subscription_can_be_read_and_cancelled(api, uow):
    account, headers = await bearer(uow, 1)
    none = await (await api.get(f"{PREFIX}/subscription", headers=headers)).json()
    assert none == {"subscription": None}
    await subscribe(uow, account, "pro", 30, source="test", auto_renew=True, now=NOON)
    cancelled = await api.delete(f"{PREFIX}/subscription", headers=headers)
    body = await cancelled.json()
    assert body["subscription"]["plan"] == "pro" and body["subscription"]["cancelled"] is True


async def test_buying_a_plan_with_credits_charges_once_per_idempotency_key(api, uow):
    # Given an account with enough credits for one starter month (990 credits) and a bit more
    _, headers = await bearer(uow, 1, credits=1000)
    retry = {**headers, "Idempotency-Key": "order-1"}
    # When the same purchase is sent twice with one key
    first = await api.post(f"{PREFIX}/subscription", json={"plan": "starter"}, headers=retry)
    second = await api.post(f"{PREFIX}/subscription", json={"plan": "starter"}, headers=retry)
    # Then the plan is active, and only one month was paid for
    assert first.status == second.status == 200
    assert (await second.json())["subscription"]["plan"] == "starter"
    stats = await (await api.get(f"{PREFIX}/stats", headers=headers)).json()
    assert stats["balance"] == 10
    # And a second month with a new key is refused for lack of credits, charging nothing
    broke = await api.post(f"{PREFIX}/subscription", json={"plan": "starter"}, headers=headers)
    assert broke.status == 402
    assert (await broke.json())["error"]["code"] == "insufficient_balance"
    bad = await api.post(f"{PREFIX}/subscription", json={"plan": "gold"}, headers=headers)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_plan"
    after = await (await api.get(f"{PREFIX}/stats", headers=headers)).json()
    assert after["balance"] == 10


async def test_stats_report_the_balance(api, uow):
    _, headers = await bearer(uow, 1, credits=42)
    stats = await (await api.get(f"{PREFIX}/stats", headers=headers)).json()
    assert (stats["balance"], stats["images_total"]) == (42, 0)


async def refuse_submission(accepted) -> bool:
    raise AssertionError("this test starts no batch")


async def test_a_key_is_rate_limited(session_factory, tmp_path, uow):
    app = web.Application()
    context = ApiContext(
        Settings(_env_file=None, data_dir=tmp_path),
        lambda: UnitOfWork(session_factory),
        submit=refuse_submission,
        requests_per_minute=3,
    )
    app.add_subapp(PREFIX, build_api(context))
    _, headers = await bearer(uow, 1)
    async with TestClient(TestServer(app)) as client:
        statuses = [(await client.get(f"{PREFIX}/stats", headers=headers)).status for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
