"""The roster: who holds what, read from PostgreSQL (the record, never the gate) — a student's
own selections, a round's live fill, and the export of every current selection."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator

import asyncpg
import msgspec

from courses.cached import CachedCatalog
from courses.models import Selection
from lib.database import connection
from lib.sql import NamedQueries

_sql = NamedQueries("selection", "queries.sql")
_encode = msgspec.json.Encoder().encode
#: The export's columns, in order (the CSV's header row).
SELECTION_FIELDS = ("round_id", "offering_id", "student_id", "status", "position", "created_at")


class OfferingStats(msgspec.Struct):
    offering_id: str
    capacity: int
    enrolled: int
    waitlisted: int


class RoundStats(msgspec.Struct):
    selections: int
    students: int
    offerings: list[OfferingStats]


class Roster:
    def __init__(self, pool: asyncpg.Pool, catalog: CachedCatalog) -> None:
        self._pool = pool
        self._catalog = catalog

    async def require_round(self, round_id: str) -> None:
        """404 unless the round exists."""
        await self._catalog.require_round(round_id)

    async def of_student(self, round_id: str, student_id: str) -> list[Selection]:
        """The student's current selections in the round, with waitlist positions; 404 for an
        unknown round."""
        await self._catalog.require_round(round_id)
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("student_selections"), round_id, student_id)
        return [msgspec.convert(dict(r.items()), Selection) for r in rows]

    async def stats(self, round_id: str) -> RoundStats:
        """Current enrolled and waitlisted counts, from one consistent snapshot; 404 for an
        unknown round."""
        await self._catalog.require_round(round_id)
        async with (
            connection(self._pool) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            totals = await conn.fetchrow(_sql("round_totals"), round_id)
            rows = await conn.fetch(_sql("round_stats"), round_id)
        assert totals is not None
        return RoundStats(
            selections=totals["selections"],
            students=totals["students"],
            offerings=[OfferingStats(r["offering_id"], r["capacity"], r["enrolled"], r["waitlisted"]) for r in rows],
        )

    async def enrollments(self, round_id: str) -> AsyncIterator[Selection]:
        """Every current selection, read through a server-side cursor in one consistent snapshot."""
        async with (
            connection(self._pool) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            async for row in conn.cursor(_sql("round_enrollments"), round_id, prefetch=2000):
                yield Selection(
                    round_id=row["round_id"],
                    offering_id=row["offering_id"],
                    student_id=row["student_id"],
                    status=row["status"],
                    position=row["position"],
                    created_at=row["created_at"],
                )


async def enrollments_json(rows: AsyncIterator[Selection]) -> AsyncIterator[bytes]:
    """The export as one JSON array, streamed (the API's route and the console's download)."""
    yield b"["
    first = True
    async for selection in rows:
        yield (b"" if first else b",") + _encode(selection)
        first = False
    yield b"]"


async def enrollments_csv(rows: AsyncIterator[Selection]) -> AsyncIterator[bytes]:
    """The export as CSV with a header row, streamed in pieces of 500 rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SELECTION_FIELDS)
    count = 0
    async for s in rows:
        created = s.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        writer.writerow([s.round_id, s.offering_id, s.student_id, s.status, s.position or "", created])
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
