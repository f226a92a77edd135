"""A PostgreSQL that hangs: the select answers 503 after the commit timeout, and once the group
commit's breaker is open the gate is not asked at all; /ready says so, as problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis

from lib.settings import Settings
from quota.keys import RoundKeys
from tests.builders import Client, add_offering, add_round, add_students, announce
from tests.catalog_data import assert_problem
from tests.conftest import bearer

PATH = "/api/v1/rounds/r1/selections"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # One timed-out commit opens the breaker, for longer than the test runs.
    return msgspec.structs.replace(
        settings, commit_timeout_seconds=0.3, breaker_failures=1, breaker_cooldown_seconds=600
    )


@pytest.fixture
async def hanging(db: asyncpg.Connection, client: Client, database_url: str) -> AsyncIterator[None]:
    """A round whose commits hang: its lock is held exclusively, as a stuck PostgreSQL would."""
    await add_students(db, "s1", "s2")
    await add_offering(db, "swim", capacity=5)
    await add_round(db, "r1", ["swim"])
    await announce(client, "r1")
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gate:r1'))")
            yield
    finally:
        await conn.close()


@pytest.mark.usefixtures("hanging")
async def test_with_the_breaker_open_a_select_answers_503_before_the_gate_takes_a_seat(
    client: Client, redis: aioredis.Redis, settings: Settings
) -> None:
    keys = RoundKeys(settings.redis_namespace, "r1")
    timed_out = await client.post(PATH, json={"offering_id": "swim"}, headers=bearer("s1"))
    body = assert_problem(timed_out, 503, "unavailable")
    assert timed_out.headers["retry-after"], body
    # The gate decided that one: its change waits in the redo log, for recovery.
    assert await redis.xlen(keys.redo) == 1
    assert await redis.hget(keys.enrolled, "swim") == b"1"

    refused = await client.post(PATH, json={"offering_id": "swim"}, headers=bearer("s2"))
    assert_problem(refused, 503, "unavailable")
    assert refused.headers["retry-after"]
    assert await redis.xlen(keys.redo) == 1, "the gate decided while the writer could not record"
    assert await redis.hget(keys.enrolled, "swim") == b"1"
    dropped = await client.delete(f"{PATH}/swim", headers=bearer("s1"))
    assert_problem(dropped, 503, "unavailable")
    assert await redis.xlen(keys.redo) == 1


@pytest.mark.usefixtures("hanging")
async def test_ready_is_problem_details_while_commits_fail(client: Client) -> None:
    assert (await client.post(PATH, json={"offering_id": "swim"}, headers=bearer("s1"))).status_code == 503
    response = await client.get("/ready")
    body = assert_problem(response, 503, "unavailable")
    assert "group commits failed" in body["detail"]
    assert response.headers["retry-after"] == "1"
    assert body["type"].endswith("/unavailable")
    assert (await client.get("/health")).json() == {"status": "ok"}
