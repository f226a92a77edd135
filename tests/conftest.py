"""Fixtures: real servers once per run, a fresh migrated database and Redis namespace per test."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import hypothesis
import pytest
import redis.asyncio as aioredis
from hypothesis.configuration import set_hypothesis_home_dir
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib.settings import Settings
from selection.web.app import create_app
from selection.web.auth import mint_token
from tests.stores import Stores, test_stores, with_database

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
_counter = itertools.count(1)

# Generated tests start afresh each run: no example database to replay from or to leave behind.
hypothesis.settings.register_profile("selection", database=None)
hypothesis.settings.load_profile("selection")


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis's caches (some written while tests are collected) go to a temporary directory
    removed at the end of the run, not to a `.hypothesis/` folder in the work tree."""
    home = tempfile.mkdtemp(prefix="selection-hypothesis-")
    set_hypothesis_home_dir(home)
    config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))


@pytest.fixture(scope="session")
def stores() -> Iterator[Stores]:
    with test_stores() as s:
        yield s


@pytest.fixture
async def database_url(stores: Stores) -> AsyncIterator[str]:
    """A database of its own for this test, cloned from the migrated template."""
    name = f"sel_{stores.run_id}_{next(_counter)}"
    conn = await asyncpg.connect(stores.admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{stores.template}"')
    finally:
        await conn.close()
    yield with_database(stores.admin_url, name)
    conn = await asyncpg.connect(stores.admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def redis_namespace(stores: Stores) -> AsyncIterator[str]:
    """A key prefix of its own for this test; its keys are deleted afterwards."""
    namespace = f"t{stores.run_id}-{next(_counter)}:"
    yield namespace
    client = aioredis.Redis.from_url(stores.redis_url)
    try:
        async for key in client.scan_iter(match=namespace + "*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
def settings(stores: Stores, database_url: str, redis_namespace: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=stores.redis_url,
        jwt_secret=JWT_SECRET,
        redis_namespace=redis_namespace,
        pool_size=4,
        gate_upkeep_seconds=0.05,
        log_format="text",
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as c:
        yield c


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to this test's database, for arranging and asserting."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def redis(stores: Stores) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(stores.redis_url)
    yield client
    await client.aclose()


def bearer(sub: str, role: str = "student") -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(JWT_SECRET, sub, "admin" if role == "admin" else "student")}


@pytest.fixture
def admin() -> dict[str, str]:
    """Headers of an administrator."""
    return bearer("admin-1", "admin")


@pytest.fixture
def as_student() -> Callable[[str], dict[str, str]]:
    """Headers of the student with the given id."""
    return bearer
