"""The fair-start window through the students' routes: held selects decided in the seeded passes
when the window ends, with their normal answers, durable before they are sent. The app is served
on the test's own loop (``tests/served.py``): held requests wait side by side."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from lib.settings import Settings
from tests.builders import add_offering, add_round, add_students, weekly
from tests.catalog_data import assert_problem
from tests.invariants import checked
from tests.served import ready as announce
from tests.served import served

Client = httpx.AsyncClient

Headers = Callable[[str], dict[str, str]]
R = "r1"
SEED = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SELECTIONS = f"/api/v1/rounds/{R}/selections"


def rank(seed: str, student_id: str) -> str:
    """The contract's order, computed here independently of the service."""
    return hashlib.sha256((seed + ":" + student_id).encode()).hexdigest()


async def open_window(db: asyncpg.Connection, seconds: float, round_id: str = R) -> float:
    """Open the round (created as a draft) with a window of ``seconds`` starting now, as the
    first opening would, in PostgreSQL alone (as if the worker that opened it died before telling
    the gate): the upkeep carries the state and the window over. Returns when the window ends."""
    start = await db.fetchval(
        """UPDATE rounds SET state = 'open', fair_start_seconds = $2, fair_start_seed = $3, opened_at = now(),
                  state_version = state_version + 1
           WHERE id = $1 RETURNING opened_at""",
        round_id,
        max(1, round(seconds)),
        SEED,
    )
    return float(start.timestamp()) + max(1, round(seconds))


async def held_count(redis: aioredis.Redis, namespace: str, round_id: str = R) -> int:
    return int(await redis.hlen(f"{namespace}{{round:{round_id}}}:fs:held"))


async def until(check: Callable[[], Any], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.02)


async def ready_with_window(client: Client, redis: aioredis.Redis, namespace: str, round_id: str = R) -> None:
    """Wait until the gate holds the round's window (rebuilt from PostgreSQL)."""

    async def has_window() -> bool:
        return (
            bool(await redis.hget(f"{namespace}{{round:{round_id}}}:meta", "fs_end"))
            and (await client.get("/ready")).status_code == 200
        )

    await until(has_window)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with served(settings) as c:
        yield c


@pytest.fixture
async def window(
    db: asyncpg.Connection, client: Client, redis: aioredis.Redis, redis_namespace: str
) -> Callable[[float], Any]:
    students = [f"s{i:02d}" for i in range(12)]
    await add_students(db, *students)
    await add_offering(db, "swim", capacity=3, schedule=[weekly("mon", "14:00", "15:00")])
    await add_offering(db, "yoga", capacity=2, schedule=[weekly("tue", "14:00", "15:00")])
    await add_offering(db, "clay", capacity=20, category="arts", schedule=[weekly("wed", "14:00", "15:00")])
    await add_round(db, R, ["swim", "yoga", "clay"], state="draft", waitlist=True)
    await announce(client)

    async def start(seconds: float) -> float:
        ends = await open_window(db, seconds)
        await ready_with_window(client, redis, redis_namespace)
        return ends

    return start


async def post(client: Client, headers: dict[str, str], offering_id: str, **extra: Any) -> httpx.Response:
    key = extra.pop("key", None)
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    return await client.post(SELECTIONS, json={"offering_id": offering_id, **extra}, headers=headers)


