"""The administrators' console, in process against the real PostgreSQL and Redis: rounds created,
edited, moved and filled through the pages, refusals in words, forced changes audited, the
roster's downloads, the catalog of offerings; and a student kept out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib.settings import Settings
from selection.web.app import create_app
from tests.builders import add_offering, add_round, add_students, announce
from tests.conftest import bearer

Client = AsyncTestClient[Litestar]
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def csrf_of(page: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert found, page
    return found[1]


def text_of(page: str) -> str:
    """The page's words, tags and extra spaces taken out (a message may wrap around markup)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("&#39;", "'")


@pytest.fixture
async def console(settings: Settings, db: asyncpg.Connection) -> AsyncIterator[Client]:
    """Signed in as the administrator (the development sign-in), with three students and a catalog."""
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1)
    await add_offering(db, "run", capacity=2)
    await add_offering(db, "clay", category="arts", capacity=1)
    fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
    async with AsyncTestClient(app=create_app(Settings(**{**fields, "dev_sign_in": True}))) as client:
        page = await client.get("/dev/sign-in")
        signed = await client.post("/dev/sign-in", data={"_csrf_token": csrf_of(page.text), "as": "admin"})
        assert signed.status_code == 200, signed.text
        yield client


async def post(client: Client, path: str, form: dict[str, Any], **kwargs: Any) -> Any:
    """A form posted as a browser would: with the page's CSRF token."""
    token = csrf_of((await client.get("/admin")).text)
    return await client.post(path, data={"_csrf_token": token, **form}, follow_redirects=False, **kwargs)


def round_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "id": "r1",
        "name": "Autumn PE",
        "mode": "fcfs",
        "opens_at": "",
        "closes_at": "",
        "offering_ids_sent": "1",
        "offering_ids": ["swim", "run"],
        "eligibility_sent": "1",
        "cohorts": "",
        "campuses": "",
        "limit_pe": "",
        "limit_arts": "",
        "limit_labor": "",
        "limit_total": "",
        "flags_sent": "1",
        "allow_drop": "1",
        "fair_start_seconds": "0",
        "continues": "",
        "seed_sha256": "",
    }
    return form | changes


async def create(client: Client, **changes: Any) -> Any:
    return await post(client, "/admin/rounds/new", round_form(**changes))


async def test_the_rounds_list_has_counts_and_a_new_round_button(console: Client, db: asyncpg.Connection) -> None:
    await add_round(db, "r-open", ["swim", "run"], state="open")
    await db.execute(
        "INSERT INTO selections (round_id, offering_id, student_id, status, seq, created_at, updated_at)"
        " VALUES ('r-open', 'swim', 's1', 'enrolled', 1, now(), now())"
    )
    page = await console.get("/admin")
    assert page.status_code == 200
    assert 'href="/admin/rounds/new"' in page.text
    assert 'href="/admin/rounds/r-open"' in page.text
    row = page.text.split('data-round="r-open"')[1].split("</tr>")[0]
    assert re.findall(r'class="number">(\d+)<', row) == ["2", "1", "1"]
    # The console's navigation, on every page of it.
    assert 'href="/admin/import"' in page.text
    assert 'href="/admin/audit"' in page.text


async def test_create_an_fcfs_round_with_a_fair_start_in_the_schools_zone(
    console: Client, db: asyncpg.Connection
) -> None:
    form = await console.get("/admin/rounds/new")
    assert form.status_code == 200
    assert 'value="swim"' in form.text
    assert 'value="clay"' in form.text
    assert "Asia/Shanghai" in form.text
    answer = await create(
        console,
        opens_at="2026-09-01T16:00",
        closes_at="2026-09-03T18:30",
        cohorts="2024, 2025",
        degrees="master",
        campuses="north",
        limit_pe="1",
        limit_total="2",
        waitlist="1",
        fair_start_seconds="30",
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/admin/rounds/r1"
    row = await db.fetchrow("SELECT * FROM rounds WHERE id = 'r1'")
    assert row is not None
    assert row["opens_at"] == dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)
    assert row["closes_at"] == dt.datetime(2026, 9, 3, 10, 30, tzinfo=dt.UTC)
    assert (row["mode"], row["state"], row["fair_start_seconds"], row["waitlist"], row["allow_drop"]) == (
        "fcfs",
        "draft",
        30,
        True,
        True,
    )
    assert json.loads(row["eligibility"]) == {"cohorts": [2024, 2025], "degrees": ["master"], "campuses": ["north"]}
    assert json.loads(row["limits"]) == {"pe": 1, "total": 2}
    page = await console.get("/admin/rounds/r1")
    assert "Round r1 was created as a draft." in text_of(page.text)
    # The links to the round's other pages in the console.
    for link in ("/admin/rounds/r1/dashboard", "/admin/audit?round=r1", "/admin/rounds/r1/edit"):
        assert f'href="{link}"' in page.text
    audit = await console.get("/admin/audit?round=r1")
    assert audit.status_code == 200
    assert "round.create" in audit.text
    assert "30 seconds" in page.text
    assert "2026-09-01T08:00:00+00:00" in page.text  # the <time> of the opening, UTC inside
    assert await db.fetchval("SELECT action FROM audit_events WHERE round_id = 'r1'") == "round.create"


