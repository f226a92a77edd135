"""The demo data set: a seeded, deterministic term shaped like a real one.

7,390 students across cohorts, degrees, campuses and colleges; 180 offerings across pe, arts and
labor (weekly courses and one-off activities) whose capacities add up to a little more than
the demand (about seven selections per student), a handful of very popular ones, some
overlapping times, some eligibility restrictions; one draft round with limits, ready to open.
The generators are pure (the load test draws its students' wishes from the same data); the
loader writes them in one transaction and can run again without harm.
"""

from __future__ import annotations

import datetime as dt
import random

import asyncpg
import msgspec

from courses.models import Day, Degree, Eligibility, Offering, RoundCreate, ScheduleEntry, Student

SEED = 20261122
STUDENTS = 7390
ROUND_ID = "2026-fall"
LIMITS = {"pe": 2, "arts": 3, "labor": 3, "total": 7}
#: Expected selections per student and category, and how much room the capacities leave.
DEMAND_PER_STUDENT = {"pe": 2.0, "arts": 2.5, "labor": 2.4}
HEADROOM = 1.08

_GIVEN = (  # noqa: SIM905 (a list of names reads best as words)
    "Wei Fang Min Jing Lei Yan Hao Xin Yu Chen Tao Lin Jie Hui Qiang Li Na Ming Bo Ting Anna "
    "Lukas Sofia Omar Priya Kenji Amara Mateo Elena Noah Aisha Yusuf Mei Ravi Ines"
).split()
_FAMILY = (  # noqa: SIM905 (a list of names reads best as words)
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Gao Lin Luo Zheng "
    "Liang Xie Song Tang Han Feng Deng Cao Peng Schmidt Garcia Okafor Tanaka Singh Novak"
).split()
_COLLEGES = (
    "Sciences",
    "Engineering",
    "Medicine",
    "Law",
    "Economics",
    "Humanities",
    "Education",
    "Arts",
    "Agriculture",
    "Computing",
    "Public Health",
    "Environment",
)
_CAMPUSES = ("main", "east", "medical")

# (title, kind, popularity): popular offerings fill in seconds; their capacity stays small.
_PE = [
    ("Swimming", 5.0),
    ("Badminton", 4.5),
    ("Yoga", 4.0),
    ("Tennis", 3.0),
    ("Table Tennis", 2.5),
    ("Basketball", 2.0),
    ("Football", 1.6),
    ("Volleyball", 1.5),
    ("Tai Chi", 1.4),
    ("Running Club", 1.0),
    ("Pilates", 2.2),
    ("Fencing", 1.3),
    ("Rock Climbing", 2.0),
    ("Martial Arts", 1.2),
    ("Dance Fitness", 1.8),
    ("Orienteering", 0.8),
]
_ARTS = [
    ("Ceramics", 5.0),
    ("Photography", 3.0),
    ("Choir", 1.5),
    ("Calligraphy", 1.8),
    ("Oil Painting", 2.5),
    ("Film Appreciation", 2.0),
    ("Drama Workshop", 1.4),
    ("Guitar", 2.4),
    ("Printmaking", 1.1),
    ("Creative Writing", 1.3),
    ("Sculpture", 1.2),
]
_LABOR = [
    ("Campus Gardening", 1.5),
    ("Library Service", 1.0),
    ("Community Tutoring", 1.2),
    ("Lab Safety Duty", 0.9),
    ("Food Bank Shift", 1.4),
    ("Tree Planting Day", 2.0),
    ("Museum Guiding", 1.8),
    ("Recycling Drive", 0.8),
    ("Elderly Care Visit", 1.1),
]
_COUNTS = {"pe": 80, "arts": 55, "labor": 45}
_SLOTS = [("08:00", "09:40"), ("10:00", "11:40"), ("14:00", "15:40"), ("16:00", "17:40"), ("19:00", "20:40")]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat")
_ACTIVITY_SLOTS = [("09:00", "11:30"), ("14:00", "17:00")]
_FIRST_DAY = dt.date(2026, 12, 5)


def demo_students(seed: int = SEED) -> list[Student]:
    rng = random.Random(seed)
    students = []
    for n in range(1, STUDENTS + 1):
        cohort = rng.choices((2022, 2023, 2024, 2025), weights=(1, 2, 3, 3))[0]
        degree: Degree = "phd" if rng.random() < (0.45 if cohort <= 2023 else 0.15) else "master"
        students.append(
            Student(
                id=f"s{n:05d}",
                name=f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}",
                cohort=cohort,
                degree=degree,
                campus=rng.choices(_CAMPUSES, weights=(6, 3, 1))[0],
                college=rng.choice(_COLLEGES),
            )
        )
    return students


def _eligibility(rng: random.Random) -> Eligibility:
    roll = rng.random()
    if roll < 0.06:
        return Eligibility(campuses=[rng.choice(_CAMPUSES[1:])])
    if roll < 0.09:
        return Eligibility(degrees=["phd"])
    if roll < 0.13:
        return Eligibility(cohorts=[2024, 2025])
    return Eligibility()


