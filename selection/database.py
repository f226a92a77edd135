"""The asyncpg pool: JSON columns decoded and encoded by msgspec."""

from __future__ import annotations

import asyncpg
import msgspec

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


async def create_pool(
    dsn: str, *, size: int = 8, connect_timeout: float = 5.0, reset_sessions: bool = True
) -> asyncpg.Pool:
    """A pool that fails fast: a request never waits long on an unreachable PostgreSQL.

    With ``reset_sessions=False``, a released connection skips asyncpg's reset query (``RESET
    ALL``, ``UNLISTEN *``, ...): one round trip per use, for a pool whose users never change a
    session's state (the group commit's, which runs once per batch on the selection path).
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        init=_init_connection,
        timeout=connect_timeout,
        command_timeout=30,
        server_settings={"application_name": "selection"},
        reset=None if reset_sessions else _keep_session,
    )
    assert pool is not None
    return pool
