"""A Redis that comes back with old data, in the middle of a burst: restarted from an RDB snapshot
taken earlier, or a round's keys restored from an earlier DUMP. Counts and sequence numbers go
back in time; the service must notice before it sells a seat twice or loses an acknowledged change.

Each test compares every acknowledged answer with PostgreSQL's export, runs ``selection check``,
and checks that every acknowledged change has its audit event.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from quota.keys import RoundKeys
from tests.crash.test_crash import (
    ACKNOWLEDGED,
    ROUND,
    Crowd,
    Launch,
    Live,
    ReadyWatch,
    arrange,
    assert_contract_answers,
    bounded,
    launch,
    settle,
)

__all__ = ["launch"]  # the fixture, shared with test_crash.py


async def generation(live: Live) -> int:
    conn = await asyncpg.connect(live.database_url)
    try:
        value: int = await conn.fetchval("SELECT generation FROM rounds WHERE id = $1", ROUND)
    finally:
        await conn.close()
    return value


async def assert_audited(live: Live, crowd: Crowd) -> None:
    """Every acknowledged select and drop has its audit event: none was lost with the old data."""
    conn = await asyncpg.connect(live.database_url)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT student_id, offering_id, action FROM audit_events WHERE round_id = $1 AND seq IS NOT NULL",
            ROUND,
        )
    finally:
        await conn.close()
    audited = {(r["student_id"], r["offering_id"], r["action"]) for r in rows}
    told = {
        (call.student, call.offering, "drop" if call.final.status == 204 else "select")
        for call in crowd.calls
        if call.final.status in ACKNOWLEDGED
    }
    missing = sorted(told - audited)
    assert not missing, f"{len(missing)} acknowledged change(s) without an audit event: {missing[:10]}"


@bounded(120)
async def test_redis_restarted_from_an_old_snapshot_mid_burst(
    db: asyncpg.Connection, launch: Launch, tmp_path: Path
) -> None:
    students = await arrange(db, 150)
    live = await launch()
    before = await generation(live)
    async with Crowd(live, students, seed=21) as crowd, ReadyWatch(live):
        crowd.start(ops=60, pace=(0.3, 0.8))
        await crowd.wait_answered(300)
        snapshot = live.redis.snapshot(tmp_path / "rdb")
        # The burst goes on: PostgreSQL moves past what the snapshot holds.
        await crowd.wait_answered(700)
        live.redis.stop()
        live.redis.start(snapshot)
        await asyncio.sleep(3)
        await crowd.finish(stop=True)

        assert_contract_answers(crowd, transport_errors=False)
        await settle(live, crowd)
        await assert_audited(live, crowd)
    # The old state was not trusted: it was rebuilt under a new generation.
    assert await generation(live) > before


@bounded(120)
async def test_a_rounds_keys_restored_from_an_earlier_dump(db: asyncpg.Connection, launch: Launch) -> None:
    students = await arrange(db, 150)
    live = await launch()
    before = await generation(live)
    keys = RoundKeys("", ROUND)
    async with Crowd(live, students, seed=22) as crowd, aioredis.Redis.from_url(live.redis.url) as redis:
        crowd.start(ops=60, pace=(0.3, 0.8))
        await crowd.wait_answered(300)
        # An operator's backup of the round: every key in its slot, as DUMP gives them.
        names = [name async for name in redis.scan_iter(match=keys.base + "*", count=1000)]
        dumped = {name: await redis.dump(name) for name in names}
        await crowd.wait_answered(700)
        # ... restored over the live round: the keys it had then, as they were then.
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[name async for name in redis.scan_iter(match=keys.base + "*", count=1000)])
            for name, value in dumped.items():
                if value is not None:
                    pipe.restore(name, 0, value, replace=True)
            await pipe.execute()
        await asyncio.sleep(3)
        await crowd.finish(stop=True)

        assert_contract_answers(crowd, transport_errors=False)
        await settle(live, crowd)
        await assert_audited(live, crowd)
    assert await generation(live) > before