async def test_create_a_lottery_round_with_a_seed_commitment(console: Client, db: asyncpg.Connection) -> None:
    digest = hashlib.sha256(b"kept-by-the-registrar").hexdigest()
    answer = await create(console, id="lot", mode="lottery", seed_sha256=digest.upper())
    assert answer.status_code == 303, answer.text
    assert await db.fetchval("SELECT seed_sha256 FROM rounds WHERE id = 'lot'") == digest
    page = (await console.get("/admin/rounds/lot")).text
    assert digest in page
    assert 'href="/admin/rounds/lot/lottery"' in page
    form = (await console.get("/admin/rounds/new")).text
    # The seed is made in the browser: the page has the button and the fallback, not a seed.
    assert 'id="generate-seed"' in form
    assert "js-sha256-0.11.1.min" in form


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"opens_at": "2026-09-02T08:00", "closes_at": "2026-09-01T08:00"},
            "closes_at",
            "The closing time must be after the opening time.",
        ),
        ({"mode": "lottery", "seed_sha256": "xyz"}, "seed_sha256", "64 hexadecimal digits"),
        ({"opens_at": "tomorrow"}, "opens_at", "Type a date and a time."),
        ({"offering_ids": ["swim", "nope"]}, "offering_ids", "These offerings do not exist: nope."),
        ({"id": "bad id"}, "id", "Use 1 to 64 letters"),
        ({"limit_pe": "many"}, "limit_pe", "Type a whole number from 0 to 1000"),
        ({"cohorts": "2024, last year"}, "cohorts", "Type years from 1900 to 2200"),
        ({"continues": "nope"}, "continues", "There is no such round."),
    ],
)
async def test_create_refusals_are_words_beside_their_field(
    console: Client, db: asyncpg.Connection, changes: dict[str, Any], field: str, words: str
) -> None:
    answer = await create(console, name="Kept name", **changes)
    assert answer.status_code == 400, answer.text
    assert f'id="{field}-error"' in answer.text
    error = answer.text.split(f'id="{field}-error">')[1].split("</p>")[0]
    assert words in text_of(error).replace("&#34;", '"')
    assert 'value="Kept name"' in answer.text  # what was typed is shown again
    assert await db.fetchval("SELECT count(*) FROM rounds") == 0


async def test_the_other_modes_field_is_not_sent(console: Client, db: asyncpg.Connection) -> None:
    """The form hides a lottery's seed from a first-come round and a first-come round's fair start
    from a lottery, but still carries them: what they hold then is not taken."""
    assert (await create(console, id="lot", mode="lottery", fair_start_seconds="20")).status_code == 303
    assert (await create(console, id="fast", seed_sha256="ab" * 32, fair_start_seconds="20")).status_code == 303
    rows = await db.fetch("SELECT id, fair_start_seconds, seed_sha256 FROM rounds ORDER BY id")
    assert [tuple(r) for r in rows] == [("fast", 20, None), ("lot", 0, None)]


async def test_a_taken_id_is_said_beside_the_id_in_chinese_too(console: Client) -> None:
    assert (await create(console)).status_code == 303
    again = await post(console, "/admin/rounds/new", round_form(), headers=ZH)
    assert again.status_code == 400
    error = again.text.split('id="id-error">')[1].split("</p>")[0]
    assert "r1" in error
    assert "已存在" in error


async def test_a_round_that_continues_another_must_offer_its_offerings(console: Client, db: asyncpg.Connection) -> None:
    await add_round(db, "first", ["swim", "clay"], state="closed")
    form = (await console.get("/admin/rounds/new")).text
    assert '<option value="first">' in form
    short = await create(console, id="second", continues="first", offering_ids=["swim"])
    assert short.status_code == 400
    error = text_of(short.text.split('id="continues-error">')[1].split("</p>")[0])
    assert "Round first offers clay, which this round does not." in error
    answer = await create(console, id="second", continues="first", offering_ids=["swim", "clay"])
    assert answer.status_code == 303
    assert await db.fetchval("SELECT continues FROM rounds WHERE id = 'second'") == "first"


