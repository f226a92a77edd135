"""CSV imports of students and offerings: RFC 4180, UTF-8, all or nothing, faults named by row and field."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

import asyncpg
import pytest

from tests.catalog_data import ADMIN, Client, assert_problem

STUDENTS = f"{ADMIN}/students/import"
OFFERINGS = f"{ADMIN}/offerings/import"
STUDENT_HEADER = "id,name,cohort,degree,campus,college"
OFFERING_HEADER = "id,title,category,kind,capacity,teacher,campus,schedule,cohorts,degrees,campuses,description"


def csv_headers(admin: dict[str, str], media: str = "text/csv") -> dict[str, str]:
    return {**admin, "content-type": media}


async def post_csv(client: Client, admin: dict[str, str], url: str, text: str | bytes) -> Any:
    body = text.encode() if isinstance(text, str) else text
    return await client.post(url, content=body, headers=csv_headers(admin))


def lines(*rows: str) -> str:
    return "\r\n".join(rows) + "\r\n"


async def students_in(db: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await db.fetch("SELECT id, name, cohort, degree, campus, college FROM students ORDER BY id")
    return [tuple(r) for r in rows]


async def test_students_with_bom_and_quoted_fields(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    text = lines(
        STUDENT_HEADER,
        's1,"Wang, Fang",2022,master,north,"College of ""Arts"""',
        's2,"Two\nLines",2023,phd,south,sci',
        "s3,  Padded  ,2024,master,north,eng",
    )
    response = await post_csv(client, admin, STUDENTS, b"\xef\xbb\xbf" + text.encode())
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 3}
    assert await students_in(db) == [
        ("s1", "Wang, Fang", 2022, "master", "north", 'College of "Arts"'),
        ("s2", "Two\nLines", 2023, "phd", "south", "sci"),
        ("s3", "Padded", 2024, "master", "north", "eng"),
    ]
    events = await db.fetch("SELECT action, detail FROM audit_events")
    assert [e["action"] for e in events] == ["students.import"]
    assert "3" in events[0]["detail"]


async def test_columns_in_any_order_lf_endings_and_application_csv(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    text = "college,campus,degree,cohort,name,id\nsci,north,master,2024,Ann,s1\n\n"
    response = await client.post(STUDENTS, content=text.encode(), headers=csv_headers(admin, "application/csv"))
    assert response.json() == {"upserted": 1}
    assert await students_in(db) == [("s1", "Ann", 2024, "master", "north", "sci")]
    again = await client.post(STUDENTS, content=text.encode(), headers=csv_headers(admin, "text/csv; charset=utf-8"))
    assert again.json() == {"upserted": 1}
    assert await db.fetchval("SELECT count(*) FROM students") == 1


async def test_header_only_imports_nothing(client: Client, admin: dict[str, str]) -> None:
    response = await post_csv(client, admin, STUDENTS, lines(STUDENT_HEADER))
    assert response.json() == {"upserted": 0}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("s3,Name,twenty,master,north,sci", "cohort"),
        ("s3,Name,2024,bachelor,north,sci", "degree"),
        ("bad id,Name,2024,master,north,sci", "id"),
        ("s3,,2024,master,north,sci", "name"),
        ("s1,Again,2024,master,north,sci", "id"),
        ("s3,Name,2024,master", "campus"),
        ("s3,Name,2024,master,north,sci,extra", "college"),
    ],
    ids=["cohort", "degree", "id", "empty name", "repeated id", "short row", "long row"],
)
async def test_bad_row_in_the_middle_writes_nothing(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, row: str, field: str
) -> None:
    text = lines(
        STUDENT_HEADER,
        "s1,One,2024,master,north,sci",
        "s2,Two,2024,master,north,sci",
        row,
        "s4,Four,2024,master,north,sci",
    )
    problem = assert_problem(await post_csv(client, admin, STUDENTS, text), 400, "validation_error")
    assert (problem["row"], problem["field"]) == (3, field)
    assert "3" in problem["detail"]
    assert field in problem["detail"]
    assert await db.fetchval("SELECT count(*) FROM students") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_row_numbers_count_records_not_lines(client: Client, admin: dict[str, str]) -> None:
    text = lines(STUDENT_HEADER, 's1,"Multi\nline",2024,master,north,sci', "s2,Two,x,master,north,sci")
    problem = assert_problem(await post_csv(client, admin, STUDENTS, text), 400, "validation_error")
    assert (problem["row"], problem["field"]) == (2, "cohort")


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("id,name,cohort,degree,campus", "college"),
        ("id,name,cohort,degree,campus,college,shoe_size", "shoe_size"),
        ("id,name,cohort,degree,campus,college,name", "name"),
        ("", "id"),
    ],
    ids=["missing column", "unknown column", "repeated column", "empty"],
)
async def test_bad_header(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, header: str, field: str
) -> None:
    problem = assert_problem(await post_csv(client, admin, STUDENTS, lines(header)), 400, "validation_error")
    assert (problem["row"], problem["field"]) == (0, field)
    assert field in problem["detail"]


