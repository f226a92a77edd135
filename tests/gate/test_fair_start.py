"""The fair-start window in the gate: what is held and when, the seeded order, the decider's
lease and its takeover, decided by the gate alone (a round installed straight into Redis)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from courses.students import StudentProfile
from quota.fair_start import HeldRequest, fair_order
from quota.gate import SeatGate, now_ms
from quota.loader import GENERATION_SHIFT
from quota.outcomes import Held, Refused
from selection.fair_start import FairStart
from tests.gate.test_rules import GEN, R, bare_gate, drop, select, snapshot

__all__ = ["bare_gate"]  # the fixture, shared

SEED = "a-seed-for-the-tests"
STUDENTS = [StudentProfile(f"st{i:02d}", 2024, "master", "north") for i in range(8)]


def rank(student_id: str) -> str:
    return hashlib.sha256((SEED + ":" + student_id).encode()).hexdigest()


async def install_window(gate: SeatGate, ends_in_ms: int) -> int:
    """An open fcfs round (tests/gate/test_rules.py's catalog) whose window ends in ``ends_in_ms``."""
    loaded = snapshot(seq=max(gate.floor(R), GEN << GENERATION_SHIFT))
    ends = now_ms() + ends_in_ms
    meta = {**loaded.meta, "fs_end": str(ends), "fs_seed": SEED}
    await gate.install(msgspec.structs.replace(loaded, meta=meta))
    assert await gate.publish(R, GEN)
    return ends


async def held(decided: Awaitable[object]) -> Held:
    with pytest.raises(Held) as info:
        await decided
    return info.value


def rounds() -> Callable[[], Awaitable[list[str]]]:
    async def listed() -> list[str]:
        return [R]

    return listed


async def past(ends: int) -> None:
    await asyncio.sleep(max(0, ends - now_ms()) / 1000 + 0.02)


def test_the_order_is_the_seeded_passes_then_late_arrivals() -> None:
    def request(student: str, k: int, n: int) -> HeldRequest:
        return HeldRequest(student, f"o{n}", "[]", "0", student, "student", "0", "", "", n=n, k=k, at=0, ticket=str(n))

    a, b, c = sorted(["x", "y", "z"], key=rank)
    requests = [
        request(c, 1, 1), request(a, 1, 2), request(c, 2, 3), request(b, 1, 4),
        request(a, 2, 5), request("late1", 0, 6), request(b, 2, 7), request("late0", 0, 8), request(c, 3, 9),
    ]  # fmt: skip
    order = fair_order(SEED, requests)
    assert [(r.student, r.k) for r in order] == [
        (a, 1), (b, 1), (c, 1), (a, 2), (b, 2), (c, 2), (c, 3), ("late1", 0), ("late0", 0),
    ]  # fmt: skip
    # A decider that takes over after the first four goes on with the fifth: the order of a request
    # does not depend on what is decided already.
    rest = [r for r in requests if r not in order[:4]]
    assert fair_order(SEED, rest) == order[4:]


async def test_selects_in_the_window_are_held_and_others_are_not(bare_gate: SeatGate) -> None:
    gate = bare_gate
    ends = await install_window(gate, 400)
    ann, ben = STUDENTS[:2]
    waiting = await held(select(gate, ann, "run"))
    assert waiting.ends_ms == ends
    # An administrator's select is not held, nor is a drop.
    assert (await select(gate, ann, "clay", mode="admin")).status == "enrolled"
    assert (await drop(gate, ann, "clay")).changes[0].entry.status == "dropped"
    assert (await select(gate, ann, "run", mode="admin")).status == "enrolled"
    await past(ends)
    # After the window's end, with a held select undecided: held as well, behind it.
    late = await held(select(gate, ben, "run"))
    decider = FairStart(gate, rounds())
    assert await decider.try_settle(R)
    settled, replies = await gate.held_outcomes(R, [waiting.ticket, late.ticket])
    assert settled
    # The administrator enrolled ann meanwhile: her held select meets the normal rules when decided.
    with pytest.raises(Refused) as refused:
        gate.outcome(R, replies[waiting.ticket] or [])
    assert refused.value.code == "already_selected"
    assert gate.outcome(R, replies[late.ticket] or []).status == "enrolled"
    # Decided: the next select is decided at once.
    assert (await select(gate, ben, "clay")).status == "enrolled"


async def test_a_late_select_does_not_overtake_the_held_ones(bare_gate: SeatGate) -> None:
    gate = bare_gate
    ends = await install_window(gate, 300)
    ann, ben = STUDENTS[:2]
    # swim has one seat: the select held in the window gets it, the one held after it does not,
    # though the decider sees both at once.
    first = await held(select(gate, ann, "swim"))
    await past(ends)
    second = await held(select(gate, ben, "swim"))
    assert await FairStart(gate, rounds()).try_settle(R)
    _, replies = await gate.held_outcomes(R, [first.ticket, second.ticket])
    assert gate.outcome(R, replies[first.ticket] or []).status == "enrolled"
    with pytest.raises(Refused) as refused:
        gate.outcome(R, replies[second.ticket] or [])
    assert refused.value.code == "course_full"


async def test_a_decider_that_dies_is_taken_over_without_deciding_twice(bare_gate: SeatGate) -> None:
    gate = bare_gate
    ends = await install_window(gate, 500)
    # Eight students, two selects each: first run (5 seats), then clay (5 seats).
    tickets: dict[str, tuple[str, str]] = {}
    for who in STUDENTS:
        tickets[(await held(select(gate, who, "run"))).ticket] = (who.id, "run")
    for who in STUDENTS:
        tickets[(await held(select(gate, who, "clay"))).ticket] = (who.id, "clay")
    await past(ends)
    # A decider takes the lease and decides the first five of the order, then dies.
    window = await gate.held_window(R)
    order = fair_order(window.seed, window.requests)
    lease = await gate.window_lease(R, "acquire", "dead", 300)
    assert lease.granted
    replies = await gate.decide_held(R, order[:5], "dead")
    assert all(r[0] == b"ok" for r in replies)
    # Another decider waits for the lease to expire, then goes on.
    other = FairStart(gate, rounds(), lease_seconds=1.0)
    assert not await other.try_settle(R)
    await asyncio.sleep(0.35)
    assert await other.try_settle(R)
    assert other.decided == len(tickets) - 5
    # The dead one comes back: its lease is gone, it decides nothing.
    again = await gate.decide_held(R, order[5:], "dead")
    assert {tuple(r[:2]) for r in again} == {(b"err", b"lease_lost")}
    # Every held select decided exactly once, in the seeded passes.
    _, outcomes = await gate.held_outcomes(R, list(tickets))
    assert set(outcomes) == set(tickets)
    enrolled = [tickets[t] for t in (r.ticket for r in order) if outcomes[t] and outcomes[t][0] == "ok"]  # type: ignore[index]
    ranked = sorted(STUDENTS, key=lambda s: rank(s.id))
    assert enrolled == [(s.id, "run") for s in ranked[:5]] + [(s.id, "clay") for s in ranked[:5]]
    redo = await gate.pending(R, None)
    assert sorted((c.entry.student, c.entry.offering) for c in redo) == sorted(enrolled)


async def test_a_state_that_stops_deciding_mid_batch_decides_none_of_the_rest(bare_gate: SeatGate) -> None:
    gate = bare_gate
    ends = await install_window(gate, 200)
    for who in STUDENTS[:3]:
        await held(select(gate, who, "run"))
    await past(ends)
    window = await gate.held_window(R)
    order = fair_order(window.seed, window.requests)
    assert (await gate.window_lease(R, "acquire", "t", 5000)).granted
    await gate.stop_decisions(R)
    replies: list[Any] = await gate.decide_held(R, order, "t")
    assert [r[:2] for r in replies] == [[b"err", b"unavailable"], [b"err", b"lease_lost"], [b"err", b"lease_lost"]]
    assert len((await gate.held_window(R)).requests) == 3
