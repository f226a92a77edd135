"""Each rule of a select, a drop and a capacity change, and the promotion rules, decided by the
gate alone: a round state installed straight into Redis, no HTTP, no PostgreSQL.

The same rules through the students' routes: tests/api/test_select_rules.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from courses.students import StudentProfile
from quota.gate import SeatGate, now_ms
from quota.intents import DropIntent, DropMode, Rate, SelectIntent, SelectMode
from quota.loader import GENERATION_SHIFT, RoundSnapshot, catalog_entry, eligibility_entry
from quota.outcomes import Decision, GateUnavailable, OverRate, Refused
from tests.builders import once, weekly
from tests.stores import Stores

R = "r1"
GEN = 2
HOUR_MS = 3_600_000

MASTERS = {"degrees": ["master"]}
#: offering -> (category, schedule, eligibility, capacity). swim clashes with yoga and trip.
CATALOG: dict[str, tuple[str, list[dict[str, str]], dict[str, list[str]], int]] = {
    "swim": ("pe", [weekly("mon", "14:00", "15:40")], MASTERS, 1),
    "yoga": ("arts", [weekly("mon", "15:00", "16:00")], {}, 5),
    "run": ("pe", [weekly("tue", "09:00", "10:00")], {}, 5),
    "clay": ("arts", [weekly("wed", "09:00", "10:00")], {}, 5),
    "paint": ("arts", [weekly("thu", "09:00", "10:00")], {}, 5),
    "masters": ("labor", [weekly("fri", "09:00", "10:00")], MASTERS, 5),
    # 2026-12-07 is a Monday: a one-off date clashes with the weekly Monday slot.
    "trip": ("labor", [once("2026-12-07", "14:30", "17:00")], {}, 5),
    # Starts when swim ends: [start, end) intervals that touch do not overlap.
    "after": ("labor", [weekly("mon", "15:40", "16:30")], {}, 5),
}


ANN, BEN, CAT, DAN, EVE = (
    StudentProfile(name, 2024, "master", "north") for name in ("ann", "ben", "cat", "dan", "eve")
)
PHD = StudentProfile("phd", 2024, "phd", "north")
#: The refusal of a second pe offering under a pe limit of 1, when the student holds `run`.
OVER_PE = ("category_limit", {"category": "pe", "limit": 1, "held": ["run"]})


def snapshot(
    *,
    state: str = "open",
    mode: str = "fcfs",
    allow_drop: bool = True,
    waitlist: bool = True,
    elig: dict[str, list[str]] | None = None,
    limits: dict[str, int] | None = None,
    window: tuple[int | None, int | None] = (None, None),
    held: Sequence[tuple[StudentProfile, Sequence[str]]] = (),
    seq: int = GEN << GENERATION_SHIFT,
) -> RoundSnapshot:
    """The round over CATALOG; ``held``: students already enrolled in the offerings named."""
    meta = {
        "state": state,
        "state_v": "1",
        "mode": mode,
        "allow_drop": "1" if allow_drop else "0",
        "waitlist": "1" if waitlist else "0",
        "elig": msgspec.json.encode(eligibility_entry(elig or {})).decode(),
        "gen": str(GEN),
        "seq": str(seq),
        **{f"lim_{name}": str(value) for name, value in (limits or {}).items()},
        **{bound: str(ms) for bound, ms in zip(("opens", "closes"), window, strict=True) if ms is not None},
    }
    enrolled = dict.fromkeys(CATALOG, 0)
    holdings: dict[str, bytes] = {}
    for who, offerings in held:
        for offering in offerings:
            enrolled[offering] += 1
        profile = [who.cohort, who.degree, who.campus]
        holdings[who.id] = msgspec.json.encode({"p": profile, "o": dict.fromkeys(offerings, "e")})
    return RoundSnapshot(
        round_id=R,
        generation=GEN,
        meta=meta,
        catalog={o: catalog_entry(c, s, e) for o, (c, s, e, _) in CATALOG.items()},
        capacity={o: cap for o, (_, _, _, cap) in CATALOG.items()},
        enrolled=enrolled,
        waiting=dict.fromkeys(CATALOG, 0),
        holdings=holdings,
        queues={},
        claims=[],
        selections=sum(enrolled.values()),
    )


@pytest.fixture
async def bare_gate(stores: Stores, redis_namespace: str) -> AsyncIterator[SeatGate]:
    """A gate holding no round."""
    client = aioredis.Redis.from_url(stores.redis_url)
    yield SeatGate(client, redis_namespace)
    await client.aclose()


@pytest.fixture
async def gate(bare_gate: SeatGate) -> SeatGate:
    """A gate holding an open fcfs round without limits (a test may install its own over it)."""
    await install(bare_gate)
    return bare_gate


async def install(gate: SeatGate, **round_fields: Any) -> None:
    """Install and publish ``snapshot(**round_fields)``, its seq not behind what the gate has seen."""
    await gate.install(snapshot(seq=max(gate.floor(R), GEN << GENERATION_SHIFT), **round_fields))
    assert await gate.publish(R, GEN)


async def select(
    gate: SeatGate, who: StudentProfile, offering: str, mode: SelectMode = "student", **how: Any
) -> Decision:
    """``who`` selects ``offering``; ``how``: other fields of the SelectIntent (waitlist, rate)."""
    actor, role = (who.id, "student") if mode == "student" else ("admin-1", "admin")
    intent = SelectIntent(
        round_id=R, student=who, offering_id=offering, waitlist=False, mode=mode, actor=actor, role=role
    )
    return await gate.select(msgspec.structs.replace(intent, **how))


async def drop(gate: SeatGate, who: StudentProfile, offering: str, mode: DropMode = "student") -> Decision:
    actor, role = (who.id, "student") if mode == "student" else ("admin-1", "admin")
    return await gate.drop(
        DropIntent(round_id=R, student_id=who.id, offering_id=offering, mode=mode, actor=actor, role=role)
    )


async def refusal(decided: Awaitable[object]) -> tuple[str, dict[str, Any]]:
    """The code and facts of the refusal that ``decided`` ends in."""
    with pytest.raises(Refused) as info:
        await decided
    return info.value.code, info.value.facts


def changes(decision: Decision) -> list[tuple[str, str, str, str]]:
    """(student, offering, status, action) of each change, in the gate's order."""
    return [(c.entry.student, c.entry.offering, c.entry.status, c.entry.action) for c in decision.changes]


