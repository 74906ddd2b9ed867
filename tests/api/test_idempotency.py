"""Idempotency-Key on /remove, /batch and /subscription: a retry returns the first answer."""

import asyncio
import io
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import FormData

from bot.http_api import PREFIX
from db.models import LedgerReason
from services.idempotency import (
    IdempotencyKeyReused,
    claim,
    complete,
    purge_idempotency_records,
)
from tests.api.test_images_api import key_for, photo_bytes
from tests.integration.helpers import NOON, new_account


def removal_form(size=(120, 90)) -> FormData:
    form = FormData()
    form.add_field("image", photo_bytes(size), filename="shoe.jpg", content_type="image/jpeg")
    form.add_field("tier", "basic")
    return form


def batch_form(images=2, tier="basic") -> FormData:
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        for index in range(images):
            # A fixed date: the same images make the same archive bytes, as a client's retry does
            entry = zipfile.ZipInfo(f"{index}.jpg", date_time=(2026, 12, 1, 0, 0, 0))
            archive.writestr(entry, photo_bytes())
    form = FormData()
    form.add_field(
        "images", bundle.getvalue(), filename="items.zip", content_type="application/zip"
    )
    form.add_field("tier", tier)
    return form


async def balance(uow, account) -> int:
    async with uow:
        total: int = await uow.ledger.total(account)
        assert total == (await uow.accounts.get(account)).balance
        return total


async def test_three_retries_of_a_removal_with_one_key_charge_once(service, uow):
    # Given an account and one removal sent three times with the same key
    account, _, headers = await key_for(uow, credits=30)
    retry = {**headers, "Idempotency-Key": "order-17-photo-1"}
    answers = [
        await service.post(f"{PREFIX}/remove", data=removal_form(), headers=retry) for _ in range(3)
    ]
    # Then every answer is the first one: the same batch and the same PNG, paid once
    assert [a.status for a in answers] == [200, 200, 200]
    assert len({a.headers["X-Batch-Id"] for a in answers}) == 1
    assert len({await a.read() for a in answers}) == 1
    assert await balance(uow, account) == 27


def stored(data_dir, account) -> int:
    return sum(1 for p in (data_dir / "inbox" / str(account)).rglob("*") if p.is_file())


async def test_a_repeated_batch_returns_the_first_batch_and_another_body_is_a_409(
    service, uow, tmp_path
):
    account, _, headers = await key_for(uow, credits=30)
    retry = {**headers, "Idempotency-Key": "batch-a"}
    first = await service.post(f"{PREFIX}/batch", data=batch_form(), headers=retry)
    again = await service.post(f"{PREFIX}/batch", data=batch_form(), headers=retry)
    assert (first.status, again.status) == (202, 202)
    assert (await first.json())["batch_id"] == (await again.json())["batch_id"]
    assert await balance(uow, account) == 24
    files_of_the_first = stored(tmp_path, account)
    # The same key with other images is refused, charges nothing and keeps no file
    other = await service.post(f"{PREFIX}/batch", data=batch_form(images=3), headers=retry)
    assert other.status == 409
    assert (await other.json())["error"]["code"] == "idempotency_key_reused"
    assert await balance(uow, account) == 24
    assert stored(tmp_path, account) == files_of_the_first


async def test_a_refused_callback_url_leaves_the_key_free_for_the_corrected_request(service, uow):
    account, _, headers = await key_for(uow, credits=30)
    retry = {**headers, "Idempotency-Key": "with-hook"}
    wrong = batch_form()
    wrong.add_field("callback_url", "https://localhost/hook")
    refused = await service.post(f"{PREFIX}/batch", data=wrong, headers=retry)
    assert refused.status == 400
    right = batch_form()
    right.add_field("callback_url", "http://127.0.0.1:9/hook")
    accepted = await service.post(f"{PREFIX}/batch", data=right, headers=retry)
    assert accepted.status == 202, await accepted.text()
    assert await balance(uow, account) == 24


