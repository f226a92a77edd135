"""The catalog's types, as the contract's "Data" section defines them (docs/API.md); msgspec, decoded once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from lib import errors

#: ``$`` alone would let a trailing newline through (Python's ``$`` matches before one); the
#: look-ahead refuses it, and reads the same in the OpenAPI document's regex dialect.
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}(?!\n)$"
Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN, min_length=1, max_length=64)]
#: No NUL character in any text: PostgreSQL's text type cannot hold one, and an input it would
#: refuse must be a 400 here, never a failed write later.
_PRINTABLE = r"^[^\x00]*$"
Text = Annotated[str, msgspec.Meta(max_length=2000, pattern=_PRINTABLE)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_PRINTABLE)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=_PRINTABLE)]
Label = Annotated[str, msgspec.Meta(max_length=200, pattern=_PRINTABLE)]
Cohort = Annotated[int, msgspec.Meta(ge=1900, le=2200)]
Degree = Literal["master", "phd"]
Category = Literal["pe", "arts", "labor"]
Kind = Literal["course", "activity"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Mode = Literal["fcfs", "lottery"]
RoundState = Literal["draft", "open", "paused", "closed"]
Clock = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Capacity = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Limit = Annotated[int, msgspec.Meta(ge=0, le=1000)]
#: RFC 3339 requires an offset; a time without one would be read in some unknown zone.
Instant = Annotated[dt.datetime, msgspec.Meta(tz=True)]
LimitKey = Literal["pe", "arts", "labor", "total"]
FairStartSeconds = Annotated[int, msgspec.Meta(ge=0, le=600)]
#: A sha256 in hex; stored lower-case.
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}(?!\n)$", min_length=64, max_length=64)]
#: A draw's seed: 1-128 printable ASCII characters (space included).
Seed = Annotated[str, msgspec.Meta(pattern=r"^[\x20-\x7e]{1,128}(?!\n)$", min_length=1, max_length=128)]
#: A wish list holds at most this many offerings.
MAX_WISHES = 50
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: unknown fields are a 400."""


class Eligibility(Body):
    """Who may take a thing; an empty list means everyone."""

    cohorts: list[Cohort] = []
    degrees: list[Degree] = []
    campuses: list[Label] = []

    def admits(self, cohort: int, degree: str, campus: str) -> bool:
        return (
            (not self.cohorts or cohort in self.cohorts)
            and (not self.degrees or degree in self.degrees)
            and (not self.campuses or campus in self.campuses)
        )


class ScheduleEntry(Body):
    """A weekly (``day``) or one-off (``date``) meeting, ``[start, end)``."""

    start: Clock
    end: Clock
    day: Day | None = None
    date: dt.date | None = None

    def __post_init__(self) -> None:
        if (self.day is None) == (self.date is None):
            raise ValueError("a schedule entry has exactly one of `day` or `date`")
        if self.start >= self.end:
            raise ValueError("a schedule entry's `start` must be before its `end`")

    @property
    def weekday(self) -> Day:
        if self.day is not None:
            return self.day
        assert self.date is not None
        return DAYS[self.date.weekday()]


class Student(Body):
    id: Id
    name: Name
    cohort: Cohort
    degree: Degree
    campus: Name
    college: Name


class Offering(Body):
    id: Id
    title: Title
    category: Category
    kind: Kind
    capacity: Capacity
    #: The title in Chinese, shown on the pages in Chinese. Not in the contract's Offering: absent
    #: from an answer where the catalog has none (``null`` on write), so the contract's shape stays.
    title_zh: Title | msgspec.UnsetType | None = msgspec.UNSET
    teacher: Label | None = None
    campus: Label | None = None
    schedule: list[ScheduleEntry] = []
    eligibility: Eligibility = msgspec.field(default_factory=Eligibility)
    description: Text | None = None

    def __post_init__(self) -> None:
        if self.title_zh is None:
            self.title_zh = msgspec.UNSET

    @property
    def title_in_chinese(self) -> str | None:
        return self.title_zh if isinstance(self.title_zh, str) else None


class OfferingPatch(Body):
    """PATCH body: any of these; an absent field is left as it is."""

    capacity: Capacity | msgspec.UnsetType = msgspec.UNSET
    title: Title | msgspec.UnsetType = msgspec.UNSET
    title_zh: Title | msgspec.UnsetType | None = msgspec.UNSET
    teacher: Label | msgspec.UnsetType | None = msgspec.UNSET
    campus: Label | msgspec.UnsetType | None = msgspec.UNSET
    description: Text | msgspec.UnsetType | None = msgspec.UNSET
    schedule: list[ScheduleEntry] | msgspec.UnsetType = msgspec.UNSET
    category: Category | msgspec.UnsetType = msgspec.UNSET
    eligibility: Eligibility | msgspec.UnsetType = msgspec.UNSET