async def seats(gate: SeatGate, offering: str) -> tuple[int, int, int]:
    """(capacity, enrolled, waiting) of one offering, as the gate counts them live."""
    capacity, enrolled, waiting = await gate.live_counts(R)
    return capacity[offering], enrolled[offering], waiting[offering]


async def test_select_enrolls_and_logs_the_change(gate: SeatGate) -> None:
    await install(gate, window=(now_ms() - HOUR_MS, now_ms() + HOUR_MS))
    decision = await select(gate, ANN, "yoga")
    assert (decision.status, decision.position) == ("enrolled", None)
    assert changes(decision) == [("ann", "yoga", "enrolled", "select")]
    entry = decision.changes[0].entry
    assert (entry.gen, entry.seq, entry.actor, entry.role) == (GEN, (GEN << GENERATION_SHIFT) + 1, "ann", "student")
    assert await seats(gate, "yoga") == (5, 1, 0)


@pytest.mark.parametrize(
    ("state", "shut"), [("draft", ""), ("paused", ""), ("closed", ""), ("open", "before"), ("open", "after")]
)
async def test_round_not_open_in_another_state_or_outside_its_window(gate: SeatGate, state: str, shut: str) -> None:
    now = now_ms()
    window = {"": (None, None), "before": (now + HOUR_MS, None), "after": (None, now - HOUR_MS)}[shut]
    await install(gate, state=state, window=window)
    assert await refusal(select(gate, ANN, "yoga")) == ("round_not_open", {"state": state})
    assert await seats(gate, "yoga") == (5, 0, 0)


