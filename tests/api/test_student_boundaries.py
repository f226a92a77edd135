"""What a student can and cannot reach: their own selections only, the round's window, the rate."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis
from litestar import Litestar

from lib.settings import Settings
from quota.intents import Rate
from selection.worker import Worker
from tests.builders import Client, add_offering, add_round, add_students, announce

Headers = Callable[[str], dict[str, str]]
PATH = "/api/v1/rounds/r1/selections"


@pytest.fixture
async def small_round(db: asyncpg.Connection, client: Client) -> None:
    await add_students(db, "s1", "s2")
    await add_offering(db, "swim", capacity=1)
    await add_offering(db, "yoga", capacity=3, category="arts")
    await add_round(db, "r1", ["swim", "yoga"], waitlist=False)
    await announce(client, "r1")


@pytest.mark.usefixtures("small_round")
async def test_a_student_never_sees_or_changes_another_students_selection(
    client: Client, as_student: Headers, db: asyncpg.Connection
) -> None:
    assert (await client.post(PATH, json={"offering_id": "swim"}, headers=as_student("s1"))).status_code == 201
    assert (await client.get(PATH, headers=as_student("s2"))).json() == []
    response = await client.delete(PATH + "/swim", headers=as_student("s2"))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert await db.fetchval("SELECT status FROM selections WHERE student_id = 's1'") == "enrolled"


@pytest.mark.usefixtures("small_round")
async def test_no_waitlist_round_answers_course_full(client: Client, as_student: Headers) -> None:
    assert (await client.post(PATH, json={"offering_id": "swim"}, headers=as_student("s1"))).status_code == 201
    response = await client.post(PATH, json={"offering_id": "swim", "waitlist": True}, headers=as_student("s2"))
    assert (response.status_code, response.json()["code"]) == (409, "course_full")


@pytest.mark.usefixtures("small_round")
@pytest.mark.parametrize(("opens_in", "closes_in"), [(3600, 7200), (-7200, -3600)])
async def test_outside_the_window_the_round_is_not_open(
    client: Client, as_student: Headers, admin: dict[str, str], opens_in: int, closes_in: int
) -> None:
    now = dt.datetime.now(dt.UTC)
    body = {
        "id": "windowed",
        "name": "Windowed",
        "offering_ids": ["yoga"],
        "opens_at": (now + dt.timedelta(seconds=opens_in)).isoformat(),
        "closes_at": (now + dt.timedelta(seconds=closes_in)).isoformat(),
    }
    assert (await client.post("/api/v1/admin/rounds", json=body, headers=admin)).status_code == 201
    assert (await client.post("/api/v1/admin/rounds/windowed/open", headers=admin)).status_code == 200
    response = await client.post(
        "/api/v1/rounds/windowed/selections", json={"offering_id": "yoga"}, headers=as_student("s1")
    )
    assert (response.status_code, response.json()["code"]) == (409, "round_not_open")


async def test_the_default_rate_is_10_a_second_with_a_burst_of_30(app: Litestar, client: Client) -> None:
    worker: Worker = app.state.worker
    assert worker.rate_limit.rate == Rate(per_second=10, burst=30)
    # 31 at once reach Redis within milliseconds: a refill (one per 100 ms) cannot blur the count.
    outcomes = await asyncio.gather(*(worker.rate_limit.check("s1", "r1") for _ in range(31)), return_exceptions=True)
    assert [type(o).__name__ for o in outcomes].count("NoneType") == 30
    assert [type(o).__name__ for o in outcomes].count("RateLimited") == 1


class TestTheRate:
    """One request a second with a burst of three: the bucket refills far slower than any machine
    sends these few requests, so what the tests count does not depend on the machine's speed
    (at the default of 10 a second, a slow machine refilled a token while 30 requests went by)."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return msgspec.structs.replace(settings, rate_limit=1)

    @pytest.mark.usefixtures("small_round")
    async def test_over_the_rate_limit_is_429_with_retry_after(self, client: Client, as_student: Headers) -> None:
        statuses = [(await client.get(PATH, headers=as_student("s1"))).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = await client.get(PATH, headers=as_student("s1"))
        assert (response.status_code, response.json()["code"]) == (429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1
        other = await client.get(PATH, headers=as_student("s2"))
        assert other.status_code == 200
        metrics = (await client.get("/metrics")).text
        assert "selection_rate_limited_total" in metrics

    @pytest.mark.usefixtures("small_round")
    async def test_invented_round_ids_buy_no_fresh_budget(self, client: Client, as_student: Headers) -> None:
        paths = [f"/api/v1/rounds/nope-{i}/offerings" for i in range(3)] + ["/api/v1/rounds/other/selections"]
        statuses = [(await client.get(path, headers=as_student("s1"))).status_code for path in paths]
        assert statuses == [404, 404, 404, 429]
        assert (await client.delete(f"{PATH}/yoga", headers=as_student("s1"))).status_code == 429
        unknown = await client.post(
            "/api/v1/rounds/nope-9/selections", json={"offering_id": "yoga"}, headers=as_student("s1")
        )
        assert unknown.status_code == 429

    @pytest.mark.usefixtures("small_round")
    async def test_selects_count_in_a_budget_of_their_own_and_a_refused_key_is_not_spent(
        self, client: Client, as_student: Headers, db: asyncpg.Connection
    ) -> None:
        # Selects count in the student's bucket of the round (in the gate's script), refusals
        # too; browsing counts in the student's budget for everything else.
        for _ in range(2):
            assert (await client.get(PATH, headers=as_student("s1"))).status_code == 200
        statuses = [
            (await client.post(PATH, json={"offering_id": "yoga"}, headers=as_student("s1"))).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 409, 409]
        keyed = {**as_student("s1"), "Idempotency-Key": "after-the-limit"}
        over = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed)
        assert over.status_code == 429
        assert over.json()["code"] == "rate_limited"
        wait = int(over.headers["retry-after"])
        assert wait >= 1
        # Nothing was decided and the key was not spent: once the bucket has room, the same key acts.
        assert await db.fetchval("SELECT count(*) FROM selections WHERE offering_id = 'swim'") == 0
        await asyncio.sleep(wait)
        again = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed)
        assert again.status_code == 201, again.text
        assert (await client.post(PATH, json={"offering_id": "swim"}, headers=as_student("s2"))).status_code != 429


@pytest.mark.usefixtures("small_round")
async def test_a_round_state_that_missed_redis_is_carried_over(
    client: Client, as_student: Headers, db: asyncpg.Connection, redis: aioredis.Redis, settings: Settings
) -> None:
    # An administrator closed the round; PostgreSQL recorded it, Redis did not hear of it.
    await db.execute("UPDATE rounds SET state = 'closed', state_version = state_version + 1 WHERE id = 'r1'")
    meta = f"{settings.redis_namespace}{{round:r1}}:meta"
    assert await redis.hget(meta, "state") == b"open"
    for _ in range(100):
        if await redis.hget(meta, "state") == b"closed":
            break
        await asyncio.sleep(0.05)
    response = await client.post(PATH, json={"offering_id": "yoga"}, headers=as_student("s1"))
    assert (response.status_code, response.json()["code"]) == (409, "round_not_open")
