"""The PostgreSQL and Redis servers a test run uses: given by URL, or started for the run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

import migrations
from selection.cli.embedded import EmbeddedPostgres, EmbeddedRedis


def with_database(url: str, name: str) -> str:
    """The same server's URL, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@dataclass(frozen=True)
class Stores:
    admin_url: str
    redis_url: str
    template: str
    run_id: str


async def _make_template(admin_url: str, template: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{template}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(with_database(admin_url, template))
    try:
        await migrations.apply(conn)
    finally:
        await conn.close()


async def _drop_databases(admin_url: str, prefix: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%")
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


@contextmanager
def test_stores() -> Iterator[Stores]:
    """Servers for one test run; everything the run made is gone afterwards."""
    run_id = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix=f"selection-test-{run_id}-"))
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    admin_url = os.environ.get("SELECTION_TEST_DATABASE_URL") or None
    redis_url = os.environ.get("SELECTION_TEST_REDIS_URL") or None
    try:
        if admin_url is None:
            pg = EmbeddedPostgres(workdir / "postgres", keep=False)
            admin_url = pg.url()
        if redis_url is None:
            redis = EmbeddedRedis()
            redis_url = redis.url
        template = f"sel_{run_id}_template"
        asyncio.run(_make_template(admin_url, template))
        yield Stores(admin_url=admin_url, redis_url=redis_url, template=template, run_id=run_id)
    finally:
        if admin_url is not None:
            # The server may already be gone; nothing to clean then.
            with contextlib.suppress(Exception):
                asyncio.run(_drop_databases(admin_url, f"sel_{run_id}_"))
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