async def test_held_selects_are_decided_in_the_seeded_passes(
    window: Callable[[float], Any],
    client: Client,
    as_student: Headers,
    redis: aioredis.Redis,
    redis_namespace: str,
    db: asyncpg.Connection,
    settings: Settings,
) -> None:
    students = [f"s{i:02d}" for i in range(12)]
    # Each student's two wishes, in the order they send them: half want swim first, half yoga.
    wishes = {s: (["swim", "yoga"] if i % 2 else ["yoga", "swim"]) for i, s in enumerate(students)}
    ends = await window(4)
    first = [asyncio.create_task(post(client, as_student(s), wishes[s][0], waitlist=True)) for s in students]
    await until(lambda: _count_is(redis, redis_namespace, 12))
    second = [asyncio.create_task(post(client, as_student(s), wishes[s][1])) for s in students]
    await until(lambda: _count_is(redis, redis_namespace, 24))
    assert time.time() < ends, "the test arranged its requests too slowly for the window"
    assert not any(t.done() for t in first + second), "a held request was answered before the window's end"
    answers = await asyncio.gather(*first, *second)
    assert time.time() >= ends - 0.05

    # The expected outcome, computed from the contract alone: pass 1 over every student's first
    # wish in seed order (a full offering puts a student on its waitlist, as they asked), then pass
    # 2 over their second wish (no waitlist asked: a full offering is a course_full refusal).
    order = sorted(students, key=lambda s: rank(SEED, s))
    seats = {"swim": 3, "yoga": 2}
    waiting: dict[str, int] = {"swim": 0, "yoga": 0}
    expected: dict[tuple[str, str], tuple[int, Any]] = {}
    for wish in (0, 1):
        for s in order:
            o = wishes[s][wish]
            if seats[o] > 0:
                seats[o] -= 1
                expected[(s, o)] = (201, None)
            elif wish == 0:
                waiting[o] += 1
                expected[(s, o)] = (202, waiting[o])
            else:
                expected[(s, o)] = (409, "course_full")
    got: dict[tuple[str, str], tuple[int, Any]] = {}
    for i, response in enumerate(answers):
        s = students[i % 12]
        o = wishes[s][i // 12]
        body = response.json()
        if response.status_code == 409:
            assert_problem(response, 409, "course_full")
            got[(s, o)] = (409, body["code"])
        else:
            assert response.status_code in (201, 202), response.text
            assert (body["student_id"], body["offering_id"]) == (s, o)
            got[(s, o)] = (response.status_code, body["position"])
    assert got == expected
    # Durable before answered, and in the gate's order: PostgreSQL holds exactly these.
    rows = await db.fetch("SELECT student_id, offering_id, status FROM selections WHERE round_id = $1", R)
    held = {(r["student_id"], r["offering_id"]): r["status"] for r in rows}
    assert held == {k: ("enrolled" if v[0] == 201 else "waitlisted") for k, v in expected.items() if v[0] in (201, 202)}
    report = await checked(settings)
    assert report.clean, report.text()


async def _count_is(redis: aioredis.Redis, namespace: str, n: int) -> bool:
    return await held_count(redis, namespace) >= n


async def test_after_the_window_a_select_is_decided_at_once(
    window: Callable[[float], Any], client: Client, as_student: Headers
) -> None:
    ends = await window(1)
    await asyncio.sleep(max(0.0, ends - time.time()) + 0.05)
    started = time.monotonic()
    response = await post(client, as_student("s01"), "swim")
    assert response.status_code == 201, response.text
    assert time.monotonic() - started < 0.5


async def test_a_drop_in_the_window_is_decided_at_once(
    window: Callable[[float], Any], client: Client, as_student: Headers, admin: dict[str, str]
) -> None:
    ends = await window(4)
    # An administrator's enrolment is not held either.
    forced = await client.post(
        f"/api/v1/admin/rounds/{R}/selections", json={"student_id": "s01", "offering_id": "clay"}, headers=admin
    )
    assert forced.status_code == 201, forced.text
    dropped = await client.delete(f"{SELECTIONS}/clay", headers=as_student("s01"))
    assert dropped.status_code == 204, dropped.text
    assert time.time() < ends


async def test_a_repeat_of_a_held_request_gets_the_same_answer(
    window: Callable[[float], Any], client: Client, as_student: Headers, redis: aioredis.Redis, redis_namespace: str
) -> None:
    ends = await window(3)
    first = asyncio.create_task(post(client, as_student("s01"), "swim", key="k-1"))
    await until(lambda: _count_is(redis, redis_namespace, 1))
    repeat = asyncio.create_task(post(client, as_student("s01"), "swim", key="k-1"))
    await asyncio.sleep(0.2)
    assert not first.done()
    assert not repeat.done()
    one, two = await asyncio.gather(first, repeat)
    assert time.time() >= ends - 0.05
    assert one.status_code == two.status_code == 201, (one.text, two.text)
    assert one.content == two.content
    assert two.headers.get("idempotent-replayed") == "true"
    later = await post(client, as_student("s01"), "swim", key="k-1")
    assert (later.status_code, later.content) == (201, one.content)


async def test_a_held_refusal_is_replayed_to_its_repeat(
    window: Callable[[float], Any], client: Client, as_student: Headers, redis: aioredis.Redis, redis_namespace: str
) -> None:
    await window(3)
    # yoga has two seats and four students want it: two are refused, each under its key.
    tasks = [asyncio.create_task(post(client, as_student(f"s0{i}"), "yoga", key=f"k{i}")) for i in range(4)]
    await until(lambda: _count_is(redis, redis_namespace, 4))
    repeats = [asyncio.create_task(post(client, as_student(f"s0{i}"), "yoga", key=f"k{i}")) for i in range(4)]
    firsts = await asyncio.gather(*tasks)
    seconds = await asyncio.gather(*repeats)
    assert sorted(r.status_code for r in firsts) == [201, 201, 409, 409]
    for one, two in zip(firsts, seconds, strict=True):
        assert (two.status_code, two.json()) == (one.status_code, one.json())
        if one.status_code == 409:
            assert_problem(one, 409, "course_full")


async def test_a_round_paused_at_the_window_end_refuses_its_held_selects(
    window: Callable[[float], Any],
    client: Client,
    as_student: Headers,
    admin: dict[str, str],
    redis: aioredis.Redis,
    redis_namespace: str,
    db: asyncpg.Connection,
) -> None:
    await window(3)
    waiting = asyncio.create_task(post(client, as_student("s01"), "swim"))
    await until(lambda: _count_is(redis, redis_namespace, 1))
    paused = await client.post(f"/api/v1/admin/rounds/{R}/pause", headers=admin)
    assert paused.status_code == 200, paused.text
    assert_problem(await waiting, 409, "round_not_open")
    assert await db.fetchval("SELECT count(*) FROM selections WHERE round_id = $1", R) == 0


async def test_two_app_instances_share_one_window(
    window: Callable[[float], Any],
    client: Client,
    as_student: Headers,
    settings: Settings,
    redis: aioredis.Redis,
    redis_namespace: str,
) -> None:
    students = [f"s{i:02d}" for i in range(12)]
    async with served(settings) as other:
        await announce(other)
        await window(3)
        # Every other student through the second instance; swim has three seats.
        tasks = [
            asyncio.create_task(post(client if i % 2 else other, as_student(s), "swim")) for i, s in enumerate(students)
        ]
        await until(lambda: _count_is(redis, redis_namespace, 12))
        answers = await asyncio.gather(*tasks)
    winners = sorted(students, key=lambda s: rank(SEED, s))[:3]
    got = {s: a.status_code for s, a in zip(students, answers, strict=True)}
    assert got == {s: 201 if s in winners else 409 for s in students}


async def test_held_requests_lost_with_redis_are_not_acknowledged(
    window: Callable[[float], Any],
    client: Client,
    as_student: Headers,
    redis: aioredis.Redis,
    redis_namespace: str,
    db: asyncpg.Connection,
    settings: Settings,
) -> None:
    await window(4)
    tasks = [asyncio.create_task(post(client, as_student(f"s0{i}"), "clay")) for i in range(5)]
    await until(lambda: _count_is(redis, redis_namespace, 5))
    # Redis loses every key of the service (as a restart with no data would).
    async for key in redis.scan_iter(match=redis_namespace + "*", count=1000):
        await redis.delete(key)
    started = time.monotonic()
    answers = await asyncio.gather(*tasks)
    assert time.monotonic() - started < 3.0
    for answer in answers:
        assert_problem(answer, 503, "unavailable")
    assert await db.fetchval("SELECT count(*) FROM selections WHERE round_id = $1", R) == 0
    # The gate is rebuilt from PostgreSQL, window included: a repeat is held and decided.
    await ready_with_window(client, redis, redis_namespace)
    again = await post(client, as_student("s00"), "clay")
    assert again.status_code == 201, again.text
    report = await checked(settings)
    assert report.clean, report.text()


async def test_the_opening_holds_selects_from_its_first_moment(
    db: asyncpg.Connection, client: Client, as_student: Headers, admin: dict[str, str]
) -> None:
    await add_students(db, "s1", "s2")
    await add_offering(db, "swim", capacity=1)
    await announce(client)
    created = await client.post(
        "/api/v1/admin/rounds",
        json={"id": R, "name": "Fair", "offering_ids": ["swim"], "fair_start_seconds": 2},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    await announce(client)
    opened = await client.post(f"/api/v1/admin/rounds/{R}/open", headers=admin)
    assert opened.status_code == 200, opened.text
    seed = opened.json()["fair_start_seed"]
    # At once after the opening: held, not refused nor answered 503 while the gate catches up.
    tasks = [asyncio.create_task(post(client, as_student(s), "swim")) for s in ("s1", "s2")]
    await asyncio.sleep(0.5)
    assert not any(t.done() for t in tasks), [t.result().text for t in tasks if t.done()]
    answers = dict(zip(("s1", "s2"), [a.status_code for a in await asyncio.gather(*tasks)], strict=True))
    first = min(("s1", "s2"), key=lambda s: rank(seed, s))
    assert answers == {s: 201 if s == first else 409 for s in ("s1", "s2")}
