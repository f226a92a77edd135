"""The lottery's draw as a pure function of its input and seed (no I/O): ``draw_input.DEFINITION``
in code. ``docs/redraw.py`` is the same draw written for outsiders; tests hold the two equal."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from courses.draw_input import DrawInput, DrawOffering, Placement, Wisher, WishOutcome, WishOutcomeCode
from courses.models import Eligibility, ScheduleEntry


def order_key(seed: str, student_id: str) -> str:
    return hashlib.sha256(f"{seed}:{student_id}".encode()).hexdigest()


def entries_conflict(a: ScheduleEntry, b: ScheduleEntry) -> bool:
    if not (a.start < b.end and b.start < a.end):
        return False
    if a.date is not None and b.date is not None:
        return a.date == b.date
    # Weekly with weekly: the same day; a one-off with a weekly: its date's weekday.
    return a.weekday == b.weekday


def schedules_conflict(a: Iterable[ScheduleEntry], b: list[ScheduleEntry]) -> bool:
    return any(entries_conflict(x, y) for x in a for y in b)


def _admits(eligibility: Eligibility, cohort: int, degree: str, campus: str) -> bool:
    return eligibility.admits(cohort, degree, campus)


class _Student:
    """One student's place in the draw: what they hold, and the wishes still worth trying.

    Every reason a wish fails only gets worse as the draw goes on (seats fill, holdings grow), so
    a wish that fails once is never tried again: the draw's work is linear in the wishes."""

    def __init__(self, student_id: str, wishes: list[tuple[int, DrawOffering]]) -> None:
        self.id = student_id
        self.wishes = wishes
        self.held: list[DrawOffering] = []
        self.per_category: Counter[str] = Counter()

    def take(self, offering: DrawOffering) -> None:
        self.held.append(offering)
        self.per_category[offering.category] += 1


Refusal = tuple[WishOutcomeCode, str | None]


class _Draw:
    """The state of one draw: the seats taken, the students, and (if asked) each wish's fate."""

    def __init__(self, document: DrawInput, outcomes: dict[str, list[WishOutcome]] | None) -> None:
        self.offerings = {o.id: o for o in document.offerings}
        self.limits = document.round.limits
        self.taken: Counter[str] = Counter()
        self.outcomes = outcomes
        held_by: dict[str, list[str]] = {}
        for seat in document.held_seats:
            if seat.offering_id in self.offerings:
                self.taken[seat.offering_id] += 1
                held_by.setdefault(seat.student_id, []).append(seat.offering_id)
        self.students: list[_Student] = []
        for wisher in document.students:
            if outcomes is not None:
                outcomes[wisher.id] = []
            if not _admits(document.round.eligibility, wisher.cohort, wisher.degree, wisher.campus):
                for rank, offering_id in enumerate(wisher.offering_ids, start=1):
                    self.note(wisher.id, offering_id, rank, ("not_eligible", None), None)
                continue
            student = _Student(wisher.id, self.wishes_in_running(wisher))
            for offering_id in held_by.get(wisher.id, []):
                student.take(self.offerings[offering_id])
            self.students.append(student)

    def wishes_in_running(self, wisher: Wisher) -> list[tuple[int, DrawOffering]]:
        """The wishes the draw will try: offerings of the round the student is eligible for."""
        wishes = []
        for rank, offering_id in enumerate(wisher.offering_ids, start=1):
            offering = self.offerings.get(offering_id)
            if offering is None:
                self.note(wisher.id, offering_id, rank, ("not_in_round", None), None)
            elif not _admits(offering.eligibility, wisher.cohort, wisher.degree, wisher.campus):
                self.note(wisher.id, offering_id, rank, ("not_eligible", None), None)
            else:
                wishes.append((rank, offering))
        return wishes

    def note(self, student_id: str, offering_id: str, rank: int, outcome: Refusal, pass_number: int | None) -> None:
        if self.outcomes is not None:
            code, conflict = outcome
            self.outcomes[student_id].append(
                WishOutcome(offering_id=offering_id, rank=rank, outcome=code, pass_=pass_number, with_=conflict)
            )

    def refusal(self, student: _Student, offering: DrawOffering) -> Refusal | None:
        """Why the student cannot have the offering now (with the held offering it conflicts
        with), or None when they can."""
        if any(h.id == offering.id for h in student.held):
            return "already_held", None
        if self.taken[offering.id] >= offering.capacity:
            return "full", None
        category_limit = self.limits.get(offering.category)
        if category_limit is not None and student.per_category[offering.category] >= category_limit:
            return "category_limit", None
        total_limit = self.limits.get("total")
        if total_limit is not None and len(student.held) >= total_limit:
            return "total_limit", None
        for held in student.held:
            if schedules_conflict(held.schedule, offering.schedule):
                return "time_conflict", held.id
        return None

    def turn(self, student: _Student, pass_number: int) -> Placement | None:
        """The student's turn in a pass: their best wish still possible, if any."""
        while student.wishes:
            rank, offering = student.wishes.pop(0)
            refused = self.refusal(student, offering)
            self.note(student.id, offering.id, rank, refused or ("placed", None), pass_number)
            if refused is None:
                student.take(offering)
                self.taken[offering.id] += 1
                return Placement(student_id=student.id, offering_id=offering.id, pass_=pass_number, rank=rank)
        return None


def draw(document: DrawInput, seed: str, *, outcomes: dict[str, list[WishOutcome]] | None = None) -> list[Placement]:
    """The placements, in the order the draw gives them. Given ``outcomes``, also what became of
    each wish of each student with a wish list, in the order of their list: every wish is tried
    exactly once (placed, or refused for the reason it failed when its turn came)."""
    state = _Draw(document, outcomes)
    students = sorted(state.students, key=lambda s: order_key(seed, s.id))
    placements: list[Placement] = []
    pass_number = 0
    while True:
        pass_number += 1
        placed = 0
        for student in students if pass_number % 2 == 1 else reversed(students):
            placement = state.turn(student, pass_number)
            if placement is not None:
                placements.append(placement)
                placed += 1
        if not placed:
            break
        students = [s for s in students if s.wishes]
    if outcomes is not None:
        for tried in outcomes.values():
            tried.sort(key=lambda w: w.rank)
    return placements
