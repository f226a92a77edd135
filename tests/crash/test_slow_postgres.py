"""PostgreSQL hangs instead of refusing: connections open, nothing answered. The service answers
503 while it hangs instead of hanging with it, its group-commit queue stays within its limit,
nothing acknowledged is lost, and once PostgreSQL answers again so does the service."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from selection.group_commit import Breaker
from tests.builders import add_offering, add_round, add_students, weekly
from tests.catalog_data import assert_problem
from tests.crash.test_crash import (
    Crowd,
    Launch,
    Live,
    ReadyWatch,
    arrange,
    assert_contract_answers,
    auth,
    bounded,
    http,
    settle,
)

pytestmark = pytest.mark.slow

AFTER = "after"
AFTER_PATH = f"/api/v1/rounds/{AFTER}/selections"
#: Selections and drops the service's one worker takes at once: above the crowd's 150 students
#: (each with one request at a time, whatever the service answers), below the crowd and the burst.
QUEUE_LIMIT = 160
BURST = 240
SETTINGS = {
    "SELECTION_COMMIT_TIMEOUT_SECONDS": "2",
    "SELECTION_COMMIT_QUEUE_LIMIT": str(QUEUE_LIMIT),
    "SELECTION_BREAKER_FAILURES": "2",
    "SELECTION_BREAKER_COOLDOWN_SECONDS": "1",
    "SELECTION_QUERY_TIMEOUT_SECONDS": "2",
    "SELECTION_POOL_ACQUIRE_TIMEOUT_SECONDS": "1",
}
#: How long PostgreSQL hangs; a request in flight after its first seconds must be answered before it ends.
HOLD_SECONDS = 8.0
SETTLE_SECONDS = 2.0


@dataclass
class MetricsWatch:
    """The group commit's gauges, read from /metrics while PostgreSQL hangs."""

    queue: list[float] = field(default_factory=list)
    breaker: list[float] = field(default_factory=list)


async def read_metrics(live: Live) -> dict[str, float]:
    """Every sample of /metrics, by name and labels."""
    async with http(live) as client:
        text = (await client.get("/metrics")).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


@contextlib.asynccontextmanager
async def watching(live: Live) -> AsyncIterator[MetricsWatch]:
    watch = MetricsWatch()

    async def poll() -> None:
        while True:
            samples = await read_metrics(live)
            watch.queue.append(samples.get("selection_commit_queue_length{}", 0.0))
            watch.breaker.append(samples.get("selection_commit_breaker_state{}", 0.0))
            await asyncio.sleep(0.1)

    task = asyncio.create_task(poll())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def arrange_after(db: asyncpg.Connection) -> list[str]:
    """A round of its own with room, for a burst while PostgreSQL hangs and a select after it;
    returns the burst's students."""
    burst = [f"b{i:03d}" for i in range(BURST)]
    await add_students(db, "early", "late", *burst)
    await add_offering(db, "hall", capacity=1000, category="labor", schedule=[weekly("fri", "18:00", "19:00")])
    await add_round(db, AFTER, ["hall"])
    return burst


def assert_bounded(watch: MetricsWatch, during: dict[str, float]) -> None:
    """The queue never went past its limit; the limit, the commit timeout and the breaker answered.
    (Whether a request came in while the breaker was open depends on timing: the API tests show it.)"""
    assert watch.queue, "no /metrics read while PostgreSQL hung"
    assert max(watch.queue) <= QUEUE_LIMIT, watch.queue
    assert max(watch.queue) > 0, watch.queue
    assert Breaker.OPEN in watch.breaker, f"the breaker never opened: {watch.breaker}"
    assert during["selection_commit_timeouts_total{}"] > 0, during
    assert during["selection_commit_refused_total{reason=queue_full}"] > 0, during


async def select_after(client: httpx.AsyncClient, student: str) -> httpx.Response:
    return await client.post(AFTER_PATH, json={"offering_id": "hall"}, headers=auth(student))


@bounded(60)
async def test_a_hanging_postgres_is_answered_503_and_the_queue_stays_bounded(
    db: asyncpg.Connection, launch: Launch
) -> None:
    students = await arrange(db, 150)
    burst = await arrange_after(db)
    live = await launch(via_proxy=True, workers=1, settings=SETTINGS)
    assert live.proxy is not None
    limits = httpx.Limits(max_connections=BURST + 10)
    async with (
        Crowd(live, students, seed=21) as crowd,
        ReadyWatch(live) as ready,
        httpx.AsyncClient(base_url=live.service.base_url, timeout=30, limits=limits, trust_env=False) as client,
    ):
        crowd.start(ops=80, pace=(0.1, 0.3))
        await crowd.wait_answered(300)
        # The catalog of the burst's round is cached, as it is for the crowd's.
        assert (await select_after(client, "early")).status_code == 201
        async with watching(live) as watch:
            held = ready.now()
            live.proxy.hold()
            # More students at once than the service takes: the rest are refused without waiting.
            bursting = asyncio.gather(*(select_after(client, sid) for sid in burst))
            await asyncio.sleep(SETTLE_SECONDS)
            # Requests in flight once the hang has set in: each must be answered while it lasts.
            pending = [c for c in crowd.calls if c.first is None]
            answered_before = crowd.answered
            await asyncio.sleep(HOLD_SECONDS - SETTLE_SECONDS)
            stuck = [str(c) for c in pending if c.first is None]
            answered_while_held = crowd.answered - answered_before
            burst_done = bursting.done()
            restoring = ready.now()
            live.proxy.restore()
            during = await read_metrics(live)
        burst_answers = await bursting
        back = await ready.wait(200, since=restoring, seconds=15)
        await asyncio.sleep(1)
        await crowd.finish(stop=True)

        # Answered while it hung, not hanging with it.
        assert pending, "no request was in flight while PostgreSQL hung"
        assert not stuck, f"{len(stuck)} request(s) still unanswered after {HOLD_SECONDS} s of hanging: {stuck[:5]}"
        assert answered_while_held >= len(students), f"only {answered_while_held} answers while PostgreSQL hung"
        assert burst_done, "the burst was not answered while PostgreSQL hung"
        for response in burst_answers:
            assert_problem(response, 503, "unavailable")
            assert response.headers["retry-after"]
        # (A poll sent just before the restore may be answered by the PostgreSQL that is back.)
        held_answers = ready.between(held + SETTLE_SECONDS, restoring - 3)
        assert set(held_answers) == {503}, f"/ready while PostgreSQL hung: {held_answers}"
        assert back < 15
        assert_contract_answers(crowd, transport_errors=False)
        assert crowd.statuses()[503] > 0, crowd.statuses()

        assert_bounded(watch, during)

        # PostgreSQL answers again: so does the service, with a 201.
        deadline = time.monotonic() + 10
        while (late := await select_after(client, "late")).status_code == 503:
            assert time.monotonic() < deadline, late.text
            await asyncio.sleep(0.2)
        assert late.status_code == 201, late.text
        assert (await read_metrics(live))["selection_commit_breaker_state{}"] == Breaker.CLOSED
        await settle(live, crowd)
