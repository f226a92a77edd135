"""CoalescedCache on its own: one computation per key at a time, stale answers while it runs."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from lib.coalesced import CoalescedCache


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A computation that counts its runs and, when held, waits for the test to release it."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        #: The message of a LookupError to raise instead, a new one each run (as a driver would).
        self.failure: str | None = None

    def hold(self) -> None:
        self.started.clear()
        self.release.clear()

    async def __call__(self) -> str:
        self.runs += 1
        self.started.set()
        await self.release.wait()
        if self.failure is not None:
            raise LookupError(self.failure)
        return f"v{self.runs}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> CoalescedCache[str, str]:
    return CoalescedCache(clock=clock)


async def test_concurrent_misses_compute_once(cache: CoalescedCache[str, str]) -> None:
    source = Source()
    source.hold()
    callers = [asyncio.create_task(cache.get("k", 1.0, source)) for _ in range(200)]
    await source.started.wait()
    source.release.set()
    assert await asyncio.gather(*callers) == ["v1"] * 200
    assert source.runs == 1
    assert await cache.get("k", 1.0, source) == "v1"
    assert source.runs == 1


async def test_keys_do_not_share_a_computation(cache: CoalescedCache[str, str]) -> None:
    source = Source()
    assert list(await asyncio.gather(cache.get("a", 1.0, source), cache.get("b", 1.0, source))) == ["v1", "v2"]


async def test_expired_value_is_served_while_one_refresh_runs(cache: CoalescedCache[str, str], clock: Clock) -> None:
    source = Source()
    assert await cache.get("k", 1.0, source) == "v1"
    clock.now += 1.5
    source.hold()
    answers = [await cache.get("k", 1.0, source) for _ in range(50)]
    assert answers == ["v1"] * 50
    await source.started.wait()
    assert source.runs == 2
    source.release.set()
    await _refreshed(cache, "k", "v2")
    assert source.runs == 2


async def test_a_value_past_twice_its_freshness_is_not_served(cache: CoalescedCache[str, str], clock: Clock) -> None:
    source = Source()
    await cache.get("k", 1.0, source)
    clock.now += 2.0
    source.hold()
    callers = [asyncio.create_task(cache.get("k", 1.0, source)) for _ in range(20)]
    await source.started.wait()
    assert not any(c.done() for c in callers)
    source.release.set()
    assert await asyncio.gather(*callers) == ["v2"] * 20
    assert source.runs == 2


async def test_the_age_counts_from_before_the_computation(cache: CoalescedCache[str, str], clock: Clock) -> None:
    source = Source()
    source.hold()
    caller = asyncio.create_task(cache.get("k", 1.0, source))
    await source.started.wait()
    clock.now += 0.6
    source.release.set()
    assert await caller == "v1"
    clock.now += 0.6
    # 1.2 s since the reading began: stale, though it ended only 0.6 s ago.
    source.hold()
    assert await cache.get("k", 1.0, source) == "v1"
    await source.started.wait()
    assert source.runs == 2
    source.release.set()
    await _idle(cache)


async def test_a_failure_reaches_every_waiter_and_the_next_call_retries(cache: CoalescedCache[str, str]) -> None:
    source = Source()
    source.hold()
    source.failure = "store unreachable"
    callers = [asyncio.create_task(cache.get("k", 1.0, source)) for _ in range(30)]
    await source.started.wait()
    source.release.set()
    answers = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(a, LookupError) and str(a) == "store unreachable" for a in answers)
    assert source.runs == 1
    source.failure = None
    assert await cache.get("k", 1.0, source) == "v2"


async def test_a_failed_refresh_keeps_the_previous_value_and_is_not_logged_as_lost(
    cache: CoalescedCache[str, str], clock: Clock
) -> None:
    lost: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: lost.append(context))
    source = Source()
    await cache.get("k", 1.0, source)
    clock.now += 1.5
    source.hold()
    source.failure = "store unreachable"
    assert await cache.get("k", 1.0, source) == "v1"
    await source.started.wait()
    source.release.set()
    await _idle(cache)
    gc.collect()
    assert lost == []
    # The next caller within the bound still gets the previous value, and tries again.
    source.failure = None
    assert await cache.get("k", 1.0, source) == "v1"
    await _refreshed(cache, "k", "v3")


async def test_a_cancelled_first_caller_leaves_the_computation_to_the_others(
    cache: CoalescedCache[str, str],
) -> None:
    source = Source()
    source.hold()
    first = asyncio.create_task(cache.get("k", 1.0, source))
    await source.started.wait()
    second = asyncio.create_task(cache.get("k", 1.0, source))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    source.release.set()
    assert await second == "v1"
    assert source.runs == 1


async def test_a_computation_whose_only_caller_left_still_completes(cache: CoalescedCache[str, str]) -> None:
    source = Source()
    source.hold()
    only = asyncio.create_task(cache.get("k", 1.0, source))
    await source.started.wait()
    only.cancel()
    with pytest.raises(asyncio.CancelledError):
        await only
    source.release.set()
    await _idle(cache)
    assert await cache.get("k", 1.0, source) == "v1"
    assert source.runs == 1


async def test_values_not_to_keep_are_shared_but_not_remembered(clock: Clock) -> None:
    cache: CoalescedCache[str, str | None] = CoalescedCache(keep=lambda v: v is not None, clock=clock)
    runs = 0

    async def missing() -> str | None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0)
        return None

    assert await asyncio.gather(*(cache.get("k", 1.0, missing) for _ in range(10))) == [None] * 10
    assert runs == 1
    assert await cache.get("k", 1.0, missing) is None
    assert runs == 2


async def test_clear_forgets_values_and_what_running_computations_read(cache: CoalescedCache[str, str]) -> None:
    source = Source()
    await cache.get("k", 1.0, source)
    cache.clear()
    source.hold()
    before = asyncio.create_task(cache.get("k", 1.0, source))
    await source.started.wait()
    cache.clear()
    source.release.set()
    # Whoever asked before the change gets what was read; later callers read again.
    assert await before == "v2"
    assert await cache.get("k", 1.0, source) == "v3"


async def _idle(cache: CoalescedCache[str, Any]) -> None:
    """Until no computation of ``cache`` is running."""
    while cache._running:
        await asyncio.wait(set(cache._running))


async def _refreshed(cache: CoalescedCache[str, str], key: str, expected: str) -> None:
    await _idle(cache)
    assert await cache.get(key, 1.0, _never) == expected


async def _never() -> str:
    raise AssertionError("a fresh value was computed again")
