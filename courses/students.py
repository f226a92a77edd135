"""Who the students are, as the request path needs them: a read-through cache of profiles."""

from __future__ import annotations

import time

import asyncpg
import msgspec

from courses.queries import catalog_sql


class StudentProfile(msgspec.Struct, frozen=True):
    """What eligibility needs to know of a student."""

    id: str
    cohort: int
    degree: str
    campus: str


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
        row = await self._pool.fetchrow(catalog_sql("student_profile"), student_id)
        if row is None:
            self._cache.pop(student_id, None)
            return None
        profile = StudentProfile(row["id"], row["cohort"], row["degree"], row["campus"])
        self._cache[student_id] = (now, profile)
        return profile

    async def preload(self) -> int:
        """Fill the cache at start so the opening burst asks PostgreSQL nothing for profiles."""
        rows = await self._pool.fetch(catalog_sql("all_student_profiles"))
        now = time.monotonic()
        for row in rows:
            self._cache[row["id"]] = (now, StudentProfile(row["id"], row["cohort"], row["degree"], row["campus"]))
        return len(rows)

    def forget(self, student_ids: list[str] | None = None) -> None:
        """Drop cached profiles after an import changed them (all of them when ``None``)."""
        if student_ids is None:
            self._cache.clear()
        else:
            for sid in student_ids:
                self._cache.pop(sid, None)
