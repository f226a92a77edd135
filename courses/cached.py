"""CachedCatalog: what the selection path reads of the catalog, through short-lived per-process
caches over PostgreSQL.

Existence answers are cached only when positive (a round created on another worker is found on
the first miss); round and offering details live for a couple of seconds, which is as fresh as
an administrator's edit needs to be, and keeps the opening burst off PostgreSQL. Each expired
value is read again by one request while the others keep the previous one (for at most as long
again) or, when there is none, await that one read.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec

from courses.models import Eligibility, Offering
from lib import errors
from lib.coalesced import CoalescedCache
from lib.database import reaching_postgres
from lib.sql import NamedQueries

_sql = NamedQueries("courses", "queries.sql")


class RoundHeader(msgspec.Struct, frozen=True):
    id: str
    mode: str
    state: str
    eligibility: Eligibility
    waitlist: bool


class CachedCatalog:
    def __init__(self, pool: asyncpg.Pool, ttl: float = 2.0) -> None:
        self._pool = pool
        self._ttl = ttl
        # A missing round is not remembered: one created on another worker is found at once.
        self._rounds: CoalescedCache[str, RoundHeader | None] = CoalescedCache(keep=_is_round)
        self._offerings: CoalescedCache[str, list[Offering]] = CoalescedCache()
        self._known_offerings: set[str] = set()
        self._pages: CoalescedCache[tuple[object, ...], bytes] = CoalescedCache()

    async def round(self, round_id: str) -> RoundHeader | None:
        return await self._rounds.get(round_id, self._ttl, functools.partial(self._read_round, round_id))

    async def _read_round(self, round_id: str) -> RoundHeader | None:
        with reaching_postgres():
            row = await self._pool.fetchrow(_sql("round_header"), round_id)
        if row is None:
            return None
        return RoundHeader(
            id=row["id"],
            mode=row["mode"],
            state=row["state"],
            eligibility=msgspec.convert(row["eligibility"] or {}, Eligibility),
            waitlist=row["waitlist"],
        )

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
        with reaching_postgres():
            exists = await self._pool.fetchval(_sql("offering_exists"), offering_id)
        if exists:
            self._known_offerings.add(offering_id)
            return True
        return False

    async def offerings(self, round_id: str) -> list[Offering]:
        return await self._offerings.get(round_id, self._ttl, functools.partial(self._read_offerings, round_id))

    async def _read_offerings(self, round_id: str) -> list[Offering]:
        with reaching_postgres():
            rows = await self._pool.fetch(_sql("round_offering_details"), round_id)
        offerings = [msgspec.convert(_plain(row), Offering) for row in rows]
        self._known_offerings.update(o.id for o in offerings)
        return offerings

    async def browse_page(
        self, key: tuple[object, ...], max_age: float, build: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """An encoded page built from the catalog, by ``key``: built by ``build`` at most once per
        ``max_age`` seconds however many students ask for it at the same time, and forgotten
        with the rest when the catalog changes."""
        return await self._pages.get(key, max_age, build)

    def forget(self) -> None:
        """Drop everything cached: an administrator changed the catalog."""
        self._rounds.clear()
        self._offerings.clear()
        self._pages.clear()


def _is_round(header: RoundHeader | None) -> bool:
    return header is not None


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row.items())
