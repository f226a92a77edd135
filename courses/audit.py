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


#: What an action looks like (``round.open``, ``force_drop``), for a filter's input.
ACTION_PATTERN = r"^[a-z_.]{1,64}$"
#: Every action the trail records (docs/API.md, "Audit"), for the console's filter.
ACTIONS = (
    "select",
    "drop",
    "force_enroll",
    "force_enroll_override",
    "force_drop",
    "promote",
    "carry_over",
    "draw",
    "students.upsert",
    "students.import",
    "offerings.upsert",
    "offerings.import",
    "offering.patch",
    "capacity.change",
    "round.create",
    "round.open",
    "round.pause",
    "round.close",
    "round.carry_over",
    "round.wishes",
    "round.draw",
)


class AuditFilter(msgspec.Struct, frozen=True):
    """What a page of the trail is narrowed to; ``None`` is "any". ``since`` is inclusive,
    ``until`` exclusive."""

    round_id: str | None = None
    student_id: str | None = None
    offering_id: str | None = None
    action: str | None = None
    actor: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class AuditTrail:
    """The events, read with filters, newest first."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(
        self,
        *,
        round_id: str | None = None,
        student_id: str | None = None,
        before: int | None = None,
        limit: int,
        where: AuditFilter | None = None,
    ) -> list[AuditEvent]:
        """Up to ``limit`` events older than event ``before``, newest first. ``round_id`` and
        ``student_id`` are the filter's fields too (either way of giving them works)."""
        f = where or AuditFilter()
        async with connection(self._pool) as conn:
            rows = await conn.fetch(
                _sql("audit_page"),
                round_id or f.round_id,
                student_id or f.student_id,
                before,
                limit,
                f.offering_id,
                f.action,
                f.actor,
                f.since,
                f.until,
            )
        return [AuditEvent(**dict(r.items())) for r in rows]
