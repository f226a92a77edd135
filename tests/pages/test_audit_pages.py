"""The console's audit log in process: each filter narrows, pages go back with ``before``, the
htmx request gets the results alone, bad filters are said in words; and the API's new filters."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib.settings import Settings
from selection.pages.audit_pages import PAGE_SIZE
from selection.web.app import create_app
from tests.builders import add_offering, add_round, add_students
from tests.conftest import bearer
from tests.pages.test_pages import dev_sign_in, page_settings

__all__ = ["page_settings"]
Client = AsyncTestClient[Litestar]
#: 2026-09-01 08:30 in Shanghai.
OPENING = dt.datetime(2026, 9, 1, 0, 30, tzinfo=dt.UTC)


def event(
    at: dt.datetime, actor: str, role: str, action: str, round_id: str | None, student: str | None, offering: str | None
) -> tuple[object, ...]:
    return (at, actor, role, action, round_id, student, offering, "ok", f"{action} detail")


@pytest.fixture
async def audit_client(page_settings: Callable[..., Settings], db: asyncpg.Connection) -> AsyncIterator[Client]:
    await add_students(db, "s1", "s2")
    await add_offering(db, "swim")
    await add_offering(db, "yoga")
    await add_round(db, "r1", ["swim", "yoga"], state="open")
    await add_round(db, "r2", ["swim"], state="draft")
    rows = [
        event(OPENING - dt.timedelta(hours=1), "admin-1", "admin", "round.open", "r1", None, None),
        event(OPENING, "s1", "student", "select", "r1", "s1", "swim"),
        event(OPENING + dt.timedelta(seconds=1), "s2", "student", "select", "r1", "s2", "yoga"),
        event(OPENING + dt.timedelta(seconds=2), "s2", "student", "drop", "r1", "s2", "yoga"),
        event(OPENING + dt.timedelta(minutes=5), "admin-1", "admin", "force_enroll", "r2", "s2", "swim"),
        event(OPENING + dt.timedelta(minutes=6), "system", "system", "promote", "r1", "s1", "yoga"),
    ]
    # Many more selects of s1's, for the paging.
    rows += [
        event(OPENING + dt.timedelta(hours=1, seconds=i), "s1", "student", "select", "r1", "s1", "yoga")
        for i in range(PAGE_SIZE + 5)
    ]
    await db.executemany(
        """INSERT INTO audit_events (at, actor, role, action, round_id, student_id, offering_id, outcome, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        rows,
    )
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True))) as client:
        yield client


def shown(page: str) -> list[str]:
    """The actions of the events shown, newest first."""
    return re.findall(r'<li class="event" data-event="\d+" data-action="([^"]+)"', page)


async def test_each_filter_narrows_the_log(audit_client: Client) -> None:
    await dev_sign_in(audit_client, **{"as": "admin"})
    everything = await audit_client.get("/admin/audit")
    assert everything.status_code == 200, everything.text
    assert len(shown(everything.text)) == PAGE_SIZE
    assert '<option value="round.open">Round opened (round.open)</option>' in everything.text
    cases = {
        "round=r2": ["force_enroll"],
        "student=s2": ["force_enroll", "drop", "select"],
        "offering=swim": ["force_enroll", "select"],
        "action=drop": ["drop"],
        "actor=system": ["promote"],
        "actor=admin-1": ["force_enroll", "round.open"],
        # The school's time: 08:30:00 to 08:30:02 Shanghai is 00:30:00 to 00:30:02 UTC (until is exclusive).
        "since=2026-09-01T08:30&until=2026-09-01T08:30:02": ["select", "select"],
        "student=s2&action=select": ["select"],
        "round=r1&offering=yoga&student=s2": ["drop", "select"],
    }
    for query, actions in cases.items():
        answer = await audit_client.get(f"/admin/audit?{query}")
        assert answer.status_code == 200, (query, answer.text)
        assert shown(answer.text) == actions, query
    # The detail, and the action in words.
    answer = await audit_client.get("/admin/audit?action=drop")
    assert "drop detail" in answer.text
    assert "The student dropped an offering" in answer.text
    assert 'value="drop" selected' in answer.text
    audit_client.cookies.set("selection_lang", "zh-Hans")
    chinese = await audit_client.get("/admin/audit?action=drop")
    assert "学生退选了课程" in chinese.text
    # 00:30:02 UTC is 08:30:02 in Shanghai, shown to the second.
    assert "08:30:02" in chinese.text


async def test_older_pages_go_back_with_before_and_keep_the_filters(audit_client: Client) -> None:
    await dev_sign_in(audit_client, **{"as": "admin"})
    first = await audit_client.get("/admin/audit?student=s1")
    ids = [int(i) for i in re.findall(r'data-event="(\d+)"', first.text)]
    assert len(ids) == PAGE_SIZE
    assert ids == sorted(ids, reverse=True)
    older = re.search(r'<a href="(/admin/audit\?[^"]*before=(\d+)[^"]*)"', first.text)
    assert older, first.text
    assert "student=s1" in older[1]
    assert int(older[2]) == ids[-1]
    second = await audit_client.get(older[1].replace("&amp;", "&"))
    more = [int(i) for i in re.findall(r'data-event="(\d+)"', second.text)]
    # s1 has PAGE_SIZE + 6 selects and one promotion: the rest is on the second page, all older.
    assert len(more) == 7
    assert max(more) < min(ids)
    assert 'rel="next"' not in second.text  # the oldest page has no "older"
    assert 'href="/admin/audit?student=s1"' in second.text  # back to the newest


async def test_htmx_gets_the_results_alone_and_bad_filters_are_said_in_words(audit_client: Client) -> None:
    await dev_sign_in(audit_client, **{"as": "admin"})
    fragment = await audit_client.get("/admin/audit?action=drop", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="audit-results"')
    assert "<html" not in fragment.text
    assert shown(fragment.text) == ["drop"]
    for query in ("student=not%20an%20id", "since=yesterday", "action=nonsense", "before=-3"):
        page = await audit_client.get(f"/admin/audit?{query}")
        assert page.status_code == 400, query
        assert "Some filters are not valid" in page.text
        assert shown(page.text) == []
        swapped = await audit_client.get(f"/admin/audit?{query}", headers={"HX-Request": "true"})
        assert swapped.status_code == 200  # htmx swaps it in
        assert "Some filters are not valid" in swapped.text


async def test_a_student_gets_403(audit_client: Client) -> None:
    await dev_sign_in(audit_client, student="s1")
    answer = await audit_client.get("/admin/audit")
    assert answer.status_code == 403
    assert "drop detail" not in answer.text


async def test_the_api_takes_the_same_filters(audit_client: Client) -> None:
    admin = bearer("admin-1", "admin")

    async def actions(query: str) -> list[str]:
        answer = await audit_client.get(f"/api/v1/admin/audit?{query}", headers=admin)
        assert answer.status_code == 200, answer.text
        return [e["action"] for e in answer.json()]

    assert await actions("offering_id=swim") == ["force_enroll", "select"]
    assert await actions("action=drop") == ["drop"]
    assert await actions("actor=system") == ["promote"]
    assert await actions("since=2026-09-01T08:30:00%2B08:00&until=2026-09-01T00:30:02Z") == ["select", "select"]
    assert await actions("round_id=r1&student_id=s2") == ["drop", "select"]
    for bad in ("action=NOT", "since=2026-09-01T08:30:00", "since=soon", "offering_id=a%20b"):
        answer = await audit_client.get(f"/api/v1/admin/audit?{bad}", headers=admin)
        assert answer.status_code == 400, bad
        assert answer.headers["content-type"].startswith("application/problem+json")
