"""The gate decides only on a state it can prove current: installed and published, not behind a
sequence number the process has seen, and never with an older round state over a newer one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio as aioredis

from courses.students import StudentProfile
from quota.gate import SeatGate
from quota.intents import IdempotencyClaim, SelectIntent
from quota.loader import GENERATION_SHIFT, RoundSnapshot, catalog_entry
from quota.outcomes import GateUnavailable
from tests.stores import Stores

ROUND = "fresh"
GEN = 3
ANN = StudentProfile("ann", 2024, "master", "north")


def snapshot(*, seq: int = GEN << GENERATION_SHIFT, state: str = "open", state_version: int = 1) -> RoundSnapshot:
    return RoundSnapshot(
        round_id=ROUND,
        generation=GEN,
        meta={
            "state": state,
            "state_v": str(state_version),
            "mode": "fcfs",
            "allow_drop": "1",
            "waitlist": "1",
            "elig": '{"co":[],"de":[],"ca":[]}',
            "gen": str(GEN),
            "seq": str(seq),
        },
        catalog={"swim": catalog_entry("pe", [{"day": "mon", "start": "09:00", "end": "10:00"}], {})},
        capacity={"swim": 5},
        enrolled={"swim": 0},
        waiting={"swim": 0},
        holdings={},
        queues={},
        claims=[],
        selections=0,
    )


def select(student: StudentProfile = ANN) -> SelectIntent:
    return SelectIntent(
        round_id=ROUND,
        student=student,
        offering_id="swim",
        waitlist=False,
        mode="student",
        actor=student.id,
        role="student",
    )


@pytest.fixture
async def client(stores: Stores) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(stores.redis_url)
    yield c
    await c.aclose()


@pytest.fixture
def gate(client: aioredis.Redis, redis_namespace: str) -> SeatGate:
    return SeatGate(client, redis_namespace)


async def test_an_installed_state_decides_nothing_until_published(gate: SeatGate) -> None:
    await gate.install(snapshot())
    assert await gate.loaded_state(ROUND) is None
    with pytest.raises(GateUnavailable):
        await gate.select(select())
    assert await gate.publish(ROUND, GEN)
    decision = await gate.select(select())
    assert decision.status == "enrolled"


async def test_a_generation_replaced_meanwhile_is_not_published(gate: SeatGate) -> None:
    await gate.install(snapshot())
    assert not await gate.publish(ROUND, GEN - 1)
    assert await gate.loaded_state(ROUND) is None


async def test_a_state_behind_what_the_process_has_seen_stops_deciding(gate: SeatGate, client: aioredis.Redis) -> None:
    await gate.install(snapshot())
    await gate.publish(ROUND, GEN)
    first = await gate.select(select())
    seen = first.changes[0].entry.seq
    assert gate.floor(ROUND) == seen
    # Redis comes back with the state from before that decision.
    await gate.install(snapshot(seq=seen - 1))
    await gate.publish(ROUND, GEN)
    with pytest.raises(GateUnavailable):
        await gate.select(select(StudentProfile("bob", 2024, "master", "north")))
    # It stops deciding for every process, not only this one, until it is rebuilt.
    assert await gate.loaded_state(ROUND) is None
    assert await client.xlen(gate.keys(ROUND).redo) == 0


async def test_a_state_as_new_as_what_the_process_has_seen_decides(gate: SeatGate) -> None:
    await gate.install(snapshot(seq=(GEN << GENERATION_SHIFT) + 10))
    await gate.publish(ROUND, GEN)
    gate.raise_floor(ROUND, (GEN << GENERATION_SHIFT) + 10)
    decision = await gate.select(select())
    assert decision.changes[0].entry.seq == (GEN << GENERATION_SHIFT) + 11


async def test_a_round_state_is_taken_only_from_a_newer_version(gate: SeatGate) -> None:
    await gate.install(snapshot(state="open", state_version=4))
    await gate.publish(ROUND, GEN)
    assert not await gate.set_round_state(ROUND, "open", 3)
    assert await gate.set_round_state(ROUND, "paused", 5)
    # An upkeep that read the round before the pause does not undo it.
    assert not await gate.set_round_state(ROUND, "open", 4)
    loaded = await gate.loaded_state(ROUND)
    assert loaded is not None
    assert (loaded.state, loaded.state_version) == ("paused", 5)


async def test_a_state_is_not_set_on_a_round_the_gate_does_not_hold(gate: SeatGate, client: aioredis.Redis) -> None:
    assert not await gate.set_round_state(ROUND, "open", 9)
    assert await client.exists(gate.keys(ROUND).meta) == 0


async def test_a_fenced_changes_claim_is_released_and_no_other(gate: SeatGate, client: aioredis.Redis) -> None:
    await gate.install(snapshot())
    await gate.publish(ROUND, GEN)
    claim = IdempotencyClaim(key="k1", fingerprint="fp-1")
    decision = await gate.select(msgspec.structs.replace(select(), claim=claim))
    key = gate.keys(ROUND).idempotency("ann", "k1")
    assert await client.get(key) == b"fp-1"
    # Another request claimed the same key meanwhile (the first claim expired): it stays.
    await client.set(key, b"fp-2")
    assert await gate.release_claims(decision.changes) == 0
    assert await client.get(key) == b"fp-2"
    await client.set(key, b"fp-1")
    assert await gate.release_claims(decision.changes) == 1
    assert await client.get(key) is None
