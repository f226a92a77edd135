"""The app stands up: operations routes, problem details for framework errors, auth."""

from __future__ import annotations

import gc
from collections.abc import Callable
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


#: Makes a token when the test runs, given the time then (seconds) and the role the routes under test want.
MakeToken = Callable[[int, str], str]
#: A claim left out of the token.
ABSENT = object()


def signed(now: int, for_role: str, secret: str = JWT_SECRET, algorithm: str = "HS256", **claims: object) -> str:
    """A token accepted on ``for_role``'s routes (``admin-1``'s, or the student ``s1``'s), valid for an hour
    from ``now``, with ``claims`` set over it (``ABSENT`` leaves one out)."""
    payload: dict[str, object] = {
        "sub": "admin-1" if for_role == "admin" else "s1",
        "role": for_role,
        "iat": now,
        "exp": now + 3600,
    }
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not ABSENT}, secret, algorithm=algorithm)


#: Tokens answered 401 on every route. Each differs from ``signed``'s in one way.
BAD_TOKENS: dict[str, MakeToken] = {
    "expired 40 s ago": lambda now, role: signed(now, role, exp=now - 40),
    "expired an hour ago": lambda now, role: signed(now, role, iat=now - 7200, exp=now - 3600),
    "no exp": lambda now, role: signed(now, role, exp=ABSENT),
    "wrong secret": lambda now, role: signed(now, role, secret="another-secret-that-is-long-enough"),
    "alg none": lambda now, role: signed(now, role, secret="", algorithm="none"),
    "malformed": lambda now, role: "not.a.jwt",
    "not before 40 s from now": lambda now, role: signed(now, role, nbf=now + 40),
    "issued 40 s in the future": lambda now, role: signed(now, role, iat=now + 40),
    "unknown role": lambda now, role: signed(now, role, role="root"),
    "role in capitals": lambda now, role: signed(now, role, role=role.capitalize()),
    "no role": lambda now, role: signed(now, role, role=ABSENT),
    "role a number": lambda now, role: signed(now, role, role=1),
    "role a list": lambda now, role: signed(now, role, role=[role]),
    "role null": lambda now, role: signed(now, role, role=None),
    "no sub": lambda now, role: signed(now, role, sub=ABSENT),
    "sub a number": lambda now, role: signed(now, role, sub=12345),
    "sub an object": lambda now, role: signed(now, role, sub={"id": "s1"}),
    "sub a list": lambda now, role: signed(now, role, sub=["s1"]),
    "sub null": lambda now, role: signed(now, role, sub=None),
    "sub empty": lambda now, role: signed(now, role, sub=""),
    "sub with a NUL byte": lambda now, role: signed(now, role, sub="s1\x00"),
    "sub of 65 characters": lambda now, role: signed(now, role, sub="s" * 65),
    "sub with a space": lambda now, role: signed(now, role, sub="admin 1"),
    "sub with a slash": lambda now, role: signed(now, role, sub="admin/1"),
    "sub with a trailing newline": lambda now, role: signed(now, role, sub="s1\n"),
    "sub not ASCII": lambda now, role: signed(now, role, sub="s\u00e91"),
    "exp a string": lambda now, role: signed(now, role, exp=str(now + 3600)),
    "exp a float": lambda now, role: signed(now, role, exp=now + 3600.5),
    "exp a whole float": lambda now, role: signed(now, role, exp=float(now + 3600)),
    "exp beyond the year 9999": lambda now, role: signed(now, role, exp=10**12),
    "exp null": lambda now, role: signed(now, role, exp=None),
    "iat a string": lambda now, role: signed(now, role, iat=str(now)),
    "nbf a string": lambda now, role: signed(now, role, nbf=str(now)),
}

#: Tokens as an identity provider may issue them, accepted: no ``iat``, and clocks up to 30 s apart.
ACCEPTED_TOKENS: dict[str, MakeToken] = {
    "as minted": signed,
    "no iat": lambda now, role: signed(now, role, iat=ABSENT),
    "expired 20 s ago": lambda now, role: signed(now, role, exp=now - 20),
    "not before 20 s from now": lambda now, role: signed(now, role, nbf=now + 20),
    "issued 20 s in the future": lambda now, role: signed(now, role, iat=now + 20),
    "with claims the service does not read": lambda now, role: signed(now, role, iss="idp", aud="selection", jti="x"),
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
