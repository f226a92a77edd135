"""Browsing a round as a student: the rounds they may see, and a round's offerings with live seats.

At the opening burst thousands of students browse at once. Students of one cohort, degree and
campus see the same page, so a page is built once per freshness period for each such group, and
the live seat counts it is built from are read from the gate once per period per process: both
through the single-flight caches, whatever the number of students asking.
"""

from __future__ import annotations

import functools

import msgspec

from courses.cached import CachedCatalog, RoundHeader
from courses.models import Offering, Round
from courses.rounds import RoundRegistry
from courses.students import StudentProfile
from lib import errors
from lib.coalesced import CoalescedCache
from quota.gate import SeatCounts, SeatGate
from quota.outcomes import GateUnavailable, Holding

#: How long a browse page, and the seat counts it is built from, stay fresh. Each may be served
#: as long again while its one refresh runs, so a browse shows seats at most four times this old: a
#: select is always decided on the live count.
BROWSE_SECONDS = 0.125
#: How old the list of rounds a student sees may be: a round opened or closed shows within it.
ROUNDS_SECONDS = 0.5

_encode = msgspec.json.Encoder().encode


def _matches(offering: Offering, needle: str) -> bool:
    """``q``: a case-insensitive substring of the title, in English or in Chinese."""
    chinese = offering.title_in_chinese
    return needle in offering.title.casefold() or (chinese is not None and needle in chinese.casefold())


class OfferingView(Offering, kw_only=True):
    """An offering of a round as a student sees it, with live seats."""

    remaining: int
    waitlisted: int
    eligible: bool


class Browse:
    def __init__(self, catalog: CachedCatalog, rounds: RoundRegistry, gate: SeatGate) -> None:
        self._catalog = catalog
        self._rounds = rounds
        self._gate = gate
        self._counts: CoalescedCache[str, SeatCounts] = CoalescedCache()
        self._visible: CoalescedCache[tuple[int, str, str], list[Round]] = CoalescedCache()

    async def rounds_for(self, student: StudentProfile, *, recent: bool = False) -> list[Round]:
        """Every round but drafts that admits the student. ``recent``: as read at most
        ``ROUNDS_SECONDS`` ago, one PostgreSQL query per profile (cohort, degree, campus) and
        process however many students ask — what the pages take, since at the opening every
        student's page asks within seconds. The API answers from PostgreSQL itself: a client
        that opened a round sees it at once."""
        key = (student.cohort, student.degree, student.campus)
        if not recent:
            return await self._rounds.visible_to(*key)
        return await self._visible.get(key, ROUNDS_SECONDS, lambda: self._rounds.visible_to(*key))

    async def offerings_page(
        self,
        round_id: str,
        student: StudentProfile,
        category: str | None,
        available: bool | None,
        q: str | None,
    ) -> bytes:
        """The round's offerings as the student sees them, encoded; 404 for an unknown round,
        ``round_not_open`` for a draft."""
        header = await self._catalog.require_round(round_id)
        if header.state == "draft":
            raise errors.RoundNotOpen("The round is not open yet", state="draft")
        key = (round_id, student.cohort, student.degree, student.campus, category, available, q)
        return await self._catalog.browse_page(
            key, BROWSE_SECONDS, lambda: self._build(header, student, category, available, q)
        )

    async def holding(self, round_id: str, student_id: str) -> list[Holding] | None:
        """The student's current selections by the gate (live, like the seats); None while the
        round's gate state is not loaded."""
        return await self._gate.holding(round_id, student_id)

    async def seat_counts(self, round_id: str) -> SeatCounts:
        """(capacity, enrolled, waiting) per offering, as the students' lists show them: one Redis
        round trip at most every ``BROWSE_SECONDS`` per process, whoever asks (the console's
        dashboard too). ``Unavailable`` while the round's gate state is not loaded."""
        return await self._seat_counts(round_id)

    async def _seat_counts(self, round_id: str) -> SeatCounts:
        """The round's counts, read at most BROWSE_SECONDS ago (or, while one new reading is under
        way, at most twice that)."""
        read = functools.partial(self._gate.live_counts, round_id)
        try:
            return await self._counts.get(round_id, BROWSE_SECONDS, read)
        except GateUnavailable as exc:
            raise errors.Unavailable("Live seats are loading; repeat the request") from exc

    async def _build(
        self,
        header: RoundHeader,
        student: StudentProfile,
        category: str | None,
        available: bool | None,
        q: str | None,
    ) -> bytes:
        offerings = await self._catalog.offerings(header.id)
        capacity, enrolled, waiting = await self._seat_counts(header.id)
        in_round = header.eligibility.admits(student.cohort, student.degree, student.campus)
        needle = q.casefold() if q else None
        views = []
        for o in offerings:
            cap = capacity.get(o.id, o.capacity)
            remaining = max(0, cap - enrolled.get(o.id, 0))
            if category is not None and o.category != category:
                continue
            if available and remaining <= 0:
                continue
            if needle is not None and not _matches(o, needle):
                continue
            fields = msgspec.structs.asdict(o)
            fields["capacity"] = cap
            views.append(
                OfferingView(
                    **fields,
                    remaining=remaining,
                    waitlisted=waiting.get(o.id, 0),
                    eligible=in_round and o.eligibility.admits(student.cohort, student.degree, student.campus),
                )
            )
        return _encode(views)