async def test_a_draft_is_edited_whole(console: Client, db: asyncpg.Connection) -> None:
    await create(console, opens_at="2026-09-01T16:00")
    form = await console.get("/admin/rounds/r1/edit")
    assert form.status_code == 200
    assert 'value="2026-09-01T16:00"' in form.text
    assert " disabled" not in form.text.split('<form method="post" action="/admin/rounds/r1/edit"')[1]
    answer = await post(
        console,
        "/admin/rounds/r1/edit",
        round_form(name="Autumn PE, second try", offering_ids=["clay", "swim"], limit_arts="1", waitlist="1"),
    )
    assert answer.status_code == 303, answer.text
    row = await db.fetchrow("SELECT name, opens_at, limits, waitlist FROM rounds WHERE id = 'r1'")
    assert row is not None
    assert row["name"] == "Autumn PE, second try"
    assert row["opens_at"] is None  # the form sent it empty
    assert json.loads(row["limits"]) == {"arts": 1}
    assert row["waitlist"] is True
    positions = await db.fetch("SELECT offering_id FROM round_offerings WHERE round_id = 'r1' ORDER BY position")
    assert [r["offering_id"] for r in positions] == ["swim", "clay"]  # kept first, new after
    detail = await db.fetchval("SELECT detail FROM audit_events WHERE action = 'round.edit'")
    assert detail == "changed name, offering_ids, opens_at, limits, waitlist"


async def test_an_open_round_changes_only_its_name_and_closing_time(console: Client, db: asyncpg.Connection) -> None:
    await create(console, opens_at="2026-09-01T16:00", limit_pe="1")
    draft_form = round_form(name="Renamed", limit_pe="2", opens_at="2026-09-01T16:00")
    assert (await post(console, "/admin/rounds/r1/open", {})).status_code == 303
    form = (await console.get("/admin/rounds/r1/edit")).text
    assert "only its name and closing time can change" in text_of(form)
    assert re.search(r'<fieldset class="field offerings-picker" id="offerings-picker" disabled>', form)
    assert re.search(r'id="opens-at"[^>]* disabled', form)
    assert not re.search(r'id="closes-at"[^>]* disabled', form)
    # A form shown while the round was a draft, sent after it opened: the limit is refused in words.
    refused = await post(console, "/admin/rounds/r1/edit", draft_form)
    assert refused.status_code == 400
    assert 'id="limit_total-error"' in refused.text
    assert "only its name and closing time can change" in text_of(refused.text.split('role="alert"')[1])
    assert await db.fetchval("SELECT name FROM rounds WHERE id = 'r1'") == "Autumn PE"
    # What an open round's form sends: the name and the closing time.
    answer = await post(console, "/admin/rounds/r1/edit", {"name": "Renamed", "closes_at": "2026-09-05T20:00"})
    assert answer.status_code == 303, answer.text
    row = await db.fetchrow("SELECT name, closes_at, limits FROM rounds WHERE id = 'r1'")
    assert row is not None
    assert (row["name"], row["closes_at"]) == ("Renamed", dt.datetime(2026, 9, 5, 12, 0, tzinfo=dt.UTC))
    assert json.loads(row["limits"]) == {"pe": 1}


async def test_open_pause_and_close_with_a_confirmation(console: Client, db: asyncpg.Connection) -> None:
    await create(console)
    page = (await console.get("/admin/rounds/r1")).text
    assert 'action="/admin/rounds/r1/open"' in page
    assert 'action="/admin/rounds/r1/pause"' not in page
    assert (await post(console, "/admin/rounds/r1/open", {})).status_code == 303
    assert "The round is open." in text_of((await console.get("/admin/rounds/r1")).text)
    assert (await post(console, "/admin/rounds/r1/pause", {})).status_code == 303
    assert await db.fetchval("SELECT state FROM rounds WHERE id = 'r1'") == "paused"
    # Close asks first: without the confirmation it sends to the question.
    unasked = await post(console, "/admin/rounds/r1/close", {})
    assert (unasked.status_code, unasked.headers["location"]) == (303, "/admin/rounds/r1/close")
    assert await db.fetchval("SELECT state FROM rounds WHERE id = 'r1'") == "paused"
    question = await console.get("/admin/rounds/r1/close")
    assert "Closing it is for good" in text_of(question.text)
    assert 'name="confirm" value="yes"' in question.text
    assert (await post(console, "/admin/rounds/r1/close", {"confirm": "yes"})).status_code == 303
    assert await db.fetchval("SELECT state FROM rounds WHERE id = 'r1'") == "closed"
    actions = await db.fetch("SELECT action FROM audit_events WHERE round_id = 'r1' ORDER BY id")
    assert [r["action"] for r in actions] == ["round.create", "round.open", "round.pause", "round.close"]


