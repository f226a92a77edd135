"""The round's live dashboard in process: the page, and the numbers it polls moving after real
selects and refusals made through the API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry, Counter

from courses.cached import CachedCatalog
from courses.rounds import RoundRegistry
from lib.database import create_pool
from lib.settings import Settings
from quota.gate import SeatGate
from selection.browse import Browse
from selection.live_metrics import ServiceMetrics
from selection.pages.dashboard_pages import RoundFill, round_fill
from selection.roster import Roster
from selection.web.app import create_app
from tests.builders import add_offering, add_round, add_students, announce
from tests.conftest import bearer
from tests.pages.test_pages import dev_sign_in, page_settings

__all__ = ["page_settings"]
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def ops_client(page_settings: Callable[..., Settings], db: asyncpg.Connection) -> AsyncIterator[Client]:
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1)
    await add_offering(db, "yoga", capacity=2)
    await add_round(db, "r1", ["swim", "yoga"], state="open", waitlist=True)
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True))) as client:
        await announce(client, "r1")
        yield client


async def data(client: Client) -> dict[str, Any]:
    answer = await client.get("/admin/rounds/r1/dashboard/data")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = answer.json()
    return body


async def select(client: Client, student: str, offering: str, waitlist: bool = False) -> int:
    answer = await client.post(
        "/api/v1/rounds/r1/selections",
        json={"offering_id": offering, **({"waitlist": True} if waitlist else {})},
        headers=bearer(student),
    )
    return answer.status_code


async def test_the_dashboard_shows_the_rounds_fill_and_says_the_service_numbers_are_service_wide(
    ops_client: Client,
) -> None:
    await dev_sign_in(ops_client, **{"as": "admin"})
    page = await ops_client.get("/admin/rounds/r1/dashboard")
    assert page.status_code == 200, page.text
    assert 'data-source="/admin/rounds/r1/dashboard/data"' in page.text
    assert re.search(r'<tr data-offering="swim" data-enrolled="0" data-capacity="1"', page.text)
    for plot in ("plot-fill", "plot-waitlist", "plot-requests", "plot-refusals", "plot-commit"):
        assert f'id="{plot}"' in page.text
    assert "for the whole service" in page.text
    assert "/static/dashboard." in page.text
    assert (await ops_client.get("/admin/rounds/nope/dashboard")).status_code == 404
    assert (await ops_client.get("/admin/rounds/nope/dashboard/data")).status_code == 404
    ops_client.cookies.set("selection_lang", "zh-Hans")
    chinese = await ops_client.get("/admin/rounds/r1/dashboard")
    assert "整个服务" in chinese.text


async def test_the_numbers_move_after_selects_and_refusals(ops_client: Client) -> None:
    await dev_sign_in(ops_client, **{"as": "admin"})
    before = await data(ops_client)
    assert before["state"] == "open"
    assert before["offerings"] == [["swim", 0, 1, 0], ["yoga", 0, 2, 0]]
    assert await select(ops_client, "s1", "swim") == 201
    assert await select(ops_client, "s2", "swim") == 409  # course_full
    assert await select(ops_client, "s2", "swim", waitlist=True) == 202  # waitlisted
    assert await select(ops_client, "s1", "swim") == 409  # already_selected
    assert await select(ops_client, "s3", "yoga") == 201
    assert (await ops_client.delete("/api/v1/rounds/r1/selections/yoga", headers=bearer("s3"))).status_code == 204
    assert (await ops_client.get("/api/v1/rounds/r1/offerings", headers=bearer("s3"))).status_code == 200
    await asyncio.sleep(1.1)  # the counters are read at most once a second per process
    after = await data(ops_client)
    assert after["offerings"] == [["swim", 1, 1, 1], ["yoga", 0, 2, 0]]
    assert (after["enrolled"], after["waitlisted"], after["source"]) == (1, 1, "gate")
    service, earlier = after["service"], before["service"]
    assert service["at"] > earlier["at"]
    assert service["selects"] - earlier["selects"] == 5
    assert service["drops"] - earlier["drops"] == 1
    assert service["browses"] - earlier["browses"] == 1
    # Every API request counts (the data route is a page route: not counted).
    assert service["requests"] - earlier["requests"] == 7
    refused = {k: v - earlier["refusals"].get(k, 0) for k, v in service["refusals"].items()}
    assert refused.get("course_full") == 1
    assert refused.get("already_selected") == 1
    # Three changes committed, each in a group commit whose time is in the histogram.
    assert service["commits"] > earlier["commits"]
    assert service["commit_seconds"] > earlier["commit_seconds"]
    assert service["commit_buckets"][-1][1] >= service["commit_buckets"][0][1]


async def test_a_student_gets_403_and_an_anonymous_visitor_is_sent_to_sign_in(ops_client: Client) -> None:
    for path in ("/admin/rounds/r1/dashboard", "/admin/rounds/r1/dashboard/data"):
        anonymous = await ops_client.get(path, follow_redirects=False)
        assert anonymous.status_code == 303
    await dev_sign_in(ops_client, student="s1")
    for path in ("/admin/rounds/r1/dashboard", "/admin/rounds/r1/dashboard/data"):
        answer = await ops_client.get(path)
        assert answer.status_code == 403
        assert "for the administrators" in answer.text


def test_counters_are_read_from_the_registry_it_is_given() -> None:
    registry = CollectorRegistry()
    requests = Counter("selection_requests_total", "", ["method", "path", "status_code", "app_name"], registry=registry)
    refusals = Counter("selection_refusals", "", ["code"], registry=registry)
    requests.labels("POST", "/api/v1/rounds/{round_id}/selections", 201, "selection").inc(3)
    requests.labels("GET", "/api/v1/rounds", 200, "selection").inc(2)
    requests.labels("DELETE", "/api/v1/rounds/{round_id}/selections/{offering_id}", 204, "selection").inc(4)
    requests.labels("GET", "/api/v1/rounds/{round_id}/offerings", 200, "selection").inc(6)
    requests.labels("GET", "/admin", 200, "selection").inc(7)  # the console: not a student's request
    # The student pages' presses are selects and drops too; their other requests count as requests.
    requests.labels("POST", "/rounds/{round_id:str}/select", 200, "selection").inc(5)
    requests.labels("POST", "/rounds/{round_id:str}/drop", 200, "selection").inc(1)
    requests.labels("GET", "/rounds/{round_id:str}/seats", 200, "selection").inc(8)
    requests.labels("GET", "/", 200, "selection").inc(2)
    refusals.labels("course_full").inc(4)
    metrics = ServiceMetrics(lambda: registry, max_age=60)
    read = metrics.read()
    assert (read.requests, read.selects, read.drops, read.browses) == (31, 8, 5, 6)
    assert read.refusals == {"course_full": 4}
    assert read.commits == 0
    # Read again within max_age: the same reading, not the registry again.
    refusals.labels("course_full").inc()
    assert metrics.read() is read
    assert ServiceMetrics(lambda: registry, max_age=0).read().refusals == {"course_full": 5}


async def test_the_fill_comes_from_postgresql_when_the_gate_has_no_state_of_the_round(
    settings: Settings, db: asyncpg.Connection, redis_namespace: str
) -> None:
    await add_students(db, "s1", "s2")
    await add_offering(db, "swim", capacity=1)
    await add_round(db, "r1", ["swim"], state="open", waitlist=True)
    await db.execute(
        """INSERT INTO selections (round_id, offering_id, student_id, status, seq, wait_seq, created_at, updated_at)
           VALUES ('r1', 'swim', 's1', 'enrolled', 1, NULL, now(), now()),
                  ('r1', 'swim', 's2', 'waitlisted', 2, 2, now(), now())"""
    )
    assert settings.database_url is not None
    assert settings.redis_url is not None
    pool = await create_pool(settings.database_url, size=1)
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        catalog = CachedCatalog(pool)
        # A gate in a namespace nobody loaded: the round's state is not there.
        browse = Browse(catalog, RoundRegistry(pool, None), SeatGate(client, redis_namespace + "empty:"))  # type: ignore[arg-type]
        source, fill = await round_fill(browse, catalog, Roster(pool, catalog), "r1")
    finally:
        await client.aclose()
        await pool.close()
    assert source == "postgres"
    assert fill == [RoundFill("swim", 1, 1, 1)]
