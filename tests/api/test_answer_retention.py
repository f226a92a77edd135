"""A running worker deletes Idempotency-Key answers once their retention is over, and a key's answer
within the retention is still replayed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import msgspec
import pytest

from lib.settings import Settings
from tests.builders import Client, add_offering, add_round, add_students, announce

Headers = Callable[[str], dict[str, str]]
PATH = "/api/v1/rounds/r1/selections"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, idempotency_prune_seconds=0.05)


async def test_the_worker_prunes_answers_past_their_retention(
    client: Client, db: asyncpg.Connection, as_student: Headers
) -> None:
    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=5)
    await add_round(db, "r1", ["swim"])
    await announce(client, "r1")
    first = await client.post(PATH, json={"offering_id": "swim"}, headers={**as_student("s1"), "Idempotency-Key": "k"})
    assert first.status_code == 201, first.text
    # A day and a half old: past the default retention of 25 hours.
    await db.execute(
        """INSERT INTO idempotency_keys (student_id, round_id, key, fingerprint, status, body, created_at)
           VALUES ('s1', 'r1', 'stale', 'fp', 201, '\\x7b7d', now() - interval '36 hours')"""
    )
    deadline = time.monotonic() + 10
    while await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'stale'"):
        assert time.monotonic() < deadline, "the answer past its retention was never pruned"
        await asyncio.sleep(0.05)
    again = await client.post(PATH, json={"offering_id": "swim"}, headers={**as_student("s1"), "Idempotency-Key": "k"})
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