async def test_not_eligible_for_the_round_or_the_offering(gate: SeatGate) -> None:
    assert await refusal(select(gate, PHD, "masters")) == ("not_eligible", {"scope": "offering"})
    assert (await select(gate, ANN, "masters")).status == "enrolled"
    await install(gate, elig={"campuses": ["south"]})
    assert await refusal(select(gate, ANN, "yoga")) == ("not_eligible", {"scope": "round"})
    assert (await select(gate, StudentProfile("sue", 2024, "master", "south"), "yoga")).status == "enrolled"


async def test_already_selected_enrolled_or_waiting(gate: SeatGate) -> None:
    await select(gate, ANN, "swim")
    assert await refusal(select(gate, ANN, "swim")) == ("already_selected", {"status": "enrolled"})
    assert (await select(gate, BEN, "swim", waitlist=True)).status == "waitlisted"
    assert await refusal(select(gate, BEN, "swim", waitlist=True)) == ("already_selected", {"status": "waitlisted"})
    assert await seats(gate, "swim") == (1, 1, 1)


async def test_time_conflict_names_the_held_offering(gate: SeatGate) -> None:
    await select(gate, ANN, "swim")
    assert await refusal(select(gate, ANN, "yoga")) == ("time_conflict", {"with": "swim"})
    assert await refusal(select(gate, ANN, "trip")) == ("time_conflict", {"with": "swim"})  # one-off date on a Monday
    assert (await select(gate, ANN, "after")).status == "enrolled"  # touching, not overlapping


async def test_category_and_total_limits(gate: SeatGate) -> None:
    await install(gate, limits={"pe": 1, "total": 2})
    await select(gate, ANN, "run")
    assert await refusal(select(gate, ANN, "swim")) == OVER_PE
    await select(gate, ANN, "clay")
    assert await refusal(select(gate, ANN, "paint")) == ("total_limit", {"limit": 2, "held": ["clay", "run"]})
    assert await seats(gate, "paint") == (5, 0, 0)


async def test_course_full_then_waitlist_positions(gate: SeatGate) -> None:
    await select(gate, ANN, "swim")
    assert await refusal(select(gate, BEN, "swim")) == (
        "course_full",
        {"capacity": 1, "waitlist": True, "alternatives": ["run"]},
    )
    first = await select(gate, BEN, "swim", waitlist=True)
    assert (first.status, first.position) == ("waitlisted", 1)
    second = await select(gate, CAT, "swim", waitlist=True)
    assert (second.status, second.position) == ("waitlisted", 2)
    entry = second.changes[0].entry
    assert (entry.status, entry.position, entry.wait_seq) == ("waitlisted", 2, entry.seq)
    assert await seats(gate, "swim") == (1, 1, 2)


async def test_course_full_on_a_round_without_a_waitlist(gate: SeatGate) -> None:
    await install(gate, waitlist=False, held=[(ANN, ["swim"])])
    full = ("course_full", {"capacity": 1, "waitlist": False, "alternatives": ["run"]})
    assert await refusal(select(gate, BEN, "swim", waitlist=True)) == full
    assert await seats(gate, "swim") == (1, 1, 0)


async def test_a_waitlist_join_checks_every_rule_but_the_seat(gate: SeatGate) -> None:
    await install(gate, limits={"pe": 1}, held=[(ANN, ["swim"]), (BEN, ["yoga"]), (CAT, ["run"])])
    assert await refusal(select(gate, BEN, "swim", waitlist=True)) == ("time_conflict", {"with": "yoga"})
    assert await refusal(select(gate, CAT, "swim", waitlist=True)) == OVER_PE
    assert await refusal(select(gate, PHD, "masters", waitlist=True)) == ("not_eligible", {"scope": "offering"})
    assert await seats(gate, "swim") == (1, 1, 0)


