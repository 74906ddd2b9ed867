"""State that several web processes share through Redis: gatherings and request limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.gathering import RedisGatherer
from bot.rate_limit import AccountRateLimit

pytestmark = pytest.mark.redis


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[aioredis.Redis]]:
    """Two Redis connections, as two web processes would each have."""
    made = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    yield made
    for client in made:
        await client.aclose()


def gatherers(clients, namespace, handed, **options) -> list[RedisGatherer[str]]:
    async def ready(key, items):
        handed.append((key, items))

    return [
        RedisGatherer(
            ready,
            client=client,
            namespace=namespace,
            name="telegram",
            encode=str,
            decode=str,
            **{"delay": 0.3, **options},
        )
        for client in clients
    ]


async def test_an_album_arriving_alternately_at_two_processes_is_handed_over_once(
    clients, redis_namespace
):
    handed: list[tuple[object, list[str]]] = []
    first, second = gatherers(clients, redis_namespace, handed)

    # Given the photos of one album reaching two processes in turn, a little apart
    for number in range(6):
        await (first if number % 2 == 0 else second).add(5001, f"photo-{number}")
        await asyncio.sleep(0.05)
    await first.add(7002, "another chat")
    await asyncio.sleep(0.8)

    # Then each chat's files are handed over once, all together, in arrival order
    assert sorted(handed) == [
        ("5001", [f"photo-{number}" for number in range(6)]),
        ("7002", ["another chat"]),
    ]
    for gatherer in (first, second):
        await gatherer.close()


async def test_a_gathering_left_by_a_dead_process_is_taken_over_by_another(
    clients, redis_namespace
):
    handed: list[tuple[object, list[str]]] = []
    dying, survivor = gatherers(clients, redis_namespace, handed, orphan_grace=0.4)
    survivor.start()

    await dying.add(5001, "a")
    await dying.add(5001, "b")
    await dying.close()  # its timer goes with it; the files stay in Redis
    await asyncio.sleep(0.2)
    assert handed == []

    for _ in range(60):
        if handed:
            break
        await asyncio.sleep(0.05)
    assert handed == [("5001", ["a", "b"])]
    await asyncio.sleep(0.5)
    assert len(handed) == 1
    await survivor.close()


async def test_a_full_gathering_is_handed_over_without_waiting(clients, redis_namespace):
    handed: list[tuple[object, list[str]]] = []
    first, second = gatherers(clients, redis_namespace, handed, max_items=3, delay=30)

    await first.add(1, "a")
    await second.add(1, "b")
    await first.add(1, "c")
    await first.flush()

    assert handed == [("1", ["a", "b", "c"])]
    await first.close()
    await second.close()


async def test_the_request_limit_of_an_account_counts_across_processes(redis_url, redis_namespace):
    one = AccountRateLimit.on_redis(redis_url, redis_namespace, per_minute=3)
    other = AccountRateLimit.on_redis(redis_url, redis_namespace, per_minute=3)

    answers = [await (one if n % 2 else other).hit(42) for n in range(5)]

    assert answers == [True, True, True, False, False]
    assert await one.hit(43)  # another account has its own window