async def test_not_utf8(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    text = lines(STUDENT_HEADER, "s1,Ann,2024,master,north,sci").encode() + "s2,Zoë,2024,master,north,sci\r\n".encode(
        "latin-1"
    )
    problem = assert_problem(await post_csv(client, admin, STUDENTS, text), 400, "validation_error")
    assert "UTF-8" in problem["detail"]
    assert await db.fetchval("SELECT count(*) FROM students") == 0


async def test_csv_routes_want_csv(client: Client, admin: dict[str, str]) -> None:
    for url in (STUDENTS, OFFERINGS):
        for media in ("application/json", "text/plain", "text/csv; charset=latin-1"):
            response = await client.post(url, content=b"id\r\n", headers=csv_headers(admin, media))
            assert_problem(response, 415, "unsupported_media_type")
        assert_problem(await client.post(url, content=b"id\r\n", headers=admin), 415, "unsupported_media_type")


async def test_offerings_every_column(client: Client, admin: dict[str, str]) -> None:
    text = lines(
        OFFERING_HEADER,
        'swim,"Swimming, beginners",pe,course,40,Li Wei,north,mon 14:00-15:40;2026-12-05 09:00-11:00,'
        '2022;2023,master,north;south,"Bring a cap; and goggles"',
        "clay,Ceramics,arts,activity,12,,,,,,,",
    )
    response = await post_csv(client, admin, OFFERINGS, text)
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 2}
    swim = (await client.patch(f"{ADMIN}/offerings/swim", json={}, headers=admin)).json()
    assert swim == {
        "id": "swim",
        "title": "Swimming, beginners",
        "category": "pe",
        "kind": "course",
        "capacity": 40,
        "teacher": "Li Wei",
        "campus": "north",
        "schedule": [
            {"start": "14:00", "end": "15:40", "day": "mon", "date": None},
            {"start": "09:00", "end": "11:00", "day": None, "date": "2026-12-05"},
        ],
        "eligibility": {"cohorts": [2022, 2023], "degrees": ["master"], "campuses": ["north", "south"]},
        "description": "Bring a cap; and goggles",
    }
    clay = (await client.patch(f"{ADMIN}/offerings/clay", json={}, headers=admin)).json()
    assert clay["teacher"] is None
    assert clay["description"] is None
    assert clay["schedule"] == []
    assert clay["eligibility"] == {"cohorts": [], "degrees": [], "campuses": []}


async def test_offerings_optional_columns_may_be_left_out(client: Client, admin: dict[str, str]) -> None:
    response = await post_csv(client, admin, OFFERINGS, lines("id,title,category,kind,capacity", "o1,T,pe,course,5"))
    assert response.json() == {"upserted": 1}


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"capacity": "-1"}, "capacity"),
        ({"capacity": ""}, "capacity"),
        ({"category": "music"}, "category"),
        ({"schedule": "monday 14:00-15:40"}, "schedule"),
        ({"schedule": "mon 15:40-14:00"}, "schedule"),
        ({"schedule": "mon 14:00"}, "schedule"),
        ({"schedule": "2026-02-30 09:00-10:00"}, "schedule"),
        ({"cohorts": "2022;twenty"}, "cohorts"),
        ({"degrees": "master;bachelor"}, "degrees"),
    ],
)
async def test_bad_offering_cell(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, cells: dict[str, str], field: str
) -> None:
    good = {
        "id": "o",
        "title": "T",
        "category": "pe",
        "kind": "course",
        "capacity": "5",
        "teacher": "",
        "campus": "",
        "schedule": "",
        "cohorts": "",
        "degrees": "",
        "campuses": "",
        "description": "",
    }
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(good))
    writer.writeheader()
    writer.writerow(good | {"id": "o1"})
    writer.writerow(good | {"id": "o2"} | cells)
    problem = assert_problem(await post_csv(client, admin, OFFERINGS, buffer.getvalue()), 400, "validation_error")
    assert (problem["row"], problem["field"]) == (2, field)
    assert await db.fetchval("SELECT count(*) FROM offerings") == 0


def cohort_csv(count: int) -> str:
    """A cohort like the real one: ids, names with commas and quotes, every degree and campus."""
    chooser = random.Random(7)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(STUDENT_HEADER.split(","))
    for i in range(count):
        writer.writerow(
            [
                f"2024{i:06d}",
                f'Student "{i}", of {chooser.choice(["Beijing", "Shanghai", "Zhuhai"])}',
                chooser.choice([2022, 2023, 2024, 2025]),
                chooser.choice(["master", "master", "phd"]),
                chooser.choice(["north", "south", "east"]),
                chooser.choice(["sci", "eng", "arts", "law", "med"]),
            ]
        )
    return buffer.getvalue()


async def test_full_cohort_imports(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    text = "\ufeff" + cohort_csv(7_390)
    response = await post_csv(client, admin, STUDENTS, text)
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 7_390}
    assert await db.fetchval("SELECT count(*) FROM students") == 7_390
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 1
    again = await post_csv(client, admin, STUDENTS, text)
    assert again.json() == {"upserted": 7_390}
    assert await db.fetchval("SELECT count(*) FROM students") == 7_390
