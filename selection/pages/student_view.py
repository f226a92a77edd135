"""The student's round pages, shaped: what each offering row, the week's grid and a select's answer
show, from the services' data. No HTTP and no I/O here: the routes (``student_pages.py``) read,
this module arranges, the templates write the words.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from courses.models import DAYS, Offering, ScheduleEntry, Selection
from courses.students import StudentProfile
from lib.errors import DomainError, problem_document
from selection.browse import OfferingView

_decode_views = msgspec.json.Decoder(list[OfferingView]).decode
_encode = msgspec.json.Encoder().encode
#: A select's answer codes the page tells apart; anything else is told as a failure of the service.
KNOWN_CODES = frozenset(
    (
        "round_not_open",
        "wrong_mode",
        "offering_not_in_round",
        "not_eligible",
        "already_selected",
        "time_conflict",
        "category_limit",
        "total_limit",
        "course_full",
        "drop_not_allowed",
        "not_found",
        "idempotency_conflict",
        "rate_limited",
        "unavailable",
        "validation_error",
    )
)


def decode_views(page: bytes) -> list[OfferingView]:
    return _decode_views(page)


def matches(offering: Offering, needle: str) -> bool:
    """Whether a search finds the offering: its title, its Chinese title or its teacher, ignoring case."""
    folded = needle.casefold()
    return any(
        folded in text.casefold() for text in (offering.title, offering.title_in_chinese, offering.teacher) if text
    )


def overlaps(a: ScheduleEntry, b: ScheduleEntry) -> bool:
    """The contract's conflict of two entries (docs/API.md, "Data types")."""
    if not (a.start < b.end and b.start < a.end):
        return False
    if a.date is not None and b.date is not None:
        return a.date == b.date
    return a.weekday == b.weekday


def clash(schedule: Sequence[ScheduleEntry], held: Iterable[Offering]) -> Offering | None:
    """The first held offering whose schedule overlaps this one, if any."""
    for other in held:
        if any(overlaps(a, b) for a in schedule for b in other.schedule):
            return other
    return None


def not_for_me(offering: Offering, student: StudentProfile) -> list[str]:
    """What of the offering's eligibility the student fails: ``cohort``, ``degree``, ``campus``."""
    rules = offering.eligibility
    failed = []
    if rules.cohorts and student.cohort not in rules.cohorts:
        failed.append("cohort")
    if rules.degrees and student.degree not in rules.degrees:
        failed.append("degree")
    if rules.campuses and student.campus not in rules.campuses:
        failed.append("campus")
    return failed


@dataclass
class Row:
    """One offering of the list as this student sees it."""

    offering: OfferingView
    #: ``enrolled`` or ``waitlisted`` when the student holds it.
    held: str | None = None
    position: int | None = None
    #: A held (enrolled) offering this one overlaps.
    clashes_with: Offering | None = None
    #: Why the student may not take it (``round``, or the offering's ``cohort``/``degree``/``campus``).
    not_for: list[str] = field(default_factory=list)


class Held(Protocol):
    """One of the student's current selections, as the pages need it: from the gate (``Holding``)
    or from PostgreSQL (``Selection``)."""

    @property
    def offering_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def position(self) -> int | None: ...


def _by_offering(held: Held) -> str:
    return held.offering_id


def rows(
    views: Sequence[OfferingView], mine: Sequence[Held], offerings: dict[str, Offering], student: StudentProfile
) -> list[Row]:
    held = {s.offering_id: s for s in mine}
    enrolled = [offerings[s.offering_id] for s in mine if s.status == "enrolled" and s.offering_id in offerings]
    shaped = []
    for view in views:
        row = Row(view)
        selection = held.get(view.id)
        if selection is not None:
            row.held, row.position = selection.status, selection.position
        else:
            row.clashes_with = clash(view.schedule, enrolled)
        if not view.eligible:
            row.not_for = not_for_me(view, student) or ["round"]
        shaped.append(row)
    return shaped


@dataclass
class Mine:
    """One of the student's selections with its offering."""

    selection: Held
    offering: Offering


def mine_of(selections: Sequence[Held], offerings: dict[str, Offering]) -> list[Mine]:
    """The student's selections in the round's order (``offerings`` is in it)."""
    order = {offering_id: index for index, offering_id in enumerate(offerings)}
    held = sorted((s for s in selections if s.offering_id in order), key=lambda s: order[s.offering_id])
    return [Mine(s, offerings[s.offering_id]) for s in held]


