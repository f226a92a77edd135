"""Random sequences of selects, drops, waitlists, capacity changes and administrators' forced
changes, played against the real app and, side by side, against a plain model of the contract's
rules (docs/API.md: "Data", "Waitlist rules", the order of the checks; docs/DECISIONS.md).

The model predicts every answer's status and code; after every step the service's record (the
enrollments export, the round's stats, the acting student's own list) must equal the model's
holdings and waitlists, and at the end the invariant checker must find nothing. The catalog is
small and tight (capacities of 1 and 2, overlapping times, category limits, students of several
cohorts and degrees) so that collisions are frequent.

``SELECTION_TEST_MODEL_EXAMPLES`` and ``SELECTION_TEST_MODEL_STEPS`` set the budget (``make fuzz``
raises both).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
import httpx
import hypothesis
import msgspec
import redis.asyncio as aioredis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from litestar.testing import TestClient

from lib.settings import Settings
from selection.web.app import create_app
from tests.catalog_data import ADMIN, offering
from tests.catalog_data import student as student_row
from tests.conftest import bearer
from tests.invariants import checked
from tests.stores import Stores, with_database

DEFAULT_EXAMPLES = 10
EXAMPLES = int(os.environ.get("SELECTION_TEST_MODEL_EXAMPLES", str(DEFAULT_EXAMPLES)))
STEPS = int(os.environ.get("SELECTION_TEST_MODEL_STEPS", "20"))
#: Shrinking a failing run replays it hundreds of times (minutes): only with a raised budget.
PHASES = [phase for phase in hypothesis.Phase if phase != hypothesis.Phase.shrink or EXAMPLES > DEFAULT_EXAMPLES]

# --- the catalog ---

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Meeting:
    """A schedule entry: weekly (``day``) or one-off (``date``), ``[start, end)`` in minutes."""

    day: str | None
    date: str | None
    start: int
    end: int

    @property
    def weekday(self) -> str:
        if self.day is not None:
            return self.day
        assert self.date is not None
        return DAYS[dt.date.fromisoformat(self.date).weekday()]

    def clashes(self, other: Meeting) -> bool:
        """The contract's rule: overlapping intervals on the same day; two one-off entries are on
        the same day when their dates are equal, a one-off and a weekly one when the date falls on
        the weekday."""
        if self.start >= other.end or other.start >= self.end:
            return False
        if self.date is not None and other.date is not None:
            return self.date == other.date
        return self.weekday == other.weekday

    def as_entry(self) -> dict[str, str]:
        clock = {
            "start": f"{self.start // 60:02d}:{self.start % 60:02d}",
            "end": f"{self.end // 60:02d}:{self.end % 60:02d}",
        }
        return clock | ({"day": self.day} if self.day is not None else {"date": str(self.date)})


def weekly(day: str, start: str, end: str) -> Meeting:
    return Meeting(day, None, _minutes(start), _minutes(end))


def once(date: str, start: str, end: str) -> Meeting:
    return Meeting(None, date, _minutes(start), _minutes(end))


def _minutes(clock: str) -> int:
    return int(clock[:2]) * 60 + int(clock[3:])


@dataclass(frozen=True)
class Eligibility:
    cohorts: tuple[int, ...] = ()
    degrees: tuple[str, ...] = ()
    campuses: tuple[str, ...] = ()

    def admits(self, who: StudentSpec) -> bool:
        """Empty lists mean everyone."""
        return (
            (not self.cohorts or who.cohort in self.cohorts)
            and (not self.degrees or who.degree in self.degrees)
            and (not self.campuses or who.campus in self.campuses)
        )

    def as_body(self) -> dict[str, list[Any]]:
        return {"cohorts": list(self.cohorts), "degrees": list(self.degrees), "campuses": list(self.campuses)}


@dataclass(frozen=True)
class StudentSpec:
    id: str
    cohort: int
    degree: str
    campus: str


@dataclass(frozen=True)
class OfferingSpec:
    name: str
    category: str
    capacity: int
    schedule: tuple[Meeting, ...]
    eligibility: Eligibility = Eligibility()


STUDENTS = (
    StudentSpec("rm-ana", 2024, "master", "north"),
    StudentSpec("rm-ben", 2024, "phd", "north"),
    StudentSpec("rm-cai", 2023, "master", "south"),
    StudentSpec("rm-dee", 2022, "phd", "south"),
    # Outside the round's cohorts: refused everywhere, but an administrator's override still enrols.
    StudentSpec("rm-fay", 2021, "master", "north"),
)
BY_ID = {s.id: s for s in STUDENTS}
# 2026-11-02 is a Monday, 2026-11-03 a Tuesday: one-off meetings that fall on weekly ones' days.
OFFERINGS = (
    OfferingSpec("swim", "pe", 1, (weekly("mon", "10:00", "11:30"),)),
    # Touches swim (11:30) without overlapping it; overlaps clay.
    OfferingSpec("yoga", "pe", 1, (weekly("mon", "11:30", "12:30"),)),
    OfferingSpec("clay", "arts", 1, (once("2026-11-02", "12:00", "13:00"),), Eligibility(degrees=("master",))),
    # Weekly on Tuesdays, overlapping farm's one-off Tuesday.
    OfferingSpec("band", "arts", 2, (weekly("tue", "09:30", "10:30"),), Eligibility(cohorts=(2023, 2024))),
    OfferingSpec("farm", "labor", 1, (once("2026-11-03", "09:00", "10:00"),)),
)
SPEC = {o.name: o for o in OFFERINGS}
STUDENT_IDS = st.sampled_from([s.id for s in STUDENTS])
NAMES = st.sampled_from([o.name for o in OFFERINGS])
# No limit on labor (a missing key); a student could hold four, the total stops them at three.
LIMITS = {"pe": 1, "arts": 2, "total": 3}
ROUND_ELIGIBILITY = Eligibility(cohorts=(2022, 2023, 2024))

# --- the model ---

Held = Literal["enrolled", "waitlisted"]


@dataclass(frozen=True)
class Answer:
    """What the model expects a request to be answered: a status, and a code for a problem."""

    status: int
    code: str | None = None
    position: int | None = None


@dataclass
class Model:
    """The contract's rules over one round, in plain Python."""

    capacity: dict[str, int] = field(default_factory=lambda: {o.name: o.capacity for o in OFFERINGS})
    #: Per offering, the enrolled students.
    enrolled: dict[str, set[str]] = field(default_factory=lambda: {o.name: set() for o in OFFERINGS})
    #: Per offering, the waiting students in the order they joined.
    waiting: dict[str, list[str]] = field(default_factory=lambda: {o.name: [] for o in OFFERINGS})
    state: str = "open"

    def held(self, student: str, offering: str) -> Held | None:
        if student in self.enrolled[offering]:
            return "enrolled"
        if student in self.waiting[offering]:
            return "waitlisted"
        return None

    def holdings(self) -> set[tuple[str, str, str, int | None]]:
        """(student, offering, status, position) of every current selection."""
        out: set[tuple[str, str, str, int | None]] = set()
        for name in SPEC:
            out |= {(s, name, "enrolled", None) for s in self.enrolled[name]}
            out |= {(s, name, "waitlisted", i + 1) for i, s in enumerate(self.waiting[name])}
        return out

    def _eligible(self, student: str, name: str) -> bool:
        who = BY_ID[student]
        return ROUND_ELIGIBILITY.admits(who) and SPEC[name].eligibility.admits(who)

    def _broken_rule(self, student: str, name: str) -> str | None:
        """Time conflict, category limit, total limit: against enrolled selections only."""
        mine = [o for o in SPEC if o != name and student in self.enrolled[o]]
        if any(a.clashes(b) for o in mine for a in SPEC[o].schedule for b in SPEC[name].schedule):
            return "time_conflict"
        category = SPEC[name].category
        if category in LIMITS and sum(SPEC[o].category == category for o in mine) >= LIMITS[category]:
            return "category_limit"
        if len(mine) >= LIMITS["total"]:
            return "total_limit"
        return None

    def select(self, student: str, name: str, *, waitlist: bool, mode: str) -> Answer:
        """``mode``: ``student``, ``admin`` (every rule but the round's state) or ``override``."""
        if mode == "student" and self.state != "open":
            return Answer(409, "round_not_open")
        if mode != "override" and not self._eligible(student, name):
            return Answer(409, "not_eligible")
        held = self.held(student, name)
        # An administrator's enrolment of a waiting student moves them to a seat (DECISIONS.md).
        if held == "enrolled" or (held == "waitlisted" and mode == "student"):
            return Answer(409, "already_selected")
        if mode != "override" and (broken := self._broken_rule(student, name)):
            return Answer(409, broken)
        if len(self.enrolled[name]) < self.capacity[name] or mode == "override":
            if held == "waitlisted":
                self.waiting[name].remove(student)
            self.enrolled[name].add(student)
            return Answer(201)
        if waitlist and held is None:
            self.waiting[name].append(student)
            return Answer(202, position=len(self.waiting[name]))
        return Answer(409, "course_full")

    def drop(self, student: str, name: str, *, mode: str) -> Answer:
        if mode == "student" and self.state != "open":
            return Answer(409, "round_not_open")
        held = self.held(student, name)
        if held is None:
            return Answer(404, "not_found")
        if held == "waitlisted":
            self.waiting[name].remove(student)
        else:
            self.enrolled[name].remove(student)
            self._promote(name)
        # The drop may have freed the time or the limit that held the dropping student back from
        # what they wait for (DECISIONS.md); the service goes through those offerings by id.
        for other in sorted(SPEC):
            if student in self.waiting[other]:
                self._promote(other)
        return Answer(204)

    def set_capacity(self, name: str, capacity: int) -> Answer:
        if capacity == self.capacity[name]:
            # Not a change (nor a cut, even below seats an override took): nothing happens.
            return Answer(200)
        if capacity < len(self.enrolled[name]):
            return Answer(409, "capacity_below_enrolled")
        self.capacity[name] = capacity
        # Any free seat goes to a waiting student at once, whether the capacity went up or not.
        self._promote(name)
        return Answer(200)

    def _promote(self, name: str) -> None:
        """Free seats go to the earliest waiting students who satisfy every rule; one who does not
        keeps their place and is passed over."""
        for student in list(self.waiting[name]):
            if len(self.enrolled[name]) >= self.capacity[name]:
                return
            if self._eligible(student, name) and self._broken_rule(student, name) is None:
                self.waiting[name].remove(student)
                self.enrolled[name].add(student)


