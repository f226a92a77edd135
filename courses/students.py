"""The students: who they are as the request path needs them (a read-through cache of profiles),
and the administrators' upserts that change them."""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg
import msgspec

from courses import audit
from courses.import_preview import ImportCounts, compare
from courses.models import Student
from lib import errors
from lib.database import transaction
from lib.sql import NamedQueries

_sql = NamedQueries("courses", "queries.sql")


class StudentProfile(msgspec.Struct, frozen=True):
    """What eligibility needs to know of a student (the gate's ``Applicant``)."""

    id: str
    cohort: int
    degree: str
    campus: str


def repeated_ids(ids: Sequence[str]) -> None:
    """400 naming the later of two items with the same id: one upsert says one thing of each."""
    seen: dict[str, int] = {}
    for index, item_id in enumerate(ids):
        if item_id in seen:
            raise errors.ValidationFailed(
                f"Item {index} repeats the id {item_id!r} of item {seen[item_id]}", index=index, field="id"
            )
        seen[item_id] = index


class StudentDirectory:
    """Profiles by id, cached per process for ``ttl`` seconds; unknown ids always ask PostgreSQL.

    Every student request needs the caller's profile (registration and eligibility); at the
    opening burst that would be one query per request without this cache.
    """

    def __init__(self, pool: asyncpg.Pool, ttl: float = 60.0) -> None:
        self._pool = pool
        self._ttl = ttl
        self._cache: dict[str, tuple[float, StudentProfile]] = {}

    async def get(self, student_id: str) -> StudentProfile | None:
        hit = self._cache.get(student_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        row = await self._pool.fetchrow(_sql("student_profile"), student_id)
        if row is None:
            self._cache.pop(student_id, None)
            return None
        profile = StudentProfile(row["id"], row["cohort"], row["degree"], row["campus"])
        self._cache[student_id] = (now, profile)
        return profile

    async def require(self, student_id: str) -> StudentProfile:
        """The profile, or a 404."""
        profile = await self.get(student_id)
        if profile is None:
            raise errors.NotFound(f"No student {student_id}")
        return profile

    async def preload(self) -> int:
        """Fill the cache at start so the opening burst asks PostgreSQL nothing for profiles."""
        rows = await self._pool.fetch(_sql("all_student_profiles"))
        now = time.monotonic()
        for row in rows:
            self._cache[row["id"]] = (now, StudentProfile(row["id"], row["cohort"], row["degree"], row["campus"]))
        return len(rows)

    def forget(self, student_ids: Sequence[str] | None = None) -> None:
        """Drop cached profiles after an import changed them (all of them when ``None``)."""
        if student_ids is None:
            self._cache.clear()
        else:
            for sid in student_ids:
                self._cache.pop(sid, None)

    async def compare(self, students: Sequence[Student]) -> ImportCounts:
        """How many of these are new, changed or as stored: an import's preview."""
        return await compare(self._pool, students)

    async def upsert(self, students: Sequence[Student], actor: str, action: str) -> int:
        """Insert or replace every student, in one statement and one transaction."""
        ids = [s.id for s in students]
        repeated_ids(ids)
        async with transaction(self._pool) as conn:
            await conn.execute(
                _sql("upsert_students"),
                ids,
                [s.name for s in students],
                [s.cohort for s in students],
                [s.degree for s in students],
                [s.campus for s in students],
                [s.college for s in students],
            )
            await audit.record(conn, actor, action, f"{len(students)} students upserted")
        self.forget(ids)
        return len(students)