@dataclass
class Meeting:
    mine: Mine
    entry: ScheduleEntry


@dataclass
class Band:
    """One row of the week's grid: a time of day, and what meets then on each day."""

    start: str
    end: str
    days: list[list[Meeting]]


def week(held: Sequence[Mine]) -> list[Band]:
    """The week as rows of (start, end) bands, one column a day; a dated meeting sits on its
    weekday, with its date shown."""
    bands: dict[tuple[str, str], list[list[Meeting]]] = {}
    for item in held:
        for entry in item.offering.schedule:
            days = bands.setdefault((entry.start, entry.end), [[] for _ in DAYS])
            days[DAYS.index(entry.weekday)].append(Meeting(item, entry))
    return [Band(start, end, days) for (start, end), days in sorted(bands.items())]


def digest(selections: Sequence[Held]) -> str:
    """A short fingerprint of the student's selections (what, how, where in line)."""
    text = ";".join(f"{s.offering_id}:{s.status}:{s.position or 0}" for s in sorted(selections, key=_by_offering))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def seats_body(views: Sequence[OfferingView], mine: Sequence[Held] | None) -> bytes:
    """The live poll's answer: ``{"s": {id: [seats left, waiting]}, "m": [[id, status, position]]}``
    (``m`` only when asked for)."""
    body: dict[str, Any] = {"s": {v.id: [v.remaining, v.waitlisted] for v in views}}
    if mine is not None:
        body["m"] = [[s.offering_id, s.status, s.position] for s in sorted(mine, key=_by_offering)]
    return _encode(body)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags or "*" in tags


@dataclass
class Answer:
    """What a select or drop came to, for the page to say in words."""

    #: ``enrolled``, ``waitlisted``, ``dropped`` or ``refused``.
    outcome: str
    status: int
    offering_id: str
    code: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    position: int | None = None
    #: The request may be sent again under the same key: nothing was decided.
    retry: bool = False

    def to_session(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "status": self.status,
            "offering_id": self.offering_id,
            "code": self.code,
            "facts": self.facts,
            "position": self.position,
            "retry": self.retry,
        }

    @classmethod
    def from_session(cls, value: Any) -> Answer | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                outcome=str(value["outcome"]),
                status=int(value["status"]),
                offering_id=str(value["offering_id"]),
                code=value.get("code"),
                facts=dict(value.get("facts") or {}),
                position=value.get("position"),
                retry=bool(value.get("retry")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def selected(selection: Selection) -> Answer:
    status = 202 if selection.status == "waitlisted" else 201
    return Answer(selection.status, status, selection.offering_id, position=selection.position)


def dropped(offering_id: str) -> Answer:
    return Answer("dropped", 204, offering_id)


def refused(error: DomainError, offering_id: str) -> Answer:
    return refused_document(error.status, problem_document(error), offering_id)


def refused_document(status: int, document: dict[str, Any], offering_id: str) -> Answer:
    code = str(document.get("code") or "internal_error")
    facts = {k: v for k, v in document.items() if k not in ("type", "title", "status", "detail", "code")}
    return Answer(
        "refused",
        status,
        offering_id,
        code=code if code in KNOWN_CODES else "internal_error",
        facts=facts,
        retry=status in (503, 429),
    )


def replayed(status: int, body: bytes, offering_id: str) -> Answer:
    """The first answer to an Idempotency-Key, as the enrollment path recorded it."""
    if status == 204:
        return dropped(offering_id)
    if status in (201, 202):
        return selected(msgspec.json.decode(body, type=Selection))
    try:
        document = msgspec.json.decode(body, type=dict[str, Any])
    except msgspec.DecodeError:
        document = {}
    return refused_document(status, document, offering_id)


def countdown_parts(until: dt.datetime | None, now: dt.datetime) -> tuple[int, int, int, int] | None:
    """(days, hours, minutes, seconds) until an instant still to come; None otherwise."""
    if until is None or until <= now:
        return None
    left = int((until - now).total_seconds())
    return left // 86400, left % 86400 // 3600, left % 3600 // 60, left % 60
