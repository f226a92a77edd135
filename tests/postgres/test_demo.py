"""The demo data set: its shape, its sameness from run to run, and a load that can be repeated."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import asyncpg
import msgspec
import pytest

from courses import demo
from courses.models import Offering, RoundCreate, ScheduleEntry, Student
from quota.loader import catalog_entry


def _clash(a: ScheduleEntry, b: ScheduleEntry) -> bool:
    """The contract's reading of a time conflict (docs/API.md)."""
    if not (a.start < b.end and b.start < a.end):
        return False
    if a.date is not None and b.date is not None:
        return a.date == b.date
    return a.weekday == b.weekday


def _overlapping_pairs(offerings: list[Offering]) -> int:
    return sum(
        1 for x, y in itertools.combinations(offerings, 2) if any(_clash(a, b) for a in x.schedule for b in y.schedule)
    )


def test_counts_follow_the_real_round() -> None:
    students, offerings = demo.demo_students(), demo.demo_offerings()
    assert len(students) == 7390
    assert [s.id for s in students[:2]] == ["s00001", "s00002"]
    assert students[-1].id == "s07390"
    assert len({s.id for s in students}) == 7390
    assert len(offerings) == 180
    assert len({o.id for o in offerings}) == 180
    assert Counter(o.category for o in offerings) == {"pe": 80, "arts": 55, "labor": 45}
    kinds = Counter(o.kind for o in offerings)
    assert kinds["course"] > 100
    assert kinds["activity"] > 20
    assert {s.cohort for s in students} == {2022, 2023, 2024, 2025}
    assert Counter(s.degree for s in students).keys() == {"master", "phd"}
    assert 2 <= len({s.campus for s in students}) <= 3
    assert 10 <= len({s.college for s in students}) <= 14


def test_the_same_data_every_time() -> None:
    assert demo.demo_students() == demo.demo_students()
    assert demo.demo_offerings() == demo.demo_offerings()
    assert demo.demo_round() == demo.demo_round()
    assert demo.demo_popularity() == demo.demo_popularity()


def test_every_row_passes_the_api_models_and_the_gate_reads_it() -> None:
    for student in demo.demo_students():
        assert msgspec.convert(msgspec.to_builtins(student), Student) == student
    for offering in demo.demo_offerings():
        assert msgspec.convert(msgspec.to_builtins(offering), Offering) == offering
        catalog_entry(
            offering.category, msgspec.to_builtins(offering.schedule), msgspec.to_builtins(offering.eligibility)
        )
    round_ = demo.demo_round()
    assert msgspec.convert(msgspec.to_builtins(round_), RoundCreate) == round_


def test_schedules_courses_weekly_and_activities_in_december() -> None:
    for offering in demo.demo_offerings():
        assert offering.schedule
        for entry in offering.schedule:
            if offering.kind == "course":
                assert entry.day is not None
            else:
                assert entry.date is not None
                assert (entry.date.year, entry.date.month) == (2026, 12)


def test_seats_a_little_more_than_the_demand() -> None:
    round_ = demo.demo_round()
    demand = demo.STUDENTS * round_.limits["total"]
    assert 50_000 <= demand <= 52_000
    assert round_.limits["total"] <= round_.limits["pe"] + round_.limits["arts"] + round_.limits["labor"]
    offerings = demo.demo_offerings()
    seats = sum(o.capacity for o in offerings)
    assert 1.05 * demand <= seats <= 1.10 * demand
    # Every category too: a student who misses the hot offerings still finds a seat in each.
    assert sum(demo.DEMAND_PER_STUDENT.values()) == pytest.approx(round_.limits["total"])
    for category, per_student in demo.DEMAND_PER_STUDENT.items():
        assert per_student <= round_.limits[category]
        category_seats = sum(o.capacity for o in offerings if o.category == category)
        assert 1.05 <= category_seats / (per_student * demo.STUDENTS) <= 1.10, category


def test_some_offerings_are_hot_restricted_and_overlapping() -> None:
    offerings = demo.demo_offerings()
    popularity = demo.demo_popularity()
    hot = {o.title.split(",")[0] for o in offerings if popularity[o.id] >= 5}
    assert {"Swimming (Beginners)", "Badminton", "Yoga", "Ceramics"} <= hot
    restricted = [o for o in offerings if o.eligibility != type(o.eligibility)()]
    assert any(o.eligibility.campuses for o in restricted)
    assert any(o.eligibility.degrees for o in restricted)
    assert any(o.eligibility.cohorts for o in restricted)
    assert len(restricted) < len(offerings) // 4
    assert _overlapping_pairs(offerings) > 50


def test_the_round_offers_everything_and_is_ready_to_open() -> None:
    round_ = demo.demo_round()
    assert round_.id == "demo-2026-fall"
    assert round_.offering_ids == [o.id for o in demo.demo_offerings()]
    assert (round_.mode, round_.state, round_.waitlist, round_.allow_drop) == ("fcfs", "draft", True, True)
    assert round_.opens_at is None
    assert round_.closes_at is None


async def _counts(db: asyncpg.Connection) -> tuple[int, ...]:
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM offerings),
                  (SELECT count(*) FROM rounds), (SELECT count(*) FROM round_offerings),
                  (SELECT count(*) FROM audit_events WHERE action = 'demo.load')"""
    )
    assert row is not None
    return tuple(row)


async def test_load_writes_the_generated_rows_fast(db: asyncpg.Connection) -> None:
    started = time.perf_counter()
    summary = await demo.load_demo_data(db)
    assert time.perf_counter() - started < 5
    assert "\n" not in summary
    assert "7390 students" in summary
    assert await _counts(db) == (7390, 180, 1, 180, 1)
    first = demo.demo_offerings()[0]
    row = await db.fetchrow("SELECT capacity, schedule::text, eligibility::text FROM offerings WHERE id = $1", first.id)
    assert row is not None
    assert row["capacity"] == first.capacity
    assert msgspec.json.decode(row["schedule"], type=list[ScheduleEntry]) == first.schedule
    stored = await db.fetchrow(
        "SELECT mode, state, waitlist, allow_drop, limits::text FROM rounds WHERE id = $1", demo.ROUND_ID
    )
    assert stored is not None
    assert (stored["mode"], stored["state"], stored["waitlist"], stored["allow_drop"]) == ("fcfs", "draft", True, True)
    assert msgspec.json.decode(stored["limits"]) == demo.LIMITS
    positions = await db.fetch(
        "SELECT offering_id FROM round_offerings WHERE round_id = $1 ORDER BY position", demo.ROUND_ID
    )
    assert [r["offering_id"] for r in positions] == demo.demo_round().offering_ids
    event = await db.fetchrow("SELECT actor, role, round_id FROM audit_events WHERE action = 'demo.load'")
    assert event is not None
    assert tuple(event) == ("system", "system", demo.ROUND_ID)


async def test_loading_twice_changes_nothing(db: asyncpg.Connection) -> None:
    await demo.load_demo_data(db)
    await db.execute("UPDATE offerings SET capacity = 7 WHERE id = 'pe-yoga-1'")
    before = await _counts(db)
    summary = await demo.load_demo_data(db)
    assert "0 students, 0 offerings, 0 round added" in summary
    assert await _counts(db) == before
    # An administrator's change stays: the demo only fills in what is missing.
    assert await db.fetchval("SELECT capacity FROM offerings WHERE id = 'pe-yoga-1'") == 7
