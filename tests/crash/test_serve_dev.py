"""``serve --dev`` as ``make run`` starts it: the tokens it prints, and none when a secret is given.

A secret given in the environment may be production's: a token signed with it and printed to a
terminal or a log would be a token leaked.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from selection.web.auth import mint_token
from tests.builders import add_students
from tests.live import LiveRedis, LiveService

pytestmark = pytest.mark.slow

#: What a printed token looks like: a JWT's three base64url parts, its header a JSON object.
A_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.fixture
def valkey() -> Iterator[LiveRedis]:
    server = LiveRedis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def dev_service(
    tmp_path: Path, database_url: str, db: asyncpg.Connection, valkey: LiveRedis
) -> AsyncIterator[LiveService]:
    # A database with a student is not empty: --dev then loads no demo data.
    await add_students(db, "s00001")
    service = LiveService(
        tmp_path,
        {
            "SELECTION_DATABASE_URL": database_url,
            "SELECTION_REDIS_URL": valkey.url,
            "SELECTION_DATA_DIR": str(tmp_path / "data"),
        },
        workers=1,
        args=["--dev"],
    )
    try:
        yield service
    finally:
        service.stop()


def printed(service: LiveService) -> str:
    return service.log_path.read_text(errors="replace")


async def test_dev_prints_tokens_signed_with_its_own_secret(dev_service: LiveService, tmp_path: Path) -> None:
    dev_service.start()
    await dev_service.wait_ready(30)
    log = printed(dev_service)
    admin = re.search(r"^admin token: +(\S+)", log, re.MULTILINE)
    student = re.search(r"^student token: +(\S+)", log, re.MULTILINE)
    assert admin, log
    assert student, log
    assert (tmp_path / "data" / "dev-jwt-secret").exists()
    async with httpx.AsyncClient(base_url=dev_service.base_url, trust_env=False) as client:
        response = await client.get("/api/v1/admin/rounds", headers={"Authorization": f"Bearer {admin[1]}"})
        assert response.status_code == 200, response.text
        response = await client.get("/api/v1/rounds", headers={"Authorization": f"Bearer {student[1]}"})
        assert response.status_code == 200, response.text


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_dev_prints_no_token_when_a_secret_is_given(dev_service: LiveService, tmp_path: Path) -> None:
    secret = "a-secret-from-elsewhere"  # 23 bytes: --dev takes it, with a warning
    dev_service.env["SELECTION_JWT_SECRET"] = secret
    dev_service.start()
    await dev_service.wait_ready(30)
    log = printed(dev_service)
    assert "warning: SELECTION_JWT_SECRET is 23 bytes long" in log, log
    assert "tokens are not printed: SELECTION_JWT_SECRET was given" in log, log
    assert "selection token --sub" in log
    assert not A_JWT.search(log), log
    assert not (tmp_path / "data" / "dev-jwt-secret").exists()
    # The workers sign with the secret given, not with one of --dev's.
    async with httpx.AsyncClient(base_url=dev_service.base_url, trust_env=False) as client:
        token = mint_token(secret, "admin", "admin")
        response = await client.get("/api/v1/admin/rounds", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
