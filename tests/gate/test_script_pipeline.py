"""The script pipeline against a real Redis: batching, NOSCRIPT, per-call errors, cancellation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from quota.connection import pool_options
from quota.pipeline import LuaScript, ScriptPipeline
from tests.stores import Stores


@pytest.fixture
async def client(stores: Stores) -> AsyncIterator[aioredis.Redis]:
    # Connections as the service makes them: commands packed by hiredis.
    client = aioredis.Redis.from_pool(aioredis.ConnectionPool(**pool_options(stores.redis_url)))
    yield client
    await client.aclose()


def _unique(source: str) -> LuaScript:
    # A comment of its own gives the script a SHA no Redis has seen: the first call meets NOSCRIPT.
    return LuaScript("test", f"-- {uuid.uuid4()}\n{source}")


async def test_concurrent_calls_share_round_trips_and_each_gets_its_own_reply(
    client: aioredis.Redis, redis_namespace: str
) -> None:
    pipeline = ScriptPipeline(client)
    incr = _unique("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    key = redis_namespace + "counter"
    await pipeline.call(incr, [key], [0])  # loads the script
    before = pipeline.batches
    replies = await asyncio.gather(*(pipeline.call(incr, [key], [1]) for _ in range(200)))
    # Every call ran once, atomically, each reply its own.
    assert sorted(replies) == list(range(1, 201))
    assert int(await client.get(key) or 0) == 200
    assert pipeline.batches - before < 200


async def test_a_script_redis_does_not_know_is_loaded_and_run_once(
    client: aioredis.Redis, redis_namespace: str
) -> None:
    pipeline = ScriptPipeline(client)
    incr = _unique("return redis.call('INCR', KEYS[1])")
    key = redis_namespace + "once"
    assert await client.script_exists(incr.sha) == [False]
    replies = await asyncio.gather(*(pipeline.call(incr, [key], []) for _ in range(5)))
    assert sorted(replies) == [1, 2, 3, 4, 5]
    assert await client.script_exists(incr.sha) == [True]


async def test_an_error_of_one_call_is_that_call_s_alone(client: aioredis.Redis, redis_namespace: str) -> None:
    pipeline = ScriptPipeline(client)
    script = _unique("if ARGV[1] == 'boom' then return redis.error_reply('boom') end return ARGV[1]")
    await pipeline.call(script, [redis_namespace + "k"], ["warm"])
    calls = [pipeline.call(script, [redis_namespace + "k"], [word]) for word in ("a", "boom", "b")]
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert replies[0] == b"a"
    assert isinstance(replies[1], ResponseError)
    assert replies[2] == b"b"


async def test_a_cancelled_caller_does_not_stop_the_others(client: aioredis.Redis, redis_namespace: str) -> None:
    pipeline = ScriptPipeline(client)
    incr = _unique("return redis.call('INCR', KEYS[1])")
    key = redis_namespace + "cancel"
    first = asyncio.ensure_future(pipeline.call(incr, [key], []))
    await asyncio.sleep(0)  # the call is queued, its reply awaited
    first.cancel()
    replies = await asyncio.wait_for(asyncio.gather(*(pipeline.call(incr, [key], []) for _ in range(3))), 5)
    assert first.cancelled()
    # The cancelled call may have reached Redis before its caller left; the others all did.
    total = int(await client.get(key) or 0)
    assert total in (3, 4)
    assert sorted(replies) == list(range(total - 2, total + 1))
    assert await pipeline.call(incr, [key], []) == total + 1