async def test_waiting_counts_toward_no_limit_nor_conflict(gate: SeatGate) -> None:
    await install(gate, limits={"pe": 1, "total": 1}, held=[(ANN, ["swim"])])
    assert (await select(gate, BEN, "swim", waitlist=True)).status == "waitlisted"
    assert (await select(gate, BEN, "yoga")).status == "enrolled"  # clashes with swim, only waited for


ORDER: list[tuple[dict[str, Any], StudentProfile, str, tuple[str, dict[str, Any]]]] = [
    ({"state": "paused", "mode": "lottery"}, ANN, "yoga", ("round_not_open", {"state": "paused"})),
    ({"mode": "lottery"}, ANN, "nowhere", ("wrong_mode", {"mode": "lottery"})),
    ({"elig": {"campuses": ["south"]}}, ANN, "nowhere", ("offering_not_in_round", {})),
    ({"elig": {"campuses": ["south"]}}, PHD, "masters", ("not_eligible", {"scope": "round"})),
    ({"held": [(PHD, ["masters"])]}, PHD, "masters", ("not_eligible", {"scope": "offering"})),
    ({"held": [(ANN, ["swim", "yoga"])]}, ANN, "swim", ("already_selected", {"status": "enrolled"})),
    ({"limits": {"pe": 1}, "held": [(ANN, ["run", "yoga"])]}, ANN, "swim", ("time_conflict", {"with": "yoga"})),
    ({"limits": {"pe": 1, "total": 1}, "held": [(ANN, ["run"])]}, ANN, "swim", OVER_PE),
    (
        {"limits": {"total": 1}, "held": [(ANN, ["clay"]), (BEN, ["swim"])]},
        ANN,
        "swim",
        ("total_limit", {"limit": 1, "held": ["clay"]}),
    ),
]
ORDER_IDS = "state>mode mode>offering offering>elig round>offering elig>held held>clash clash>cat cat>total total>full"


@pytest.mark.parametrize(("round_fields", "who", "offering", "first"), ORDER, ids=ORDER_IDS.split())
async def test_the_first_rule_that_fails_is_reported(
    gate: SeatGate, round_fields: dict[str, Any], who: StudentProfile, offering: str, first: tuple[str, Any]
) -> None:
    await install(gate, **round_fields)
    assert await refusal(select(gate, who, offering)) == first
    assert await refusal(select(gate, who, offering, waitlist=True)) == first


async def test_a_drop_promotes_the_earliest_waiter_who_still_fits(gate: SeatGate) -> None:
    await install(gate, limits={"pe": 1}, held=[(ANN, ["swim"])])
    for who in (BEN, CAT, EVE, DAN):
        await select(gate, who, "swim", waitlist=True)
    await select(gate, BEN, "yoga")  # now clashes with swim
    await select(gate, CAT, "run")  # now at the pe limit
    await select(gate, msgspec.structs.replace(EVE, degree="phd"), "clay")  # swim is for masters only
    decision = await drop(gate, ANN, "swim")
    assert decision.status == "enrolled"  # what the drop ended
    assert changes(decision) == [("ann", "swim", "dropped", "drop"), ("dan", "swim", "enrolled", "promote")]
    promoted = decision.changes[1].entry
    assert (promoted.actor, promoted.role) == ("system", "system")
    assert await seats(gate, "swim") == (1, 1, 3)
    # Those passed over kept their places: the next freed seat goes to ben, who fits again.
    assert changes(await drop(gate, BEN, "yoga")) == [("ben", "yoga", "dropped", "drop")]  # swim is full
    assert changes(await drop(gate, DAN, "swim"))[1:] == [("ben", "swim", "enrolled", "promote")]
    assert await refusal(select(gate, CAT, "swim", waitlist=True)) == ("already_selected", {"status": "waitlisted"})
    # Leaving the waitlist frees no seat and promotes nobody.
    assert changes(await drop(gate, CAT, "swim")) == [("cat", "swim", "dropped", "drop")]
    assert await seats(gate, "swim") == (1, 1, 1)


