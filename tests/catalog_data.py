"""Catalog data for the administrators' route tests, and checks every problem answer must pass."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
ADMIN = "/api/v1/admin"


def student(sid: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "name": f"Name {sid}",
        "cohort": 2024,
        "degree": "master",
        "campus": "north",
        "college": "sci",
    } | fields


def offering(oid: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "title": f"Title {oid}",
        "category": "pe",
        "kind": "course",
        "capacity": 30,
        "teacher": None,
        "campus": None,
        "schedule": [],
        "eligibility": {"cohorts": [], "degrees": [], "campuses": []},
        "description": None,
    } | fields


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is RFC 9457 problem details with the contract's status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str), body
        assert body[member], body
    return body


async def put_offerings(client: Client, headers: dict[str, str], *offerings: dict[str, Any]) -> None:
    response = await client.put(f"{ADMIN}/offerings", json=list(offerings), headers=headers)
    assert response.status_code == 200, response.text


async def create_round(
    client: Client, headers: dict[str, str], round_id: str, offering_ids: list[str], **fields: Any
) -> dict[str, Any]:
    body = {"id": round_id, "name": f"Round {round_id}", "offering_ids": offering_ids} | fields
    response = await client.post(f"{ADMIN}/rounds", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
