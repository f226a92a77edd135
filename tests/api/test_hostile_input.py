"""Input PostgreSQL would refuse is refused at the edge: a 400 naming the field, never a 500, and
nothing written."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.catalog_data import ADMIN, Client, assert_problem, offering, student

NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/students", [student("s1", name=NUL)], "name"),
        ("/students", [student("s1\n")], "id"),
        ("/students", [student("s1", college=NUL)], "college"),
        ("/offerings", [offering("o1", title=NUL)], "title"),
        ("/offerings", [offering("o1", teacher=NUL)], "teacher"),
        ("/offerings", [offering("o1", description=NUL)], "description"),
        ("/offerings", [offering("o1", eligibility={"campuses": [NUL]})], "eligibility"),
        ("/offerings", [offering("o1", eligibility={"cohorts": [2**40]})], "eligibility"),
        ("/offerings", [offering("o1", capacity=2**40)], "capacity"),
    ],
)
async def test_a_bulk_upsert_with_text_or_numbers_postgresql_refuses_is_a_400(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, path: str, body: list[dict[str, Any]], field: str
) -> None:
    response = await client.put(ADMIN + path, json=body, headers=admin)
    problem = assert_problem(response, 400, "validation_error")
    assert problem.get("field") == field, problem
    assert await db.fetchval("SELECT count(*) FROM students") == 0
    assert await db.fetchval("SELECT count(*) FROM offerings") == 0


async def test_a_round_name_with_a_nul_is_a_400(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    response = await client.post(f"{ADMIN}/rounds", json={"id": "r1", "name": NUL, "offering_ids": []}, headers=admin)
    assert_problem(response, 400, "validation_error")
    assert await db.fetchval("SELECT count(*) FROM rounds") == 0


async def test_a_csv_row_with_a_nul_is_a_400_naming_the_row(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    csv = "id,name,cohort,degree,campus,college\r\ns1,Ann,2024,master,north,sci\r\ns2,B\u0000b,2024,phd,north,sci\r\n"
    response = await client.post(
        f"{ADMIN}/students/import", content=csv.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    problem = assert_problem(response, 400, "validation_error")
    assert (problem.get("row"), problem.get("field")) == (2, "name"), problem
    assert await db.fetchval("SELECT count(*) FROM students") == 0


async def test_a_path_id_with_a_trailing_newline_is_a_400(client: Client, admin: dict[str, str]) -> None:
    response = await client.get(f"{ADMIN}/rounds/r1%0A", headers=admin)
    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize("before", [str(2**63), "99999999999999999999999"])
async def test_an_audit_page_before_an_id_out_of_range_is_a_400(
    client: Client, admin: dict[str, str], before: str
) -> None:
    response = await client.get(f"{ADMIN}/audit?before={before}", headers=admin)
    assert_problem(response, 400, "validation_error")