async def test_a_drop_that_frees_the_students_own_slot_promotes_them(gate: SeatGate) -> None:
    await install(gate, held=[(ANN, ["swim"])])
    await select(gate, BEN, "swim", waitlist=True)
    await select(gate, BEN, "yoga")
    assert changes(await drop(gate, ANN, "swim")) == [("ann", "swim", "dropped", "drop")]  # ben passed over
    assert await seats(gate, "swim") == (1, 0, 1)
    decision = await drop(gate, BEN, "yoga")
    assert changes(decision) == [("ben", "yoga", "dropped", "drop"), ("ben", "swim", "enrolled", "promote")]
    assert await seats(gate, "swim") == (1, 1, 0)


async def test_a_capacity_raise_promotes_passing_over_a_student_at_the_total_limit(gate: SeatGate) -> None:
    await install(gate, limits={"total": 3}, held=[(ANN, ["swim"]), (BEN, ["clay", "paint"])])
    await select(gate, BEN, "swim", waitlist=True)
    await select(gate, CAT, "swim", waitlist=True)
    await select(gate, DAN, "swim", waitlist=True)
    await select(gate, BEN, "masters")  # now at the total limit
    decision = await gate.set_capacity(R, "swim", 2, actor="admin-1")
    assert changes(decision) == [("cat", "swim", "enrolled", "promote")]
    assert await seats(gate, "swim") == (2, 2, 2)
    decision = await gate.set_capacity(R, "swim", 4, actor="admin-1")
    assert changes(decision) == [("dan", "swim", "enrolled", "promote")]
    assert await seats(gate, "swim") == (4, 3, 1)


async def test_a_capacity_cut_below_the_enrolled_is_refused(gate: SeatGate) -> None:
    await select(gate, ANN, "yoga")
    await select(gate, BEN, "yoga")
    cut = gate.set_capacity(R, "yoga", 1, actor="admin-1")
    assert await refusal(cut) == ("capacity_below_enrolled", {"enrolled": 2, "capacity": 1})
    assert await seats(gate, "yoga") == (5, 2, 0)
    assert changes(await gate.set_capacity(R, "yoga", 2, actor="admin-1")) == []
    assert await seats(gate, "yoga") == (2, 2, 0)


async def test_admin_mode_ignores_the_round_state_only(gate: SeatGate) -> None:
    await install(gate, state="closed", mode="lottery", limits={"pe": 1})
    decision = await select(gate, ANN, "swim", mode="admin")
    assert changes(decision) == [("ann", "swim", "enrolled", "force_enroll")]
    assert await refusal(select(gate, PHD, "masters", mode="admin")) == ("not_eligible", {"scope": "offering"})
    assert await refusal(select(gate, ANN, "yoga", mode="admin")) == ("time_conflict", {"with": "swim"})
    assert await refusal(select(gate, ANN, "run", mode="admin")) == (
        "category_limit",
        {"category": "pe", "limit": 1, "held": ["swim"]},
    )
    assert await refusal(select(gate, BEN, "swim", mode="admin")) == (
        "course_full",
        {"capacity": 1, "waitlist": True, "alternatives": ["run"]},
    )
    assert await seats(gate, "swim") == (1, 1, 0)


async def test_override_skips_every_rule_and_the_capacity(gate: SeatGate) -> None:
    await install(gate, state="closed", limits={"total": 1}, held=[(ANN, ["swim"]), (BEN, ["yoga"])])
    decision = await select(gate, BEN, "swim", mode="override")  # full, clashes, over the total limit
    assert changes(decision) == [("ben", "swim", "enrolled", "force_enroll_override")]
    assert (await select(gate, PHD, "masters", mode="override")).status == "enrolled"
    assert await seats(gate, "swim") == (1, 2, 0)
    assert await refusal(select(gate, BEN, "swim", mode="override")) == ("already_selected", {"status": "enrolled"})
    assert await refusal(select(gate, BEN, "nowhere", mode="override")) == ("offering_not_in_round", {})