# --- the service ---


def _expect(response: httpx.Response, answer: Answer, what: str) -> None:
    where = f"{what}: {response.status_code} {response.text[:300]}"
    assert response.status_code == answer.status, f"expected {answer}; {where}"
    if answer.code is not None:
        assert response.headers["content-type"].startswith("application/problem+json"), where
        assert response.json()["code"] == answer.code, f"expected {answer}; {where}"


@dataclass
class Arena:
    """Where each run of the machine gets a database (a clone of the migrated template) and a
    Redis namespace of its own: runs never see each other, and the invariant checker at the end of
    a run reads only what that run did."""

    stores: Stores
    base: Settings
    #: An event loop of the test's own, for the stores' housekeeping (the test is synchronous).
    portal: BlockingPortal
    runs: Iterator[int] = field(default_factory=itertools.count)

    def settings(self) -> Settings:
        n = next(self.runs)
        name = f"sel_{self.stores.run_id}_model{n}"
        self.portal.call(self._admin, f'CREATE DATABASE "{name}" TEMPLATE "{self.stores.template}"')
        return msgspec.structs.replace(
            self.base,
            database_url=with_database(self.stores.admin_url, name),
            redis_namespace=f"{self.base.redis_namespace}model{n}:",
            # The steps come faster than a student would; the rate limit is not what is tested here.
            rate_limit=0,
        )

    def dispose(self, settings: Settings) -> None:
        assert settings.database_url is not None
        # The path, not the last "/": an embedded server's URL names its socket folder in the query.
        name = urlsplit(settings.database_url).path.lstrip("/")
        self.portal.call(self._admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.portal.call(self._forget, settings.redis_namespace)

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self.stores.admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def _forget(self, namespace: str) -> None:
        client = aioredis.Redis.from_url(self.stores.redis_url)
        try:
            async for key in client.scan_iter(match=namespace + "*", count=1000):
                await client.delete(key)
        finally:
            await client.aclose()


class RulesMachine(RuleBasedStateMachine):
    """One run: a service of its own (database, namespace, app, client), students, offerings, an
    open round; closed and removed at teardown."""

    arena: Arena
    ROUND = "rm"

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.ids = {name: f"rm-{name}" for name in SPEC}
        self.names = {v: k for k, v in self.ids.items()}
        self.admin = bearer("admin-1", "admin")
        self.last_student: str | None = None
        self.settings = self.arena.settings()
        self.client = TestClient(app=create_app(self.settings))
        try:
            self.client.__enter__()
            self._open_round()
        except BaseException:
            self._close()
            raise

    def _open_round(self) -> None:
        students = [student_row(s.id, cohort=s.cohort, degree=s.degree, campus=s.campus) for s in STUDENTS]
        self._ok(self.client.put(f"{ADMIN}/students", json=students, headers=self.admin))
        rows = [
            offering(
                self.ids[o.name],
                category=o.category,
                capacity=o.capacity,
                schedule=[m.as_entry() for m in o.schedule],
                eligibility=o.eligibility.as_body(),
            )
            for o in OFFERINGS
        ]
        self._ok(self.client.put(f"{ADMIN}/offerings", json=rows, headers=self.admin))
        body = {
            "id": self.ROUND,
            "name": self.ROUND,
            "offering_ids": list(self.ids.values()),
            "limits": LIMITS,
            "waitlist": True,
            "eligibility": ROUND_ELIGIBILITY.as_body(),
        }
        self._ok(self.client.post(f"{ADMIN}/rounds", json=body, headers=self.admin))
        self._ok(self.client.post(f"{ADMIN}/rounds/{self.ROUND}/open", headers=self.admin))
        deadline = time.monotonic() + 10
        while (ready := self.client.get("/ready")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.02)

    def _close(self) -> None:
        try:
            self.client.__exit__(None, None, None)
        finally:
            self.arena.dispose(self.settings)

    @staticmethod
    def _ok(response: httpx.Response) -> None:
        assert response.status_code < 300, response.text

    # --- what can happen (each step compares the answer with the model's) ---

    def _select(self, student: str, name: str, waitlist: bool) -> None:
        expected = self.model.select(student, name, waitlist=waitlist, mode="student")
        response = self.client.post(
            f"/api/v1/rounds/{self.ROUND}/selections",
            json={"offering_id": self.ids[name], "waitlist": waitlist},
            headers=bearer(student),
        )
        _expect(response, expected, f"{student} selects {name} (waitlist {waitlist})")
        if expected.status in (201, 202):
            body = response.json()
            assert body["status"] == ("enrolled" if expected.status == 201 else "waitlisted"), body
            assert body["position"] == expected.position, body
            assert (body["student_id"], body["offering_id"]) == (student, self.ids[name]), body
        self.last_student = student

    def _drop(self, student: str, name: str) -> None:
        expected = self.model.drop(student, name, mode="student")
        response = self.client.delete(
            f"/api/v1/rounds/{self.ROUND}/selections/{self.ids[name]}", headers=bearer(student)
        )
        _expect(response, expected, f"{student} drops {name}")
        self.last_student = student

    def _change_capacity(self, name: str, capacity: int) -> None:
        expected = self.model.set_capacity(name, capacity)
        response = self.client.patch(
            f"{ADMIN}/offerings/{self.ids[name]}", json={"capacity": capacity}, headers=self.admin
        )
        _expect(response, expected, f"capacity of {name} to {capacity}")

    def _force_enroll(self, student: str, name: str, override: bool) -> None:
        expected = self.model.select(student, name, waitlist=False, mode="override" if override else "admin")
        response = self.client.post(
            f"{ADMIN}/rounds/{self.ROUND}/selections",
            json={"student_id": student, "offering_id": self.ids[name], "override": override},
            headers=self.admin,
        )
        _expect(response, expected, f"admin enrols {student} in {name} (override {override})")
        if expected.status == 201:
            assert response.json()["status"] == "enrolled", response.text
        self.last_student = student

    def _force_drop(self, student: str, name: str) -> None:
        expected = self.model.drop(student, name, mode="admin")
        response = self.client.delete(
            f"{ADMIN}/rounds/{self.ROUND}/selections/{student}/{self.ids[name]}", headers=self.admin
        )
        _expect(response, expected, f"admin drops {student} from {name}")
        self.last_student = student

    def _held_or_any(self, data: st.DataObject) -> tuple[str, str]:
        """Mostly something someone holds or waits for; now and then anything (most likely a 404)."""
        anything = data.draw(st.tuples(STUDENT_IDS, NAMES))
        held = sorted((s, o) for s, o, _, _ in self.model.holdings())
        # In the middle: the ends of a list are what hypothesis draws most often.
        return data.draw(st.sampled_from([*held, anything, *held]))

    # --- the steps: selects and waitlists come twice as often as the rest ---

    @rule(student=STUDENT_IDS, name=NAMES, waitlist=st.booleans())
    def select(self, student: str, name: str, waitlist: bool) -> None:
        self._select(student, name, waitlist)

    @rule(student=STUDENT_IDS, name=NAMES)
    def select_or_wait(self, student: str, name: str) -> None:
        self._select(student, name, True)

    @rule(name=NAMES, order=st.permutations([s.id for s in STUDENTS]))
    def rush(self, name: str, order: list[str]) -> None:
        """Everyone wants the same offering, in some order: a full one and a queue behind it."""
        for student in order:
            self._select(student, name, True)

    @precondition(lambda self: self.model.holdings())
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self._drop(*self._held_or_any(data))

    @rule(name=NAMES, capacity=st.integers(0, 3))
    def change_capacity(self, name: str, capacity: int) -> None:
        self._change_capacity(name, capacity)

    @rule(student=STUDENT_IDS, name=NAMES, override=st.booleans())
    def force_enroll(self, student: str, name: str, override: bool) -> None:
        self._force_enroll(student, name, override)

    @precondition(lambda self: self.model.holdings())
    @rule(data=st.data())
    def force_drop(self, data: st.DataObject) -> None:
        self._force_drop(*self._held_or_any(data))

    @rule(data=st.data())
    def pause_for_a_step(self, data: st.DataObject) -> None:
        """The round paused around one change: students are turned away, administrators are not,
        and a freed seat still goes to the waitlist. (Reopened at once, or most of a run would be
        spent paused.)"""
        self._ok(self.client.post(f"{ADMIN}/rounds/{self.ROUND}/pause", headers=self.admin))
        self.model.state = "paused"
        what = data.draw(st.sampled_from(["select", "drop", "force_enroll", "force_drop", "capacity"]))
        if what == "select":
            self._select(data.draw(STUDENT_IDS), data.draw(NAMES), data.draw(st.booleans()))
        elif what == "drop":
            self._drop(*self._held_or_any(data))
        elif what == "force_enroll":
            self._force_enroll(data.draw(STUDENT_IDS), data.draw(NAMES), data.draw(st.booleans()))
        elif what == "force_drop":
            self._force_drop(*self._held_or_any(data))
        else:
            self._change_capacity(data.draw(NAMES), data.draw(st.integers(0, 3)))
        self._ok(self.client.post(f"{ADMIN}/rounds/{self.ROUND}/open", headers=self.admin))
        self.model.state = "open"

    # --- after every step ---

    @invariant()
    def the_record_is_the_model(self) -> None:
        response = self.client.get(f"{ADMIN}/rounds/{self.ROUND}/enrollments?format=json", headers=self.admin)
        assert response.status_code == 200, response.text
        record = {(r["student_id"], self.names[r["offering_id"]], r["status"], r["position"]) for r in response.json()}
        expected = self.model.holdings()
        assert record == expected, f"service has {sorted(record - expected)}, model has {sorted(expected - record)}"

    @invariant()
    def the_stats_are_the_model(self) -> None:
        response = self.client.get(f"{ADMIN}/rounds/{self.ROUND}/stats", headers=self.admin)
        assert response.status_code == 200, response.text
        stats = response.json()
        holdings = self.model.holdings()
        assert stats["selections"] == len(holdings), stats
        assert stats["students"] == len({s for s, _, _, _ in holdings}), stats
        assert {
            self.names[o["offering_id"]]: (o["capacity"], o["enrolled"], o["waitlisted"]) for o in stats["offerings"]
        } == {
            name: (self.model.capacity[name], len(self.model.enrolled[name]), len(self.model.waiting[name]))
            for name in SPEC
        }, stats

    @invariant()
    def the_student_sees_the_model(self) -> None:
        if self.last_student is None:
            return
        student = self.last_student
        response = self.client.get(f"/api/v1/rounds/{self.ROUND}/selections", headers=bearer(student))
        assert response.status_code == 200, response.text
        seen = {(self.names[r["offering_id"]], r["status"], r["position"]) for r in response.json()}
        assert seen == {(o, status, pos) for s, o, status, pos in self.model.holdings() if s == student}

    def teardown(self) -> None:
        try:
            report = self.client.blocking_portal.call(checked, self.settings)
            assert report.clean, report.text()
        finally:
            self._close()


def test_the_service_follows_the_rules_model(stores: Stores, settings: Settings) -> None:
    with start_blocking_portal() as portal:
        machine = type("Machine", (RulesMachine,), {"arena": Arena(stores, settings, portal)})
        run_state_machine_as_test(
            machine,
            settings=hypothesis.settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                phases=PHASES,
                deadline=None,
                suppress_health_check=[hypothesis.HealthCheck.too_slow],
            ),
        )