async def test_the_fair_start_seed_is_shown_once_the_round_has_opened(console: Client, db: asyncpg.Connection) -> None:
    await create(console, fair_start_seconds="5")
    assert "Fair-start seed" not in text_of((await console.get("/admin/rounds/r1")).text)
    await post(console, "/admin/rounds/r1/open", {})
    seed = await db.fetchval("SELECT fair_start_seed FROM rounds WHERE id = 'r1'")
    page = text_of((await console.get("/admin/rounds/r1")).text)
    assert f"Fair-start seed {seed}" in page


async def test_an_invalid_transition_is_said_in_words(console: Client, db: asyncpg.Connection) -> None:
    await create(console)
    await post(console, "/admin/rounds/r1/open", {})
    await post(console, "/admin/rounds/r1/close", {"confirm": "yes"})
    again = await post(console, "/admin/rounds/r1/open", {})
    assert again.status_code == 409
    assert "This round is Closed: only a draft or a paused round can be opened." in text_of(again.text)
    in_chinese = await post(console, "/admin/rounds/r1/pause", {}, headers=ZH)
    assert in_chinese.status_code == 409
    assert "只有进行中的轮次才能暂停" in text_of(in_chinese.text)
    # A round that continues one not closed yet: that is said too.
    await add_round(db, "before", ["swim"], state="open")
    await create(console, id="after", continues="before", offering_ids=["swim"])
    blocked = await post(console, "/admin/rounds/after/open", {})
    assert blocked.status_code == 409
    assert "This round continues round before, which must be closed" in text_of(blocked.text)


async def _full_swim_with_one_waiting(console: Client, db: asyncpg.Connection) -> None:
    """Round r1 open with a waitlist: s1 holds swim's only seat, s2 waits for it."""
    await create(console, waitlist="1")
    await post(console, "/admin/rounds/r1/open", {})
    for student, waitlist in (("s1", False), ("s2", True)):
        answer = await console.post(
            "/api/v1/rounds/r1/selections",
            json={"offering_id": "swim", "waitlist": waitlist},
            headers=bearer(student),
        )
        assert answer.status_code == (202 if waitlist else 201), answer.text
    assert await db.fetchval("SELECT status FROM selections WHERE student_id = 's2'") == "waitlisted"


async def test_a_capacity_raise_inline_promotes_and_says_how_many(console: Client, db: asyncpg.Connection) -> None:
    await _full_swim_with_one_waiting(console, db)
    page = (await console.get("/admin/rounds/r1")).text
    assert 'hx-post="/admin/rounds/r1/capacity/swim"' in page
    token = csrf_of(page)
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    raised = await console.post("/admin/rounds/r1/capacity/swim", data={"capacity": "2"}, headers=htmx)
    assert raised.status_code == 200, raised.text
    assert raised.text.lstrip().startswith("<tr")
    assert "Capacity is now 2; 1 waiting student got a seat." in text_of(raised.text)
    assert await db.fetchval("SELECT status FROM selections WHERE student_id = 's2'") == "enrolled"
    assert await db.fetchval("SELECT capacity FROM offerings WHERE id = 'swim'") == 2
    # A cut below the students enrolled: refused in words, in the row, nothing changed.
    cut = await console.post("/admin/rounds/r1/capacity/swim", data={"capacity": "1"}, headers=htmx)
    assert cut.status_code == 409
    assert "2 students are enrolled already: the capacity cannot go below that." in text_of(cut.text)
    assert 'aria-invalid="true"' in cut.text
    assert 'value="1"' in cut.text
    assert await db.fetchval("SELECT capacity FROM offerings WHERE id = 'swim'") == 2
    bad = await console.post("/admin/rounds/r1/capacity/swim", data={"capacity": "lots"}, headers=htmx)
    assert bad.status_code == 400
    assert "Type a whole number of seats" in text_of(bad.text)
    # Without htmx (no JavaScript) the same form goes back to the round's page.
    plain = await post(console, "/admin/rounds/r1/capacity/run", {"capacity": "3"})
    assert (plain.status_code, plain.headers["location"]) == (303, "/admin/rounds/r1")
    assert "Capacity is now 3." in text_of((await console.get("/admin/rounds/r1")).text)


