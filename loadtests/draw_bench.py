"""The lottery's draw at the demo's size: 7,390 students with 8-12 wishes each over the demo's
180 offerings, drawn once, timed (reading the input, computing, committing, loading the gate).

    python -m loadtests.draw_bench            # against 127.0.0.1's PostgreSQL and Redis
    SELECTION_BENCH_ADMIN_URL=... SELECTION_BENCH_REDIS_URL=... python -m loadtests.draw_bench

Makes a database of its own (dropped afterwards) and a Redis namespace of its own."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid

import asyncpg
import msgspec
import redis.asyncio as aioredis

import migrations
from courses.demo import demo_offerings, demo_round, demo_students, load_demo_data
from lib.settings import Settings
from selection.worker import Worker

ROUND = "demo-lottery"
TARGET_SECONDS = 5.0


def _with_database(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


async def _arrange(url: str, rng: random.Random) -> int:
    conn = await asyncpg.connect(url)
    try:
        await migrations.apply(conn)
        await load_demo_data(conn)
        offerings = [o.id for o in demo_offerings()]
        # The demo round's limits, as a closed lottery round.
        await conn.execute(
            "INSERT INTO rounds (id, name, mode, state, limits) VALUES ($1, 'Demo lottery', 'lottery', 'closed', $2)",
            ROUND,
            msgspec.json.encode(demo_round().limits).decode(),
        )
        await conn.executemany(
            "INSERT INTO round_offerings (round_id, offering_id, position) VALUES ($1, $2, $3)",
            [(ROUND, o, i) for i, o in enumerate(offerings)],
        )
        rows = [(ROUND, s.id, rng.sample(offerings, rng.randint(8, 12))) for s in demo_students()]
        await conn.executemany(
            "INSERT INTO wishes (round_id, student_id, offering_ids, updated_at, edits) VALUES ($1, $2, $3, now(), 1)",
            rows,
        )
        return len(rows)
    finally:
        await conn.close()


async def bench() -> int:
    admin_url = os.environ.get("SELECTION_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("SELECTION_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"draw_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"draw-bench-{uuid.uuid4().hex[:8]}:"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin_url, name)
    try:
        students = await _arrange(url, random.Random(7390))
        worker = await Worker.start(
            Settings(database_url=url, redis_url=redis_url, redis_namespace=namespace, jwt_secret="x" * 48)
        )
        try:
            started = time.perf_counter()
            result = await worker.lottery.draw(ROUND, "draw-bench", "bench")
            total = time.perf_counter() - started
            timings = worker.lottery.last_timings
        finally:
            await worker.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        client = aioredis.Redis.from_url(redis_url)
        async for key in client.scan_iter(match=namespace + "*", count=1000):
            await client.delete(key)
        await client.aclose()
    print(f"students with wishes {students}, seats drawn {result.enrolled}, unplaced {result.unplaced}")
    print(
        f"read input {timings.read:.3f} s, compute {timings.compute:.3f} s, commit {timings.commit:.3f} s,"
        f" gate load {timings.gate:.3f} s, total {total:.3f} s (target < {TARGET_SECONDS:.0f} s)"
    )
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(bench()))