class RoundCreate(Body):
    id: Id
    name: Title
    offering_ids: list[Id]
    mode: Mode = "fcfs"
    #: Accepted so that a client may send a whole Round; a new round is always a draft.
    state: Literal["draft"] = "draft"
    opens_at: Instant | None = None
    closes_at: Instant | None = None
    eligibility: Eligibility = msgspec.field(default_factory=Eligibility)
    limits: dict[LimitKey, Limit] = {}
    allow_drop: bool = True
    waitlist: bool = False
    #: In an ``fcfs`` round, selects in the first N seconds are held and decided together.
    fair_start_seconds: FairStartSeconds = 0
    #: The round whose current selections are copied into this one when it first opens.
    continues: Id | None = None
    #: Commit-reveal for a lottery round: the draw's seed must hash to this.
    seed_sha256: Sha256Hex | None = None


class RoundPatch(Body):
    """PATCH body of a round: any field of a create but ``id`` and ``state``; an absent field is
    left as it is. Which fields may change depends on the round's state (``courses.rounds``)."""

    name: Title | msgspec.UnsetType = msgspec.UNSET
    offering_ids: list[Id] | msgspec.UnsetType = msgspec.UNSET
    mode: Mode | msgspec.UnsetType = msgspec.UNSET
    opens_at: Instant | msgspec.UnsetType | None = msgspec.UNSET
    closes_at: Instant | msgspec.UnsetType | None = msgspec.UNSET
    eligibility: Eligibility | msgspec.UnsetType = msgspec.UNSET
    limits: dict[LimitKey, Limit] | msgspec.UnsetType = msgspec.UNSET
    allow_drop: bool | msgspec.UnsetType = msgspec.UNSET
    waitlist: bool | msgspec.UnsetType = msgspec.UNSET
    fair_start_seconds: FairStartSeconds | msgspec.UnsetType = msgspec.UNSET
    continues: Id | msgspec.UnsetType | None = msgspec.UNSET
    seed_sha256: Sha256Hex | msgspec.UnsetType | None = msgspec.UNSET


class Round(msgspec.Struct, kw_only=True):
    """A round as students see it."""

    id: str
    name: str
    mode: Mode
    state: RoundState
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None
    offering_ids: list[str]
    eligibility: Eligibility
    limits: dict[str, int]
    allow_drop: bool
    waitlist: bool
    fair_start_seconds: int
    continues: str | None
    seed_sha256: str | None


class AdminRound(Round, kw_only=True):
    """A round as administrators see it: with the seeds, once there are any."""

    #: Set by the service when an ``fcfs`` round with a fair-start window first opens.
    fair_start_seed: str | None
    #: The seed the lottery was drawn with; ``null`` until the draw.
    drawn_seed: str | None


class WishList(Body):
    """A student's ranked wishes, best first; an empty list withdraws."""

    offering_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_WISHES)]


class Wishes(msgspec.Struct, kw_only=True):
    round_id: str
    offering_ids: list[str]
    updated_at: dt.datetime | None


class DrawRequest(Body):
    seed: Seed


class DrawResult(msgspec.Struct, kw_only=True):
    round_id: str
    seed: str
    seed_sha256: str
    #: Students with a (non-empty) wish list.
    students: int
    #: Selections the draw made.
    enrolled: int
    #: Students who got none of their wishes.
    unplaced: int


SelectionStatus = Literal["enrolled", "waitlisted"]


class Selection(msgspec.Struct, kw_only=True):
    round_id: str
    offering_id: str
    student_id: str
    status: SelectionStatus
    position: int | None
    created_at: dt.datetime


class Upserted(msgspec.Struct):
    upserted: int


def refuse_repeats(offering_ids: list[str]) -> None:
    """A list of offerings names each once; a repeat is a 400 naming its place."""
    seen: set[str] = set()
    for index, offering_id in enumerate(offering_ids):
        if offering_id in seen:
            raise errors.ValidationFailed(
                f"offering_ids[{index}] repeats {offering_id}", field="offering_ids", index=index
            )
        seen.add(offering_id)
