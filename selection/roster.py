"""The roster: who holds what, read from PostgreSQL (the record, never the gate) — a student's
own selections, a round's live fill, and the export of every current selection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import msgspec

from courses.cached import CachedCatalog
from courses.models import Selection
from lib.database import connection
from lib.sql import NamedQueries

_sql = NamedQueries("selection", "queries.sql")


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
