"""The ceiling of the gate: the product's select script alone against Redis, from one process.

No HTTP, no PostgreSQL: ``SeatGate.select`` called by many coroutines at once. It runs on a copy
of a loaded round's gate state under its own key prefix, with no seat taken, so the product's
keys are neither read nor changed while it runs; the copy is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

import redis.asyncio as aioredis

from courses.students import StudentProfile
from quota.gate import SeatGate
from quota.intents import SelectIntent
from quota.keys import RoundKeys
from quota.outcomes import Refused

PREFIX = "bench-ceiling:"


class GateMeasure:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.seconds = 0.0
        #: Redis's own time per script call (INFO commandstats): what one Redis core can do at most.
        self.redis_usec_per_call: float | None = None


async def _copy_round(client: aioredis.Redis, round_id: str, offerings: Sequence[str]) -> None:
    source, target = RoundKeys("", round_id), RoundKeys(PREFIX, round_id)
    await _forget(client)
    for src, dst in ((source.meta, target.meta), (source.catalog, target.catalog), (source.capacity, target.capacity)):
        if not await client.copy(src, dst, replace=True):
            raise SystemExit(f"round {round_id} has no gate state in Redis ({src})")
    zeros = dict.fromkeys(offerings, 0)
    await client.hset(target.enrolled, mapping=zeros)  # type: ignore[arg-type]
    await client.hset(target.waiting, mapping=zeros)  # type: ignore[arg-type]


async def _forget(client: aioredis.Redis) -> None:
    keys = [key async for key in client.scan_iter(match=PREFIX + "*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])


async def measure_gate(
    redis_url: str,
    round_id: str,
    students: Sequence[StudentProfile],
    offerings: Sequence[str],
    *,
    seconds: float,
    concurrency: int,
) -> GateMeasure:
    client = aioredis.Redis.from_url(redis_url, max_connections=concurrency + 4)
    result = GateMeasure()
    try:
        await _copy_round(client, round_id, offerings)
        gate = SeatGate(client, PREFIX)
        counter = iter(range(1 << 40))
        deadline = time.perf_counter() + seconds

        async def taker() -> None:
            while time.perf_counter() < deadline:
                k = next(counter)
                student = students[k % len(students)]
                offering = offerings[(k // len(students)) % len(offerings)]
                began = time.perf_counter()
                try:
                    decision = await gate.select(
                        SelectIntent(
                            round_id=round_id,
                            student=student,
                            offering_id=offering,
                            waitlist=False,
                            mode="student",
                            actor=student.id,
                            role="student",
                        )
                    )
                    outcome = decision.status or "ok"
                except Refused as refusal:
                    outcome = refusal.code
                result.latencies.append(time.perf_counter() - began)
                result.outcomes[outcome] += 1

        # The bench's own throw-away Redis: resetting its statistics touches nobody else.
        await client.config_resetstat()
        began = time.perf_counter()
        await asyncio.gather(*(taker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - began
        stats = await client.info("commandstats")
        evalsha = stats.get("cmdstat_evalsha")
        if isinstance(evalsha, dict) and evalsha.get("usec_per_call"):
            result.redis_usec_per_call = float(evalsha["usec_per_call"])
    finally:
        await _forget(client)
        await client.aclose()
    return result


def run_measure_gate(
    redis_url: str,
    round_id: str,
    students: Sequence[StudentProfile],
    offerings: Sequence[str],
    *,
    seconds: float,
    concurrency: int,
) -> GateMeasure:
    """On uvloop, as the service's workers run."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(
            measure_gate(redis_url, round_id, students, offerings, seconds=seconds, concurrency=concurrency)
        )
