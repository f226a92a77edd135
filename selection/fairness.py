"""FairnessReport: how a round's outcome fell across students — who got their first wish, any
wish, nothing — overall and by cohort, degree and campus; in first-come rounds also by when the
student first arrived.

A lottery round's wishes are its wish lists (the first is the list's first id). A first-come
round has no lists: a student's wishes are the offerings they tried to select (selection/attempts.py),
and their first wish is the offering of their first attempt. "Got" is an enrolled selection in the
round now, whatever made it (a select, a promotion, a draw, an administrator).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Literal

import asyncpg
import msgspec

from lib import errors
from lib.database import connection
from lib.sql import NamedQueries
from quota.outcomes import GateUnavailable
from selection.attempts import AttemptLog

log = logging.getLogger("selection.fairness")
_sql = NamedQueries("selection", "queries.sql")

DECILES = 10


class FairnessGroup(msgspec.Struct, kw_only=True):
    """The students of one group and how their wishes fared; shares are of ``students``."""

    group: str
    students: int
    first_wish: int
    any_wish: int
    nothing: int
    first_wish_share: float
    any_wish_share: float
    nothing_share: float


class FairnessReport(msgspec.Struct, kw_only=True):
    round_id: str
    mode: Literal["fcfs", "lottery"]
    state: str
    #: What the counts rest on, in a sentence.
    basis: str
    as_of: dt.datetime
    #: Students counted: those with a wish (a wish list, or an attempted select).
    students: int
    overall: FairnessGroup
    by_cohort: list[FairnessGroup]
    by_degree: list[FairnessGroup]
    by_campus: list[FairnessGroup]
    #: First-come rounds: the students in ten equal groups by the time of their first attempt,
    #: "1" the earliest (only groups with students). Empty for a lottery round.
    by_arrival_decile: list[FairnessGroup]


class _Outcome(msgspec.Struct, frozen=True):
    cohort: int
    degree: str
    campus: str
    got_first: bool
    got_any: bool


_LOTTERY_BASIS = (
    "Students with a wish list in this round (withdrawn lists left out); the first wish is the list's first "
    "offering; got means enrolled in this round now."
)
_FCFS_BASIS = (
    "Students who tried to select an offering of this round while it was open (the request reached the "
    "offering's rules: eligible, in the round); their wishes are the offerings they tried, the first wish the "
    "offering of their first attempt; got means enrolled in this round now. Arrival deciles order the students "
    "by the time of their first attempt."
)
_UNCOPIED = (
    " Attempts noted in the last few seconds may be missing: the admission gate did not answer when this report "
    "was made."
)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _group(name: str, outcomes: Sequence[_Outcome]) -> FairnessGroup:
    total = len(outcomes)
    first = sum(1 for o in outcomes if o.got_first)
    any_ = sum(1 for o in outcomes if o.got_any)
    return FairnessGroup(
        group=name,
        students=total,
        first_wish=first,
        any_wish=any_,
        nothing=total - any_,
        first_wish_share=_share(first, total),
        any_wish_share=_share(any_, total),
        nothing_share=_share(total - any_, total),
    )


def _by(outcomes: Sequence[_Outcome], key: Callable[[_Outcome], str | int]) -> list[FairnessGroup]:
    groups: dict[str | int, list[_Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[key(outcome)].append(outcome)
    # One kind of key per grouping (cohorts are numbers), so they sort as such.
    return [_group(str(name), groups[name]) for name in sorted(groups)]


def deciles(ordered: Sequence[_Outcome]) -> list[FairnessGroup]:
    """Ten groups as equal as can be, in the order given (earliest first); empty ones left out."""
    n = len(ordered)
    buckets: list[list[_Outcome]] = [[] for _ in range(DECILES)]
    for i, outcome in enumerate(ordered):
        buckets[i * DECILES // n].append(outcome)
    return [_group(str(d + 1), bucket) for d, bucket in enumerate(buckets) if bucket]


class Fairness:
    def __init__(self, pool: asyncpg.Pool, attempts: AttemptLog) -> None:
        self._pool = pool
        self._attempts = attempts

    async def report(self, round_id: str) -> FairnessReport:
        """The round's report; 404 for an unknown round. A first-come round's attempts still in
        the gate are copied first, so the report counts every attempt noted until now."""
        round_row = await self._pool.fetchrow(_sql("fairness_round"), round_id)
        if round_row is None:
            raise errors.NotFound(f"No round {round_id}")
        mode = round_row["mode"]
        basis = _LOTTERY_BASIS if mode == "lottery" else _FCFS_BASIS
        if mode == "fcfs":
            try:
                await self._attempts.copy(round_id, wait=True)
            except GateUnavailable as exc:
                log.warning("fairness report without the gate's latest attempts", extra={"error": repr(exc)})
                basis += _UNCOPIED
        async with connection(self._pool) as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            query = _sql("fairness_lottery") if mode == "lottery" else _sql("fairness_fcfs")
            rows = await conn.fetch(query, round_id)
        outcomes = [
            _Outcome(r["cohort"], r["degree"], r["campus"], bool(r["got_first"]), bool(r["got_any"])) for r in rows
        ]
        return FairnessReport(
            round_id=round_id,
            mode=mode,
            state=round_row["state"],
            basis=basis,
            as_of=dt.datetime.now(dt.UTC),
            students=len(outcomes),
            overall=_group("all", outcomes),
            by_cohort=_by(outcomes, lambda o: o.cohort),
            by_degree=_by(outcomes, lambda o: o.degree),
            by_campus=_by(outcomes, lambda o: o.campus),
            # fairness_fcfs orders the rows by first attempt.
            by_arrival_decile=deciles(outcomes) if mode == "fcfs" and outcomes else [],
        )
