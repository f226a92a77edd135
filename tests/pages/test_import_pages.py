"""The console's CSV import in process: upload, preview, confirm, for students and offerings, in
UTF-8 (with and without a BOM) and GBK, with bad rows listed (all of them), a missing column, a
file in neither encoding, an expired preview, CSRF on the upload, and a student's 403."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from html import unescape

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from courses import csv_import
from lib import errors
from lib.settings import Settings
from selection.web.app import create_app
from tests.builders import add_students
from tests.pages.test_pages import csrf_of, dev_sign_in, page_settings

__all__ = ["page_settings"]
Client = AsyncTestClient[Litestar]

STUDENTS_HEADER = "id,name,cohort,degree,campus,college\r\n"
GOOD_STUDENTS = STUDENTS_HEADER + "s10,张伟,2024,master,北校区,理学院\r\ns11,李娜,2025,phd,南校区,文学院\r\n"
OFFERINGS = (
    "id,title,title_zh,category,kind,capacity,teacher,schedule,degrees\r\n"
    "pe-swim,Swimming,游泳,pe,course,30,王老师,mon 14:00-15:40,master;phd\r\n"
    "arts-ink,Ink painting,水墨画,arts,activity,12,,2026-12-05 09:00-11:00,\r\n"
)


@pytest.fixture
async def import_client(page_settings: Callable[..., Settings], db: asyncpg.Connection) -> AsyncIterator[Client]:
    await add_students(db, "s1")
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True))) as client:
        await dev_sign_in(client, **{"as": "admin"})
        yield client


async def upload(client: Client, kind: str, body: bytes, name: str = "list.csv") -> tuple[int, str]:
    form = await client.get("/admin/import")
    assert form.status_code == 200, form.text
    answer = await client.post(
        "/admin/import",
        data={"_csrf_token": csrf_of(form.text), "kind": kind},
        files={"file": (name, body, "text/csv")},
    )
    return answer.status_code, answer.text


async def confirm(client: Client, preview: str) -> tuple[int, str]:
    token = re.search(r'name="token" value="([^"]+)"', preview)
    assert token, preview
    answer = await client.post("/admin/import/confirm", data={"_csrf_token": csrf_of(preview), "token": token[1]})
    return answer.status_code, answer.text


def problems(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-row="(\d+)" data-field="([^"]*)">', page)


@pytest.mark.parametrize(
    ("encoding", "body", "shown"),
    [
        ("gbk", GOOD_STUDENTS.encode("gbk"), "GB18030"),
        ("utf-8", GOOD_STUDENTS.encode("utf-8"), "UTF-8"),
        ("utf-8 with a BOM", GOOD_STUDENTS.encode("utf-8-sig"), "UTF-8 (BOM)"),
    ],
)
async def test_students_preview_then_import_in_each_encoding(
    import_client: Client, db: asyncpg.Connection, encoding: str, body: bytes, shown: str
) -> None:
    status, preview = await upload(import_client, "students", body)
    assert status == 200, preview
    assert f"Detected encoding: {shown}" in preview
    assert problems(preview) == []
    assert "<td>张伟</td>" in preview
    assert "<td>北校区</td>" in preview
    assert "2 new, 0 changed, 0 unchanged" in preview
    assert await db.fetchval("SELECT count(*) FROM students WHERE id IN ('s10', 's11')") == 0  # nothing yet
    status, done = await confirm(import_client, preview)
    assert status == 200, done
    assert "Students imported: 2." in done
    rows = await db.fetch("SELECT id, name, campus FROM students WHERE id IN ('s10', 's11') ORDER BY id")
    assert [tuple(r) for r in rows] == [("s10", "张伟", "北校区"), ("s11", "李娜", "南校区")]
    audit = await db.fetchrow("SELECT actor, action, detail FROM audit_events WHERE action = 'students.import'")
    assert audit is not None
    assert tuple(audit) == ("admin", "students.import", "2 students upserted")
    # The same file again: nothing new, nothing changed.
    _, again = await upload(import_client, "students", body)
    assert "0 new, 0 changed, 2 unchanged" in again


async def test_offerings_in_gbk_with_every_bad_row_listed_then_fixed(
    import_client: Client, db: asyncpg.Connection
) -> None:
    bad = OFFERINGS + (
        "pe-run,Running,跑步,sport,course,20,,,\r\n"  # row 3: no such category
        "pe-swim,Swimming 2,游泳二,pe,course,10,,,\r\n"  # row 4: the id of row 1 again
        "pe-yoga,Yoga,瑜伽,pe,course,many,,,\r\n"  # row 5: capacity is no number
        "pe-gym,Gym,健身,pe,course,5,,someday 9-10,\r\n"  # row 6: a schedule it cannot read
        "pe-row,Rowing,赛艇,pe,course\r\n"  # row 7: too few fields
        "pe-box,Boxing,拳击,pe,course,8,,,\r\n"
    )
    status, preview = await upload(import_client, "offerings", bad.encode("gbk"), name="课程.csv")
    assert status == 200, preview
    assert "Detected encoding: GB18030" in preview
    assert problems(preview) == [
        ("3", "category"),
        ("4", "id"),
        ("5", "capacity"),
        ("6", "schedule"),
        ("7", "capacity"),
    ]
    assert "Problems found: 5." in preview
    text = unescape(preview)
    assert "This ID is already on an earlier row of the file." in text
    assert "The row does not have as many fields as the header." in text
    assert "<code>many</code>" in text
    assert "File: 课程.csv" in text
    assert 'action="/admin/import/confirm"' not in preview  # nothing to confirm
    # The preview's good rows are shown as they would be stored.
    assert "<td>游泳</td>" in text
    assert "<td>mon 14:00-15:40</td>" in text
    assert "<td>degrees: master; phd</td>" in text
    # Fixed: the good file imports exactly what was previewed.
    status, preview = await upload(import_client, "offerings", OFFERINGS.encode("gbk"))
    assert problems(preview) == []
    assert "2 new, 0 changed, 0 unchanged" in preview
    status, done = await confirm(import_client, preview)
    assert status == 200, done
    assert "Offerings imported: 2." in done
    row = await db.fetchrow("SELECT title, title_zh, teacher, capacity FROM offerings WHERE id = 'pe-swim'")
    assert row is not None
    assert tuple(row) == ("Swimming", "游泳", "王老师", 30)
    changed = OFFERINGS.replace("游泳,pe,course,30", "游泳,pe,course,31")
    _, preview = await upload(import_client, "offerings", changed.encode("utf-8"))
    assert "0 new, 1 changed, 1 unchanged" in preview


async def test_a_missing_column_is_named_and_rows_are_not_guessed(import_client: Client) -> None:
    body = "id,name,cohort,degree,college\r\ns12,王芳,2024,master,理学院\r\n"
    status, preview = await upload(import_client, "students", body.encode("utf-8"))
    assert status == 200
    assert problems(preview) == [("0", "campus")]
    assert "This required column is missing." in preview
    assert ">Header<" in preview
    status, preview = await upload(import_client, "students", (STUDENTS_HEADER.replace("college", "school")).encode())
    assert problems(preview) == [("0", "school"), ("0", "college")]


async def test_a_file_in_neither_encoding_is_refused_in_words(import_client: Client) -> None:
    for body in (GOOD_STUDENTS.encode("utf-16"), b"id,name\r\n\xff\xfe\xfd,x\r\n", b""):
        status, page = await upload(import_client, "students", body)
        assert status == 400, page
        assert "Detected encoding" not in page
    _, page = await upload(import_client, "students", GOOD_STUDENTS.encode("utf-16"))
    assert "neither UTF-8 nor GB18030" in page
    _, page = await upload(import_client, "students", b"id,name\r\n\xff\xfe\xfd,x\r\n")
    assert "on line 2" in page


async def test_a_preview_is_confirmed_once_by_its_uploader_and_the_upload_needs_the_csrf_token(
    import_client: Client, db: asyncpg.Connection
) -> None:
    _, preview = await upload(import_client, "students", GOOD_STUDENTS.encode())
    assert (await confirm(import_client, preview))[0] == 200
    status, page = await confirm(import_client, preview)  # spent
    assert status == 400
    assert "This preview is no longer kept" in page
    form = await import_client.get("/admin/import")
    tampered = await import_client.post(
        "/admin/import/confirm", data={"_csrf_token": csrf_of(form.text), "token": "made-up"}
    )
    assert tampered.status_code == 400
    # The upload without the form's token: refused before it is read.
    bare = await import_client.post(
        "/admin/import", data={"kind": "students"}, files={"file": ("a.csv", GOOD_STUDENTS.encode(), "text/csv")}
    )
    assert bare.status_code == 403
    assert "security token" in bare.text
    # No kind, no file.
    answer = await import_client.post(
        "/admin/import", data={"_csrf_token": csrf_of(form.text)}, files={"file": ("a.csv", b"x", "text/csv")}
    )
    assert answer.status_code == 400
    assert "Choose what the file holds" in answer.text


async def test_a_student_gets_403(page_settings: Callable[..., Settings], db: asyncpg.Connection) -> None:
    await add_students(db, "s1")
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True))) as client:
        await dev_sign_in(client, student="s1")
        assert (await client.get("/admin/import")).status_code == 403
        page = await client.get("/")
        answer = await client.post(
            "/admin/import",
            data={"_csrf_token": csrf_of(page.text), "kind": "students"},
            files={"file": ("a.csv", GOOD_STUDENTS.encode(), "text/csv")},
        )
        assert answer.status_code == 403
        assert await db.fetchval("SELECT count(*) FROM students") == 1


def test_the_preview_parser_keeps_the_apis_rules_and_its_first_error() -> None:
    body = (STUDENTS_HEADER + "s1,a,2024,master,n,c\r\ns2,b,1800,master,n,c\r\ns1,c,2024,nobody,n,c\r\n").encode()
    checked = csv_import.check(body, csv_import.STUDENTS)
    assert [(p.row, p.field, p.kind) for p in checked.problems] == [
        (2, "cohort", "bad_value"),
        (3, "degree", "bad_value"),
    ]
    with pytest.raises(errors.ValidationFailed) as first:
        csv_import.parse(body, csv_import.STUDENTS)
    assert getattr(first.value, "extra", None) == {"row": 2, "field": "cohort"}
    # The API stays UTF-8 only.
    with pytest.raises(errors.ValidationFailed, match="not UTF-8"):
        csv_import.parse(GOOD_STUDENTS.encode("gbk"), csv_import.STUDENTS)
    assert csv_import.decode(GOOD_STUDENTS.encode("gbk"))[1] == csv_import.GB18030