async def test_force_enroll_with_and_without_the_override(console: Client, db: asyncpg.Connection) -> None:
    await create(console)
    await post(console, "/admin/rounds/r1/open", {})
    first = await post(console, "/admin/rounds/r1/force-enroll", {"student_id": "s1", "offering_id": "swim"})
    assert first.status_code == 303, first.text
    assert "the audit log records it as force_enroll." in text_of((await console.get("/admin/rounds/r1")).text)
    full = await post(console, "/admin/rounds/r1/force-enroll", {"student_id": "s2", "offering_id": "swim"})
    assert full.status_code == 409
    assert "No seat is left (capacity 1). To enroll the student anyway, tick the override." in text_of(full.text)
    assert 'value="s2"' in full.text  # the form keeps what was typed
    forced = await post(
        console, "/admin/rounds/r1/force-enroll", {"student_id": "s2", "offering_id": "swim", "override": "1"}
    )
    assert forced.status_code == 303
    assert "force_enroll_override" in text_of((await console.get("/admin/rounds/r1")).text)
    audited = await db.fetch(
        "SELECT student_id, action, actor FROM audit_events WHERE action LIKE 'force%' ORDER BY id"
    )
    assert [tuple(r) for r in audited] == [("s1", "force_enroll", "admin"), ("s2", "force_enroll_override", "admin")]
    assert await db.fetchval("SELECT count(*) FROM selections WHERE offering_id = 'swim' AND status = 'enrolled'") == 2
    nobody = await post(console, "/admin/rounds/r1/force-enroll", {"student_id": "s9", "offering_id": "swim"})
    assert nobody.status_code == 404
    assert "There is no student with the id s9." in text_of(nobody.text)


async def test_force_drop(console: Client, db: asyncpg.Connection) -> None:
    await create(console)
    await post(console, "/admin/rounds/r1/force-enroll", {"student_id": "s1", "offering_id": "run"})
    dropped = await post(console, "/admin/rounds/r1/force-drop", {"student_id": "s1", "offering_id": "run"})
    assert dropped.status_code == 303
    assert "the audit log records it as force_drop" in text_of((await console.get("/admin/rounds/r1")).text)
    assert await db.fetchval("SELECT status FROM selections WHERE student_id = 's1'") == "dropped"
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'force_drop'") == 1
    again = await post(console, "/admin/rounds/r1/force-drop", {"student_id": "s1", "offering_id": "run"})
    assert again.status_code == 404
    assert "s1 holds no seat or waitlist place in run in this round." in text_of(again.text)


async def test_the_roster_downloads_are_the_apis_export(console: Client) -> None:
    await create(console, waitlist="1")
    for student in ("s1", "s2"):
        await post(console, "/admin/rounds/r1/force-enroll", {"student_id": student, "offering_id": "run"})
    admin = bearer("admin-1", "admin")
    for kind in ("csv", "json"):
        download = await console.get(f"/admin/rounds/r1/enrollments.{kind}")
        assert download.status_code == 200
        assert download.headers["content-disposition"] == f'attachment; filename="r1-enrollments.{kind}"'
        api = await console.get(f"/api/v1/admin/rounds/r1/enrollments?format={kind}", headers=admin)
        assert download.content == api.content
    csv_lines = (await console.get("/admin/rounds/r1/enrollments.csv")).text.splitlines()
    assert csv_lines[0] == "round_id,offering_id,student_id,status,position,created_at"
    assert [line.split(",")[2] for line in csv_lines[1:]] == ["s1", "s2"]
    rows = (await console.get("/admin/rounds/r1/enrollments.json")).json()
    assert [(r["student_id"], r["status"]) for r in rows] == [("s1", "enrolled"), ("s2", "enrolled")]
    assert (await console.get("/admin/rounds/nope/enrollments.csv")).status_code == 404


