"""The demo data set: one term of a graduate school, shaped like the real one, the same on every run.

7,390 students, 180 offerings (pe / arts / labor; weekly courses and one-off December activities)
and one first-come round that offers them all. The generators are pure (a seeded ``random.Random``
each), so tests and load tests rebuild exactly the data that ``selection demo`` loads.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

import asyncpg
import msgspec

from courses.demo_catalog import (
    ABOUT,
    ACTIVITY,
    BLOCKS,
    CATALOG,
    COHORTS,
    COLLEGES,
    COURSE,
    DECEMBER,
    SURNAMES,
    SYLLABLES,
    TITLES_ZH,
    WEEKDAYS,
    WEEKENDS,
    WORLD_FAMILY,
    WORLD_GIVEN,
    Line,
)
from courses.models import Category, Eligibility, LimitKey, Offering, RoundCreate, ScheduleEntry, Student
from lib.sql import NamedQueries

SEED = 20260901
ROUND_ID = "demo-2026-fall"
STUDENTS = sum(COHORTS.values())
LIMITS: dict[LimitKey, int] = {"pe": 2, "arts": 3, "labor": 3, "total": 7}
#: What a student takes of each category in a full round: seven in all, the most the limits allow.
DEMAND_PER_STUDENT: dict[Category, float] = {"pe": 1.9, "arts": 2.55, "labor": 2.55}
#: About the 51,000 selections of a real opening.
DEMAND = STUDENTS * LIMITS["total"]


def _name(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return f"{rng.choice(WORLD_GIVEN)} {rng.choice(WORLD_FAMILY)}"
    # The commonest surnames are far commoner than the rest.
    surname = rng.choices(SURNAMES, weights=[60 / (rank + 6) for rank in range(len(SURNAMES))])[0]
    given = rng.choice(SYLLABLES)
    if rng.random() < 0.7:
        given += rng.choice(SYLLABLES).lower()
    return f"{surname} {given}"


def demo_students(seed: int = SEED) -> list[Student]:
    """``s00001`` … ``s07390``, the cohorts of ``COHORTS`` in random order, each in a college."""
    rng = random.Random(f"{seed}:students")
    profiles = [profile for profile, count in COHORTS.items() for _ in range(count)]
    rng.shuffle(profiles)
    colleges = rng.choices(COLLEGES, weights=[share for _, _, share in COLLEGES], k=len(profiles))
    return [
        Student(id=f"s{n:05d}", name=_name(rng), cohort=cohort, degree=degree, campus=campus, college=college)
        for n, ((cohort, degree), (college, campus, _)) in enumerate(zip(profiles, colleges, strict=True), start=1)
    ]


def _clock(hours: str) -> tuple[str, str]:
    start, end = hours.split("-")
    return start, end


def _schedule(line: Line, rng: random.Random, taken: set[tuple[str, str]]) -> list[ScheduleEntry]:
    if line.kind == ACTIVITY:
        start, end = _clock(line.hours)
        # Big events and whole days go to weekends, smaller ones anywhere in the term's last weeks.
        day = rng.choice(WEEKENDS if line.capacity >= 500 or end > "17:00" else DECEMBER)
        while (day.isoformat(), line.slug) in taken:
            day = rng.choice(DECEMBER)
        taken.add((day.isoformat(), line.slug))
        return [ScheduleEntry(date=day, start=start, end=end)]
    while True:
        weekday = rng.choice(WEEKDAYS)
        start, end = _clock(line.hours or rng.choice(BLOCKS))
        # A course's sections meet at different times, so a student who misses one finds another.
        if (weekday + start, line.slug) not in taken:
            taken.add((weekday + start, line.slug))
            return [ScheduleEntry(day=weekday, start=start, end=end)]


def _eligibility(line: Line, campus: str) -> Eligibility:
    if line.only == "campus":
        return Eligibility(campuses=[campus])
    if line.only in ("phd", "master"):
        return Eligibility(degrees=["phd" if line.only == "phd" else "master"])
    if line.only:
        return Eligibility(cohorts=[int(cohort) for cohort in line.only.split()])
    return Eligibility()


_FIELD: dict[str, str] = {"pe": "physical-education", "arts": "arts-education", "labor": "labor-education"}


def _describe(line: Line) -> str:
    if line.slug in ABOUT:
        return ABOUT[line.slug]
    if line.kind == ACTIVITY:
        return f"A one-off {_FIELD[line.category]} activity in December; meet at the venue ten minutes early."
    return f"A weekly {_FIELD[line.category]} course for the whole autumn term."


def _title(line: Line, section: int, first: ScheduleEntry) -> str:
    """Sections of a course by number; dates of an activity by their day, as a student tells them apart."""
    if line.kind == COURSE or first.date is None:
        return f"{line.title}, section {section}"
    return f"{line.title}, {first.date.day} December"


def _title_zh(line: Line, section: int, first: ScheduleEntry) -> str:
    """The same in Chinese: "游泳（初级）2班", "冬季徒步（12月6日）"."""
    title = TITLES_ZH[line.slug]
    if line.kind == COURSE or first.date is None:
        return f"{title}{section}班"
    return f"{title}（{first.date.month}月{first.date.day}日）"


def _generated(seed: int) -> list[tuple[Offering, float]]:
    rng = random.Random(f"{seed}:offerings")
    teachers = [_name(rng) for _ in range(60)]
    taken: set[tuple[str, str]] = set()
    made: list[tuple[Offering, float]] = []
    for line in CATALOG:
        for section in range(1, line.sections + 1):
            several = line.sections > 1
            campus = line.where[(section - 1) % len(line.where)]
            teacher = line.host or rng.choice(teachers)
            schedule = _schedule(line, rng, taken)
            offering = Offering(
                id=f"{line.category}-{line.slug}" + (f"-{section}" if several else ""),
                title=_title(line, section, schedule[0]) if several else line.title,
                title_zh=_title_zh(line, section, schedule[0]) if several else TITLES_ZH[line.slug],
                category=line.category,
                kind=line.kind,
                capacity=line.capacity,
                teacher=teacher,
                campus=campus,
                schedule=schedule,
                eligibility=_eligibility(line, campus),
                description=_describe(line),
            )
            made.append((offering, line.popularity))
    return made


def demo_offerings(seed: int = SEED) -> list[Offering]:
    """The 180 offerings, in catalog order (the round's order)."""
    return [offering for offering, _ in _generated(seed)]


def demo_popularity(seed: int = SEED) -> dict[str, float]:
    """Each offering's demand relative to its seats, for load tests that want a realistic rush."""
    return {offering.id: popularity for offering, popularity in _generated(seed)}


def demo_round(offerings: Sequence[Offering] | None = None) -> RoundCreate:
    """The round that offers every demo offering: first come, waitlists on, ready to open."""
    chosen = demo_offerings() if offerings is None else offerings
    return RoundCreate(
        id=ROUND_ID,
        name="Autumn 2026: physical, arts and labor education",
        offering_ids=[offering.id for offering in chosen],
        mode="fcfs",
        limits=dict(LIMITS),
        allow_drop=True,
        waitlist=True,
    )


_encode = msgspec.json.Encoder().encode


def _json(value: object) -> str:
    return _encode(value).decode()


@functools.cache
def _sql() -> NamedQueries:
    return NamedQueries("courses", "demo.sql")


async def load_demo_data(conn: asyncpg.Connection) -> str:
    """Add whatever of the demo data set is missing, in one transaction; returns a one-line summary.

    Rows already there are left as they are: an administrator may have changed them, and a
    capacity or a schedule of an offering in an open round changes only through the gate.
    """
    students, offerings = demo_students(), demo_offerings()
    round_ = demo_round(offerings)
    q = _sql()
    async with conn.transaction():
        new_students = await conn.fetchval(
            q("insert_students"),
            [s.id for s in students],
            [s.name for s in students],
            [s.cohort for s in students],
            [s.degree for s in students],
            [s.campus for s in students],
            [s.college for s in students],
        )
        new_offerings = await conn.fetchval(
            q("insert_offerings"),
            [o.id for o in offerings],
            [o.title for o in offerings],
            [o.category for o in offerings],
            [o.kind for o in offerings],
            [o.teacher for o in offerings],
            [o.campus for o in offerings],
            [o.capacity for o in offerings],
            [_json(o.schedule) for o in offerings],
            [_json(o.eligibility) for o in offerings],
            [o.description for o in offerings],
            [o.title_in_chinese for o in offerings],
        )
        new_round = await conn.fetchval(
            q("insert_round"),
            round_.id,
            round_.name,
            round_.mode,
            round_.opens_at,
            round_.closes_at,
            _json(round_.eligibility),
            _json(round_.limits),
            round_.allow_drop,
            round_.waitlist,
        )
        if new_round is not None:
            # Only a round made just now gets its offerings: adding to a live round is the gate's business.
            await conn.execute(q("insert_round_offerings"), round_.id, round_.offering_ids)
        added = f"{new_students} students, {new_offerings} offerings, {0 if new_round is None else 1} round added"
        if new_students or new_offerings or new_round is not None:
            await conn.execute(q("audit_load"), round_.id, added)
    seats = sum(o.capacity for o in offerings)
    return (
        f"demo data: {len(students)} students, {len(offerings)} offerings, round {round_.id} "
        f"({added}); {seats} seats for up to {DEMAND} selections"
    )
