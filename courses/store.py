"""The catalog's boundary with PostgreSQL: a driver's connection failure becomes ``unavailable``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from selection import errors

#: Failures to reach PostgreSQL, as opposed to a query PostgreSQL refused (a fault, answered 500).
UNREACHABLE = errors.UNREACHABLE


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
    """A pooled connection inside one transaction; rolled back on any exception."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            yield conn
    except UNREACHABLE as exc:
        raise errors.Unavailable("PostgreSQL is unreachable; repeat the request") from exc


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
    """A pooled connection for reads, outside any transaction."""
    try:
        async with pool.acquire() as conn:
            yield conn
    except UNREACHABLE as exc:
        raise errors.Unavailable("PostgreSQL is unreachable; repeat the request") from exc