async def test_the_offerings_catalog_searches_and_edits(console: Client, db: asyncpg.Connection) -> None:
    await add_round(db, "r-open", ["swim"], state="open")
    await announce(console, "r-open")
    listed = await console.get("/admin/offerings")
    assert listed.status_code == 200
    assert all(f'data-offering="{o}"' in listed.text for o in ("swim", "run", "clay"))
    await db.execute("UPDATE offerings SET title_zh = '陶艺' WHERE id = 'clay'")
    chinese = await console.get("/admin/offerings?q=陶艺")
    assert '<span lang="zh-Hans" class="title-zh">陶艺</span>' in chinese.text
    assert 'data-offering="swim"' not in chinese.text
    found = await console.get("/admin/offerings?q=CLA")
    assert 'data-offering="clay"' in found.text
    assert 'data-offering="swim"' not in found.text
    assert "1 of 3 offerings" in text_of(found.text)
    form = await console.get("/admin/offerings/swim")
    assert 'value="swim title"' in form.text
    assert 'name="title_zh"' in form.text
    fields = {
        "title": "Swimming",
        "title_zh": "游泳",
        "teacher": "Ms Li",
        "campus": "",
        "description": "",
        "capacity": "5",
    }
    saved = await post(console, "/admin/offerings/swim", fields)
    assert (saved.status_code, saved.headers["location"]) == (303, "/admin/offerings?q=swim")
    row = await db.fetchrow("SELECT title, title_zh, teacher, campus, capacity FROM offerings WHERE id = 'swim'")
    assert row is not None
    assert tuple(row) == ("Swimming", "游泳", "Ms Li", None, 5)
    assert "Offering swim was saved." in text_of((await console.get("/admin/offerings?q=swim")).text)
    # The round's page in Chinese shows the Chinese title.
    round_page = await console.get("/admin/rounds/r-open", headers=ZH)
    assert '<span lang="zh-Hans">游泳</span>' in round_page.text
    # A cut below those enrolled in a round: in words, beside the capacity.
    for student in ("s1", "s2"):
        enrolled = await post(
            console, "/admin/rounds/r-open/force-enroll", {"student_id": student, "offering_id": "swim"}
        )
        assert enrolled.status_code == 303
    cut = await post(console, "/admin/offerings/swim", fields | {"capacity": "1"})
    assert cut.status_code == 409, cut.text
    assert "2 students are enrolled already" in text_of(cut.text.split('id="capacity-error">')[1])
    blank = await post(console, "/admin/offerings/swim", fields | {"title": ""})
    assert blank.status_code == 400
    assert 'id="title-error"' in blank.text


async def test_unknown_round_and_offering_are_not_found_pages(console: Client) -> None:
    for path in ("/admin/rounds/nope", "/admin/rounds/nope/edit", "/admin/offerings/nope", "/admin/rounds/bad%20id"):
        answer = await console.get(path)
        assert answer.status_code == 404, path
        assert "There is no such page." in answer.text


async def test_a_student_gets_403_everywhere_in_the_console(
    settings: Settings, db: asyncpg.Connection, page_student: Callable[[], Any]
) -> None:
    client = await page_student()
    await add_round(db, "r1", ["swim"], state="draft")
    token = csrf_of((await client.get("/")).text)
    for path in (
        "/admin",
        "/admin/rounds/new",
        "/admin/rounds/r1",
        "/admin/offerings",
        "/admin/rounds/r1/enrollments.csv",
    ):
        answer = await client.get(path)
        assert answer.status_code == 403, path
        assert "This page is for the administrators" in answer.text
    for path, form in (
        ("/admin/rounds/new", round_form(id="r2")),
        ("/admin/rounds/r1/open", {}),
        ("/admin/rounds/r1/force-enroll", {"student_id": "s1", "offering_id": "swim", "override": "1"}),
        ("/admin/rounds/r1/capacity/swim", {"capacity": "9"}),
    ):
        answer = await client.post(path, data={"_csrf_token": token, **form})
        assert answer.status_code == 403, path
    assert await db.fetchval("SELECT state FROM rounds WHERE id = 'r1'") == "draft"
    assert await db.fetchval("SELECT count(*) FROM rounds") == 1
    assert await db.fetchval("SELECT capacity FROM offerings WHERE id = 'swim'") == 1


@pytest.fixture
async def page_student(settings: Settings, db: asyncpg.Connection) -> AsyncIterator[Callable[[], Any]]:
    """A client signed in as student s1 (the development sign-in)."""
    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=1)
    fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
    async with AsyncTestClient(app=create_app(Settings(**{**fields, "dev_sign_in": True}))) as client:

        async def signed() -> Client:
            page = await client.get("/dev/sign-in")
            answer = await client.post("/dev/sign-in", data={"_csrf_token": csrf_of(page.text), "student": "s1"})
            assert answer.status_code == 200
            return client

        yield signed