async def test_concurrent_duplicates_of_a_batch_wait_for_the_first(service, uow):
    account, _, headers = await key_for(uow, credits=30)
    retry = {**headers, "Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(service.post(f"{PREFIX}/batch", data=batch_form(), headers=retry) for _ in range(6))
    )
    assert [a.status for a in answers] == [202] * 6, [await a.text() for a in answers]
    assert len({(await a.json())["batch_id"] for a in answers}) == 1
    assert await balance(uow, account) == 24


async def test_concurrent_plan_purchases_with_one_key_all_succeed_and_charge_once(service, uow):
    # Given credits for one starter month (990) and a bit more
    account, _, headers = await key_for(uow, credits=1000)
    retry = {**headers, "Idempotency-Key": "plan-2026-12"}
    # When twelve retries of the purchase arrive at once
    answers = await asyncio.gather(
        *(
            service.post(f"{PREFIX}/subscription", json={"plan": "starter"}, headers=retry)
            for _ in range(12)
        )
    )
    # Then each gets the first answer, never a spurious 402 or 500, and one month is paid
    assert [a.status for a in answers] == [200] * 12, [await a.text() for a in answers]
    assert {(await a.json())["subscription"]["plan"] for a in answers} == {"starter"}
    assert await balance(uow, account) == 10


async def test_over_long_or_unprintable_keys_are_a_400_on_every_route(service, uow):
    account, _, headers = await key_for(uow, credits=1000)
    for bad in ["k" * 256, "has space", "tab\there"]:
        bad_headers = {**headers, "Idempotency-Key": bad}
        routes: list[tuple[str, dict[str, Any]]] = [
            ("subscription", {"json": {"plan": "starter"}}),
            ("batch", {"data": batch_form()}),
            ("remove", {"data": removal_form()}),
        ]
        for route, kwargs in routes:
            response = await service.post(f"{PREFIX}/{route}", headers=bad_headers, **kwargs)
            assert response.status == 400, (route, bad, await response.text())
            assert (await response.json())["error"]["code"] == "invalid_idempotency_key"
    longest = {**headers, "Idempotency-Key": "k" * 255}
    ok = await service.post(f"{PREFIX}/subscription", json={"plan": "starter"}, headers=longest)
    assert ok.status == 200
    assert await balance(uow, account) == 10


async def test_a_key_whose_first_request_was_refused_works_after_a_top_up(service, uow):
    account, _, headers = await key_for(uow, credits=100)
    retry = {**headers, "Idempotency-Key": "plan-after-top-up"}
    refused = await service.post(f"{PREFIX}/subscription", json={"plan": "starter"}, headers=retry)
    assert refused.status == 402
    async with uow:
        await uow.ledger.apply(
            account_id=account,
            delta=900,
            reason=LedgerReason.GRANT,
            reference="test",
            idempotency_key="grant:top-up",
            now=NOON,
        )
        await uow.commit()
    bought = await service.post(f"{PREFIX}/subscription", json={"plan": "starter"}, headers=retry)
    assert bought.status == 200
    assert await balance(uow, account) == 10


async def test_keys_are_forgotten_after_24_hours(uow):
    account = await new_account(uow, telegram_id=9)
    claimed = await claim(uow, account, "old", route="batch", request_fingerprint="a", now=NOON)
    assert claimed is None
    await complete(uow, account, "old", status=202, body={"batch_id": 1}, now=NOON)
    # Within 24 hours another request with the key is refused
    with pytest.raises(IdempotencyKeyReused):
        await claim(uow, account, "old", route="batch", request_fingerprint="b", now=NOON)
    later = NOON + timedelta(hours=25)
    assert await purge_idempotency_records(uow, now=later) == 1
    assert (
        await claim(uow, account, "old", route="batch", request_fingerprint="b", now=later) is None
    )
