"""The asyncpg pool (JSON columns decoded and encoded by msgspec) and its boundary: a
PostgreSQL that cannot be reached becomes the contract's ``unavailable``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from lib.errors import Unavailable
from lib.failures import UNREACHABLE

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename,
            encoder=lambda value: _encode(value).decode(),
            decoder=_decode,
            schema="pg_catalog",
            format="text",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset query on release (asyncpg still rolls back a transaction left open)."""


class _BoundedPool(asyncpg.Pool):
    """A pool whose every acquire waits a bounded time, ``pool.fetch()`` and its kin included
    (they acquire without a timeout of their own): a request never queues without end for a
    connection that a hanging PostgreSQL does not give back."""

    __slots__ = ("_acquire_timeout",)
    _acquire_timeout: float | None

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str,
    *,
    size: int = 8,
    connect_timeout: float = 5.0,
    acquire_timeout: float | None = None,
    command_timeout: float = 30.0,
    reset_sessions: bool = True,
) -> asyncpg.Pool:
    """A pool that fails fast: a request never waits long on an unreachable PostgreSQL.

    ``acquire_timeout`` bounds every wait for a connection (None: unbounded), ``command_timeout``
    every statement. With ``reset_sessions=False``, a released connection skips asyncpg's reset
    query (``RESET ALL``, ``UNLISTEN *``, ...): one round trip per use, for a pool whose users
    never change a session's state (the group commit's, which runs once per batch on the
    selection path).
    """
    # asyncpg.create_pool() with its defaults, but of the bounded kind.
    pool = _BoundedPool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        init=_init_connection,
        reset=None if reset_sessions else _keep_session,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=connect_timeout,
        command_timeout=command_timeout,
        server_settings={"application_name": "selection"},
    )
    pool._acquire_timeout = acquire_timeout
    return await pool


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
    """A pooled connection inside one transaction; rolled back on any exception."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            yield conn
    except UNREACHABLE as exc:
        raise Unavailable("PostgreSQL is unreachable; repeat the request") from exc


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
    """A pooled connection for reads, outside any transaction."""
    try:
        async with pool.acquire() as conn:
            yield conn
    except UNREACHABLE as exc:
        raise Unavailable("PostgreSQL is unreachable; repeat the request") from exc


@contextlib.contextmanager
def reaching_postgres() -> Iterator[None]:
    """Around a query made through the pool directly: unreachable is the contract's 503, not a fault."""
    try:
        yield
    except UNREACHABLE as exc:
        raise Unavailable("PostgreSQL is unreachable; repeat the request") from exc
