"""The demo data set: shaped like a real term, the same every time, loadable twice."""

from __future__ import annotations

from collections import Counter

import asyncpg
import msgspec

from courses.demo import (
    DEMAND_PER_STUDENT,
    LIMITS,
    ROUND_ID,
    STUDENTS,
    demo_offerings,
    demo_round,
    demo_students,
    load_demo_data,
)
from courses.models import Offering, Student
from quota.loader import catalog_entry


def test_shape_of_the_term() -> None:
    students, offerings = demo_students(), demo_offerings()
    assert len(students) == STUDENTS == 7390
    assert len(offerings) == 180
    assert Counter(o.category for o in offerings) == {"pe": 80, "arts": 55, "labor": 45}
    assert {o.kind for o in offerings} == {"course", "activity"}
    assert len({s.id for s in students}) == STUDENTS
    assert {s.cohort for s in students} == {2022, 2023, 2024, 2025}
    assert {s.degree for s in students} == {"master", "phd"}
    # Capacity a little above the demand in every category: no one is left with nothing.
    for category, per_student in DEMAND_PER_STUDENT.items():
        seats = sum(o.capacity for o in offerings if o.category == category)
        demand = per_student * STUDENTS
        assert demand < seats < 1.2 * demand, category
    assert 49_000 < sum(DEMAND_PER_STUDENT.values()) * STUDENTS < 53_000
    restricted = [o for o in offerings if o.eligibility.cohorts or o.eligibility.degrees or o.eligibility.campuses]
    assert 5 < len(restricted) < 40
    # Several very popular offerings with few seats, and some offerings that overlap in time.
    assert min(o.capacity for o in offerings if o.title.startswith("Swimming")) < 100
    slots = Counter((e.day or e.date, e.start) for o in offerings for e in o.schedule)
    assert max(slots.values()) > 1


def test_deterministic_and_valid() -> None:
    assert demo_students() == demo_students()
    assert demo_offerings() == demo_offerings()
    for student in demo_students()[:500]:
        assert msgspec.convert(msgspec.to_builtins(student), Student) == student
    for offering in demo_offerings():
        assert msgspec.convert(msgspec.to_builtins(offering), Offering) == offering
        catalog_entry(
            offering.category, msgspec.to_builtins(offering.schedule), msgspec.to_builtins(offering.eligibility)
        )
    round_ = demo_round(demo_offerings())
    assert (round_.id, round_.limits, round_.waitlist, round_.state) == (ROUND_ID, LIMITS, True, "draft")


async def test_load_twice_keeps_the_counts(db: asyncpg.Connection) -> None:
    for _ in range(2):
        summary = await load_demo_data(db)
        assert "7390 students" in summary
        assert await db.fetchval("SELECT count(*) FROM students") == 7390
        assert await db.fetchval("SELECT count(*) FROM offerings") == 180
        assert await db.fetchval("SELECT count(*) FROM round_offerings WHERE round_id = $1", ROUND_ID) == 180
    assert await db.fetchval("SELECT state FROM rounds WHERE id = $1", ROUND_ID) == "draft"
    assert await db.fetchval("SELECT limits FROM rounds WHERE id = $1", ROUND_ID) is not None
