"""The lottery's draw as a pure function of its input and seed (no I/O): ``draw_input.DEFINITION``
in code. ``docs/redraw.py`` is the same draw written for outsiders; tests hold the two equal."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from courses.draw_input import DrawInput, DrawOffering, Placement
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


def draw(document: DrawInput, seed: str) -> list[Placement]:
    """The placements, in the order the draw gives them."""
    offerings = {o.id: o for o in document.offerings}
    taken: Counter[str] = Counter()
    held_by: dict[str, list[str]] = {}
    for seat in document.held_seats:
        if seat.offering_id in offerings:
            taken[seat.offering_id] += 1
            held_by.setdefault(seat.student_id, []).append(seat.offering_id)
    limits = document.round.limits
    total_limit = limits.get("total")

    students: list[_Student] = []
    for wisher in document.students:
        if not _admits(document.round.eligibility, wisher.cohort, wisher.degree, wisher.campus):
            continue
        wishes = [
            (rank, offerings[offering_id])
            for rank, offering_id in enumerate(wisher.offering_ids, start=1)
            if offering_id in offerings
            and _admits(offerings[offering_id].eligibility, wisher.cohort, wisher.degree, wisher.campus)
        ]
        student = _Student(wisher.id, wishes)
        for offering_id in held_by.get(wisher.id, []):
            student.take(offerings[offering_id])
        students.append(student)
    students.sort(key=lambda s: order_key(seed, s.id))

    def fits(student: _Student, offering: DrawOffering) -> bool:
        if any(h.id == offering.id for h in student.held):
            return False
        if taken[offering.id] >= offering.capacity:
            return False
        category_limit = limits.get(offering.category)
        if category_limit is not None and student.per_category[offering.category] >= category_limit:
            return False
        if total_limit is not None and len(student.held) >= total_limit:
            return False
        return not any(schedules_conflict(h.schedule, offering.schedule) for h in student.held)

    placements: list[Placement] = []
    pass_number = 0
    while True:
        pass_number += 1
        order = students if pass_number % 2 == 1 else reversed(students)
        placed = 0
        for student in order:
            while student.wishes:
                rank, offering = student.wishes.pop(0)
                if fits(student, offering):
                    student.take(offering)
                    taken[offering.id] += 1
                    placements.append(
                        Placement(student_id=student.id, offering_id=offering.id, pass_=pass_number, rank=rank)
                    )
                    placed += 1
                    break
        if not placed:
            return placements
        students = [s for s in students if s.wishes]
