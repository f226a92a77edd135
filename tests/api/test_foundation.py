"""The app stands up: operations routes, problem details for framework errors, auth."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib.settings import Settings
from selection.web.app import create_app_from_env
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


async def test_a_server_worker_freezes_its_startup_heap_once_started(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in msgspec.structs.asdict(settings).items():
        monkeypatch.setenv(f"SELECTION_{name.upper()}", str(value))
    worker = create_app_from_env()
    assert gc.get_freeze_count() == 0
    try:
        async with AsyncTestClient(app=worker) as c:
            assert (await c.get("/health")).status_code == 200
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_every_documented_variable_is_read_from_the_environment() -> None:
    env = {
        "SELECTION_DATABASE_URL": "postgresql://db.internal/selection",
        "SELECTION_REDIS_URL": "redis://cache.internal:6379/2",
        "SELECTION_JWT_SECRET": "s3cret",
        "SELECTION_HOST": "0.0.0.0",
        "SELECTION_PORT": "8080",
        "SELECTION_WORKERS": "4",
        "SELECTION_RATE_LIMIT": "20",
        "SELECTION_DATA_DIR": "/srv/selection",
        "SELECTION_LOG_FORMAT": "text",
        "SELECTION_POOL_SIZE": "16",
        "SELECTION_RECOVERY_AFTER_SECONDS": "5",
        "SELECTION_GATE_UPKEEP_SECONDS": "0.25",
        "SELECTION_REDIS_NAMESPACE": "staging:",
        "SELECTION_AUDIT_REFUSALS": "1",
    }
    assert Settings.from_env(env) == Settings(
        database_url="postgresql://db.internal/selection",
        redis_url="redis://cache.internal:6379/2",
        jwt_secret="s3cret",
        host="0.0.0.0",
        port=8080,
        workers=4,
        rate_limit=20,
        data_dir=Path("/srv/selection"),
        log_format="text",
        pool_size=16,
        recovery_after_seconds=5.0,
        gate_upkeep_seconds=0.25,
        redis_namespace="staging:",
        audit_refusals=True,
    )
    assert Settings.from_env(env, data_dir=Path("elsewhere")).data_dir == Path("elsewhere")
    with pytest.raises(SystemExit, match=r"invalid configuration: .*\$\.workers"):
        Settings.from_env({"SELECTION_WORKERS": "four"})
