"""What the students' routes read of the catalog: short-lived per-process caches over PostgreSQL.

Existence answers are cached only when positive (a round created on another worker is found on
the first miss); round and offering details live for a couple of seconds, which is as fresh as
an administrator's edit needs to be, and keeps the opening burst off PostgreSQL.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import msgspec

from courses.models import Eligibility, Offering
from courses.queries import NamedQueries
from courses.store import UNREACHABLE
from selection import errors

_queries = NamedQueries("selection", "queries.sql")


class RoundHeader(msgspec.Struct, frozen=True):
    id: str
    mode: str
    state: str
    eligibility: Eligibility
    waitlist: bool


class CatalogView:
    def __init__(self, pool: asyncpg.Pool, ttl: float = 2.0) -> None:
        self._pool = pool
        self._ttl = ttl
        self._rounds: dict[str, tuple[float, RoundHeader]] = {}
        self._offerings: dict[str, tuple[float, list[Offering]]] = {}
        self._known_offerings: set[str] = set()
        self._pages: dict[tuple[object, ...], tuple[float, bytes]] = {}

    async def round(self, round_id: str) -> RoundHeader | None:
        hit = self._rounds.get(round_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        with _reaching_postgres():
            row = await self._pool.fetchrow(_queries("round_header"), round_id)
        if row is None:
            return None
        header = RoundHeader(
            id=row["id"],
            mode=row["mode"],
            state=row["state"],
            eligibility=msgspec.convert(row["eligibility"] or {}, Eligibility),
            waitlist=row["waitlist"],
        )
        self._rounds[round_id] = (now, header)
        return header

    async def require_round(self, round_id: str) -> RoundHeader:
        """The round, or a 404."""
        header = await self.round(round_id)
        if header is None:
            raise errors.NotFound(f"No round {round_id}")
        return header

    async def require_offering(self, offering_id: str) -> None:
        """Nothing, or a 404 when no such offering exists at all."""
        if not await self.offering_exists(offering_id):
            raise errors.NotFound(f"No offering {offering_id}")

    async def offering_exists(self, offering_id: str) -> bool:
        if offering_id in self._known_offerings:
            return True
        with _reaching_postgres():
            exists = await self._pool.fetchval(_queries("offering_exists"), offering_id)
        if exists:
            self._known_offerings.add(offering_id)
            return True
        return False

    async def offerings(self, round_id: str) -> list[Offering]:
        hit = self._offerings.get(round_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        with _reaching_postgres():
            rows = await self._pool.fetch(_queries("round_offering_details"), round_id)
        offerings = [msgspec.convert(_plain(row), Offering) for row in rows]
        self._offerings[round_id] = (now, offerings)
        self._known_offerings.update(o.id for o in offerings)
        return offerings

    def browse_page(self, key: tuple[object, ...], max_age: float) -> bytes | None:
        """An encoded offerings page built at most ``max_age`` seconds ago, if any."""
        hit = self._pages.get(key)
        if hit is not None and time.monotonic() - hit[0] < max_age:
            return hit[1]
        return None

    def keep_browse_page(self, key: tuple[object, ...], body: bytes) -> None:
        if len(self._pages) > 4096:
            self._pages.clear()
        self._pages[key] = (time.monotonic(), body)

    def forget(self) -> None:
        self._rounds.clear()
        self._offerings.clear()
        self._pages.clear()


@contextlib.contextmanager
def _reaching_postgres() -> Iterator[None]:
    """Once a cached answer runs out, an unreachable PostgreSQL is the contract's 503, not a fault."""
    try:
        yield
    except UNREACHABLE as exc:
        raise errors.Unavailable("PostgreSQL is unreachable; repeat the request") from exc


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row.items())
