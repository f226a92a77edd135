"""Dead letters: redo-log entries PostgreSQL refused for what they hold, set aside by the group
commit (``commit_isolating``) so that one bad change never blocks its batch or its round; read
here for operators (the admin API, ``selection check``)."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from lib.database import connection
from lib.sql import NamedQueries

_sql = NamedQueries("selection", "queries.sql")


class DeadLetter(msgspec.Struct):
    id: int
    at: dt.datetime
    round_id: str
    stream_id: str
    #: The entry as the gate logged it (JSON text).
    entry: str
    #: Why PostgreSQL refused it.
    error: str


class DeadLetters:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def newest(self, limit: int = 100) -> list[DeadLetter]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("dead_letters"), limit)
        return [DeadLetter(**dict(r.items())) for r in rows]
