"""The audit trail: administrators' changes recorded in the change's own transaction, and the
trail read back, newest first.

Selection changes are audited by the group commit (one event per redo-log entry, however often
it is committed); this module records the rest and reads both.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from lib.database import connection
from lib.sql import Connection, NamedQueries

_sql = NamedQueries("courses", "queries.sql")


class AuditEvent(msgspec.Struct):
    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    round_id: str | None
    student_id: str | None
    offering_id: str | None
    outcome: str
    detail: str | None


async def record(
    conn: Connection,
    actor: str,
    action: str,
    detail: str,
    *,
    round_id: str | None = None,
    offering_id: str | None = None,
) -> None:
    """One event per change: a bulk import is one event that carries its count."""
    await conn.execute(_sql("audit_admin"), actor, action, round_id, offering_id, detail)


class AuditTrail:
    """The events, read with filters, newest first."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(
        self, *, round_id: str | None, student_id: str | None, before: int | None, limit: int
    ) -> list[AuditEvent]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("audit_page"), round_id, student_id, before, limit)
        return [AuditEvent(**dict(r.items())) for r in rows]
