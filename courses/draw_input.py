"""The draw input: everything a lottery's draw depends on, as one document anyone can recompute
the draw from (``GET /api/v1/admin/rounds/{round_id}/draw-input``, ``docs/redraw.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from courses.models import Category, Eligibility, Mode, ScheduleEntry

#: The draw, in words; the document carries it so that it can be read without this code.
DEFINITION = (
    "Students with a non-empty wish list are ordered by sha256((seed + ':' + student_id).encode('utf-8'))"
    " as a lower-case hex string, ascending. The draw runs in passes: pass 1 in that order, pass 2 in the"
    " reverse order, and so on, reversing on every pass (snake order). In each pass each student is given"
    " at most one seat: their highest-ranked wish that is an offering of the round, that they do not hold"
    " yet, whose round and offering eligibility admit them (an empty list admits everyone), that has a seat"
    " left (capacity minus seats held, counting held_seats and every earlier placement), that keeps them"
    " within the round's limit for its category and the round's total limit (held seats count), and whose"
    " schedule does not conflict with anything they hold. Two schedule entries conflict when their"
    " [start, end) times overlap on the same day: two weekly entries on the same day, two one-off entries"
    " on the same date, or a one-off entry whose date falls on a weekly entry's day. The draw stops after"
    " a pass that places nobody."
)


class DrawRound(msgspec.Struct, kw_only=True):
    id: str
    mode: Mode
    #: A missing key means no limit: ``pe``, ``arts``, ``labor`` and ``total``.
    limits: dict[str, int]
    eligibility: Eligibility


class DrawOffering(msgspec.Struct, kw_only=True):
    id: str
    capacity: int
    category: Category
    schedule: list[ScheduleEntry]
    eligibility: Eligibility


class HeldSeat(msgspec.Struct, kw_only=True):
    """A seat a student held in the round before the draw (an administrator's enrolment)."""

    student_id: str
    offering_id: str


class Wisher(msgspec.Struct, kw_only=True):
    """A student with a non-empty wish list, best wish first."""

    id: str
    cohort: int
    degree: str
    campus: str
    offering_ids: list[str]


class Placement(msgspec.Struct, kw_only=True, frozen=True):
    student_id: str
    offering_id: str
    #: The pass (1-based) that gave the seat.
    pass_: int = msgspec.field(name="pass")
    #: The rank (1-based) of the wish it met in the student's list.
    rank: int


#: What became of a wish in the draw: ``placed``; refused when its turn came because the offering
#: was ``full``, it would break the ``category_limit`` or ``total_limit``, it was in
#: ``time_conflict`` with a seat the student held, or the student ``already_held`` it; or never in
#: the running: the offering is ``not_in_round`` or the student is ``not_eligible`` for it.
WishOutcomeCode = Literal[
    "placed", "full", "category_limit", "total_limit", "time_conflict", "already_held", "not_in_round", "not_eligible"
]


class WishOutcome(msgspec.Struct, kw_only=True, frozen=True):
    offering_id: str
    #: The wish's rank (1-based) in the student's list.
    rank: int
    outcome: WishOutcomeCode
    #: The pass in which its turn came; ``null`` for a wish that was never in the running.
    pass_: int | None = msgspec.field(default=None, name="pass")
    #: For ``time_conflict``: the held offering it conflicted with.
    with_: str | None = msgspec.field(default=None, name="with")


class DrawExplanation(msgspec.Struct, kw_only=True):
    """A drawn lottery round as one student sees it: where they stood in the seeded order, and
    what became of each of their wishes. With the draw input an administrator can export, anyone
    can check it (``docs/redraw.py``)."""

    round_id: str
    seed: str
    #: sha256 of the seed: the commitment the round was created with, if it had one.
    seed_sha256: str
    drawn_at: dt.datetime
    #: Students with a wish list: the length of the order.
    students: int
    #: sha256(seed + ":" + student_id) in hex: the order sorts these ascending.
    order_key: str
    #: The student's place (1-based) in pass 1's order (pass 2 runs it backwards, and so on);
    #: ``null`` for a student who handed in no list.
    place: int | None
    #: Every wish of the student's list, in its order.
    wishes: list[WishOutcome]


class DrawInput(msgspec.Struct, kw_only=True):
    definition: str
    round: DrawRound
    offerings: list[DrawOffering]
    held_seats: list[HeldSeat]
    students: list[Wisher]
    #: Known after the draw; ``seed_sha256`` is also known before it if the round committed to one.
    seed: str | None
    seed_sha256: str | None
    drawn_at: dt.datetime | None
    #: In the order the draw gave them; ``null`` before the draw.
    placements: list[Placement] | None


EXAMPLE = DrawInput(
    definition=DEFINITION,
    round=DrawRound(id="pe-lottery", mode="lottery", limits={"pe": 1, "total": 2}, eligibility=Eligibility()),
    offerings=[
        DrawOffering(
            id="swim-1",
            capacity=1,
            category="pe",
            schedule=[ScheduleEntry(day="mon", start="14:00", end="15:40")],
            eligibility=Eligibility(),
        ),
        DrawOffering(
            id="yoga-1",
            capacity=20,
            category="pe",
            schedule=[ScheduleEntry(date=dt.date(2026, 12, 7), start="15:00", end="16:00")],
            eligibility=Eligibility(degrees=["phd"]),
        ),
    ],
    held_seats=[HeldSeat(student_id="2024001", offering_id="yoga-1")],
    students=[
        Wisher(id="2024002", cohort=2024, degree="master", campus="north", offering_ids=["swim-1", "yoga-1"]),
    ],
    seed="correct horse battery staple",
    seed_sha256="c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a",
    drawn_at=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC),
    placements=[Placement(student_id="2024002", offering_id="swim-1", pass_=1, rank=1)],
)