async def test_drop_refusals_in_order(gate: SeatGate) -> None:
    await install(gate, state="paused", allow_drop=False, held=[(ANN, ["yoga"])])
    assert await refusal(drop(gate, ANN, "yoga")) == ("round_not_open", {"state": "paused"})
    await install(gate, allow_drop=False, held=[(ANN, ["yoga"])])
    assert await refusal(drop(gate, ANN, "yoga")) == ("drop_not_allowed", {})
    assert await refusal(drop(gate, BEN, "yoga")) == ("drop_not_allowed", {})
    await install(gate, held=[(ANN, ["yoga"])])
    assert await refusal(drop(gate, ANN, "clay")) == ("not_found", {})
    assert await seats(gate, "yoga") == (5, 1, 0)
    # An administrator's drop checks only that there is something to drop.
    await install(gate, state="closed", allow_drop=False, held=[(ANN, ["yoga"])])
    assert changes(await drop(gate, ANN, "yoga", mode="admin")) == [("ann", "yoga", "dropped", "force_drop")]
    assert await refusal(drop(gate, ANN, "yoga", mode="admin")) == ("not_found", {})
    assert await seats(gate, "yoga") == (5, 0, 0)


async def test_a_round_not_installed_or_stopped_is_unavailable(bare_gate: SeatGate) -> None:
    gate = bare_gate
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: select(gate, BEN, "yoga"),
        lambda: drop(gate, ANN, "yoga"),
        lambda: gate.set_capacity(R, "yoga", 9, actor="admin-1"),
        lambda: gate.live_counts(R),
    ]
    for attempt in attempts:
        with pytest.raises(GateUnavailable):
            await attempt()
    await install(gate, held=[(ANN, ["yoga"])])  # (a state not yet published: test_freshness.py)
    assert (await select(gate, CAT, "yoga")).status == "enrolled"
    await gate.stop_decisions(R)
    for attempt in attempts:
        with pytest.raises(GateUnavailable):
            await attempt()
    assert await gate.loaded_state(R) is None


async def test_the_fourth_immediate_select_is_over_the_rate(gate: SeatGate) -> None:
    rate = Rate(per_second=1, burst=3)
    assert (await select(gate, ANN, "yoga", rate=rate)).status == "enrolled"
    # Refusals count too: they were decided.
    for _ in range(2):
        assert await refusal(select(gate, ANN, "yoga", rate=rate)) == ("already_selected", {"status": "enrolled"})
    with pytest.raises(OverRate) as info:
        await select(gate, ANN, "clay", rate=rate)
    assert 0 < info.value.wait_seconds <= 1
    assert await seats(gate, "clay") == (5, 0, 0)
    # The budget is the student's own.
    assert (await select(gate, BEN, "clay", rate=rate)).status == "enrolled"


async def test_a_students_holding_with_waitlist_positions_as_the_pages_read_it(bare_gate: SeatGate) -> None:
    assert await bare_gate.holding(R, "ann") is None  # no state loaded: the pages ask PostgreSQL
    await install(bare_gate)
    gate = bare_gate
    assert await gate.holding(R, "ann") == []
    await select(gate, ANN, "swim")
    await select(gate, BEN, "swim", waitlist=True)
    await select(gate, CAT, "swim", waitlist=True)
    await select(gate, CAT, "run")
    assert sorted(await gate.holding(R, "cat") or []) == [("run", "enrolled", None), ("swim", "waitlisted", 2)]
    assert await gate.holding(R, "ben") == [("swim", "waitlisted", 1)]
    # Ann's drop promotes Ben; Cat moves up; Ann holds nothing.
    await drop(gate, ANN, "swim")
    assert await gate.holding(R, "ann") == []
    assert await gate.holding(R, "ben") == [("swim", "enrolled", None)]
    assert sorted(await gate.holding(R, "cat") or []) == [("run", "enrolled", None), ("swim", "waitlisted", 1)]
    await gate.stop_decisions(R)
    assert await gate.holding(R, "cat") is None
