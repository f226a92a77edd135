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


async def create_pool(dsn: str, *, size: int = 8, connect_timeout: float = 5.0) -> asyncpg.Pool:
    """A pool that fails fast: a request never waits long on an unreachable PostgreSQL."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        init=_init_connection,
        timeout=connect_timeout,
        command_timeout=30,
        server_settings={"application_name": "selection"},
    )
    assert pool is not None
    return pool