def demo_offerings(seed: int = SEED) -> list[Offering]:
    """180 offerings; capacities share out each category's demand by popularity, with headroom."""
    rng = random.Random(seed + 1)
    offerings: list[Offering] = []
    for category, catalog in (("pe", _PE), ("arts", _ARTS), ("labor", _LABOR)):
        count = _COUNTS[category]
        picks = [catalog[i % len(catalog)] for i in range(count)]
        popularity = [p * rng.uniform(0.7, 1.3) for _, p in picks]
        seats = DEMAND_PER_STUDENT[category] * STUDENTS * HEADROOM
        weights = [1.0 / (0.6 + p) for p in popularity]  # the most wanted get the fewest seats
        total = sum(weights)
        sections: dict[str, int] = {}
        for i, (title, _) in enumerate(picks):
            sections[title] = sections.get(title, 0) + 1
            is_activity = (category == "labor" and i % 3 != 0) or (category != "labor" and i % 8 == 7)
            if is_activity:
                start, end = rng.choice(_ACTIVITY_SLOTS)
                date = _FIRST_DAY + dt.timedelta(days=rng.randrange(16))
                schedule = [ScheduleEntry(date=date, start=start, end=end)]
            else:
                start, end = rng.choice(_SLOTS)
                schedule = [ScheduleEntry(day=rng.choice(_DAYS), start=start, end=end)]
            offerings.append(
                Offering(
                    id=f"{category}-{i + 1:03d}",
                    title=f"{title} {sections[title]}",
                    category=category,  # type: ignore[arg-type]
                    kind="activity" if is_activity else "course",
                    capacity=max(15, round(seats * weights[i] / total)),
                    teacher=f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}",
                    campus=rng.choices(_CAMPUSES, weights=(6, 3, 1))[0],
                    schedule=schedule,
                    eligibility=_eligibility(rng),
                    description=f"{title}, {'a one-off activity' if is_activity else 'a weekly course'}.",
                )
            )
    return offerings


def demo_round(offerings: list[Offering]) -> RoundCreate:
    return RoundCreate(
        id=ROUND_ID,
        name="2026 Fall: physical education, arts and labor education",
        offering_ids=[o.id for o in offerings],
        limits=dict(LIMITS),  # type: ignore[arg-type]
        allow_drop=True,
        waitlist=True,
    )


_STUDENTS_SQL = """
INSERT INTO students (id, name, cohort, degree, campus, college)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[])
ON CONFLICT (id) DO UPDATE SET name = excluded.name, cohort = excluded.cohort, degree = excluded.degree,
    campus = excluded.campus, college = excluded.college, updated_at = now()
"""
_OFFERINGS_SQL = """
INSERT INTO offerings (id, title, category, kind, teacher, campus, capacity, schedule, eligibility, description)
SELECT id, title, category, kind, teacher, campus, capacity, schedule::jsonb, eligibility::jsonb, description
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],
            $9::text[], $10::text[])
     AS t(id, title, category, kind, teacher, campus, capacity, schedule, eligibility, description)
ON CONFLICT (id) DO NOTHING
"""
_ROUND_SQL = """
INSERT INTO rounds (id, name, mode, state, limits, allow_drop, waitlist)
VALUES ($1, $2, 'fcfs', 'draft', $3::jsonb, $4, $5)
ON CONFLICT (id) DO NOTHING
"""
_ROUND_OFFERINGS_SQL = """
INSERT INTO round_offerings (round_id, offering_id, position)
SELECT $1, o, p FROM unnest($2::text[], $3::int[]) AS t(o, p)
ON CONFLICT DO NOTHING
"""
_AUDIT_SQL = """
INSERT INTO audit_events (actor, role, action, round_id, outcome, detail)
VALUES ('system', 'system', 'demo.load', $1, 'ok', $2)
"""


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


async def load_demo_data(conn: asyncpg.Connection) -> str:
    """Write the demo set; offerings and the round already there are left as they are."""
    students = demo_students()
    offerings = demo_offerings()
    round_ = demo_round(offerings)
    async with conn.transaction():
        await conn.execute(
            _STUDENTS_SQL,
            [s.id for s in students],
            [s.name for s in students],
            [s.cohort for s in students],
            [s.degree for s in students],
            [s.campus for s in students],
            [s.college for s in students],
        )
        await conn.execute(
            _OFFERINGS_SQL,
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
        )
        await conn.execute(_ROUND_SQL, round_.id, round_.name, _json(round_.limits), round_.allow_drop, round_.waitlist)
        await conn.execute(_ROUND_OFFERINGS_SQL, round_.id, round_.offering_ids, list(range(len(offerings))))
        summary = (
            f"demo data: {len(students)} students, {len(offerings)} offerings "
            f"({sum(o.capacity for o in offerings)} seats), round {round_.id} (draft)"
        )
        await conn.execute(_AUDIT_SQL, round_.id, summary)
    return summary
