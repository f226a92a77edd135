"""The app stands up: operations routes, problem details for framework errors, auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import JWT_SECRET, bearer

Client = AsyncTestClient[Litestar]


async def test_health_and_ready(client: Client) -> None:
    assert (await client.get("/health")).status_code == 200
    response = await client.get("/ready")
    assert response.status_code == 200, response.text


async def test_unknown_path_is_problem_json(client: Client) -> None:
    response = await client.get("/api/v1/nowhere", headers=bearer("admin-1", "admin"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert {"type", "title", "detail"} <= body.keys()


async def test_openapi_document_is_public(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Course selection"


async def test_metrics_are_prometheus_text(client: Client) -> None:
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "selection_requests_total" in response.text or "# HELP" in response.text


def _token(**claims: object) -> str:
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


BAD_TOKENS = {
    "expired": _token(sub="admin-1", role="admin", exp=datetime.now(UTC) - timedelta(minutes=1)),
    "no exp": _token(sub="admin-1", role="admin"),
    "wrong secret": jwt.encode(
        {"sub": "admin-1", "role": "admin", "exp": datetime.now(UTC) + timedelta(hours=1)},
        "another-secret-that-is-long-enough",
        algorithm="HS256",
    ),
    "unknown role": _token(sub="admin-1", role="root", exp=datetime.now(UTC) + timedelta(hours=1)),
    "alg none": jwt.encode(
        {"sub": "admin-1", "role": "admin", "exp": datetime.now(UTC) + timedelta(hours=1)}, "", algorithm="none"
    ),
    "malformed": "not.a.jwt",
}
