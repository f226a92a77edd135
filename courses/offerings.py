"""Offerings in PostgreSQL: bulk upserts and an offering's patch, under the catalog's rules.

The admission gate keeps its own copy of what it decides with (an offering's capacity, category,
schedule and eligibility, per round), so the rules here are about keeping it true:

- capacity of an offering that is in a round changes only through ``GateSync.change_capacity``;
- category, schedule and eligibility do not change while a round that offers it is open or
  paused (``offering_in_use``); in a draft or closed round they do, and the gate is told.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from courses import audit
from courses.import_preview import ImportCounts, compare
from courses.models import Offering, OfferingPatch
from courses.ports import GateSync
from courses.students import repeated_ids
from lib import errors
from lib.database import connection, transaction
from lib.sql import Connection, NamedQueries

_sql = NamedQueries("courses", "queries.sql")

#: The fields the gate decides with, besides capacity.
GUARDED = ("category", "schedule", "eligibility")
BUSY = frozenset({"open", "paused"})

_encode = msgspec.json.Encoder().encode


def _json(value: Any) -> str:
    return _encode(value).decode()


def offering_of(row: asyncpg.Record) -> Offering:
    return msgspec.convert(dict(row.items()), Offering)


def offering_of_fields(row: asyncpg.Record) -> Offering:
    """The offering of a row that has other columns too."""
    return msgspec.convert({k: v for k, v in row.items() if k in Offering.__struct_fields__}, Offering)


async def _rounds_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Each offering's rounds and their states; the rounds stay in these states until commit."""
    rounds: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in await conn.fetch(_sql("offering_rounds"), list(ids)):
        rounds[row["offering_id"]].append((row["round_id"], row["state"]))
    return rounds


def _guarded_changes(before: Offering, after: Offering) -> list[str]:
    return [name for name in GUARDED if getattr(before, name) != getattr(after, name)]


def _refuse_if_in_use(offering_id: str, fields: list[str], rounds: list[tuple[str, str]]) -> None:
    busy = [(round_id, state) for round_id, state in rounds if state in BUSY]
    if fields and busy:
        round_id, state = busy[0]
        raise errors.OfferingInUse(
            f"Offering {offering_id} is in round {round_id}, which is {state}: its {', '.join(fields)} "
            "cannot change until that round is closed",
            offering_id=offering_id,
            round_id=round_id,
            fields=fields,
        )


async def _refuse_capacity_cuts(conn: Connection, capacities: dict[str, int]) -> None:
    """The gate refuses these too; asking here first keeps a refused import from writing anything."""
    if not capacities:
        return
    for row in await conn.fetch(_sql("enrolled_counts"), list(capacities)):
        offering_id, enrolled = row["offering_id"], row["enrolled"]
        if enrolled > capacities[offering_id]:
            raise errors.CapacityBelowEnrolled(
                f"Round {row['round_id']} has {enrolled} students enrolled in {offering_id}; "
                f"its capacity cannot go down to {capacities[offering_id]}",
                offering_id=offering_id,
                round_id=row["round_id"],
                enrolled=enrolled,
            )


def _patched(offering: Offering, patch: OfferingPatch) -> Offering:
    """The offering with the patch's fields other than capacity applied."""
    changes = {
        name: value
        for name in patch.__struct_fields__
        if name != "capacity" and (value := getattr(patch, name)) is not msgspec.UNSET
    }
    if changes.get("title_zh", msgspec.UNSET) is None:
        changes["title_zh"] = msgspec.UNSET
    return msgspec.structs.replace(offering, **changes)


class OfferingCatalog:
    """Reads and writes of offerings; the gate is told of every change it decides with."""

    def __init__(self, pool: asyncpg.Pool, sync: GateSync) -> None:
        self._pool = pool
        self._sync = sync

    async def get(self, offering_id: str) -> Offering:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(_sql("offering"), offering_id)
        if row is None:
            raise errors.NotFound(f"No offering {offering_id}")
        return offering_of(row)

    async def every(self) -> list[tuple[Offering, list[str]]]:
        """Every offering, by category then id, with the ids of the rounds that offer it."""
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("every_offering"))
        return [(offering_of_fields(row), list(row["round_ids"])) for row in rows]

    async def compare(self, offerings: Sequence[Offering]) -> ImportCounts:
        """How many of these are new, changed or as stored: an import's preview."""
        return await compare(self._pool, offerings)

    async def upsert(self, offerings: Sequence[Offering], actor: str, action: str) -> int:
        """Insert or replace every offering; all or nothing as far as PostgreSQL can tell.

        A new capacity for an offering that some round offers is written by the gate after this
        commits (each one audited as ``capacity.change``); every other field is written here. A cut
        below the seats taken is refused before anything is written; only a seat taken in the
        moment between this check and the gate's own makes the gate refuse after the commit, and
        then the answer is that refusal while the other fields stay written.
        """
        ids = [o.id for o in offerings]
        repeated_ids(ids)
        through_gate: dict[str, int] = {}
        told: list[str] = []
        async with transaction(self._pool) as conn:
            current = {row["id"]: offering_of(row) for row in await conn.fetch(_sql("lock_offerings"), ids)}
            rounds = await _rounds_of(conn, ids)
            capacities = []
            for offering in offerings:
                before = current.get(offering.id)
                if before is not None and rounds.get(offering.id):
                    _refuse_if_in_use(offering.id, _guarded_changes(before, offering), rounds[offering.id])
                    if offering.capacity != before.capacity:
                        through_gate[offering.id] = offering.capacity
                    if msgspec.structs.replace(offering, capacity=before.capacity) != before:
                        told.append(offering.id)
                capacities.append(before.capacity if offering.id in through_gate and before else offering.capacity)
            await _refuse_capacity_cuts(conn, through_gate)
            await conn.execute(
                _sql("upsert_offerings"),
                ids,
                [o.title for o in offerings],
                [o.category for o in offerings],
                [o.kind for o in offerings],
                [o.teacher for o in offerings],
                [o.campus for o in offerings],
                capacities,
                [_json(o.schedule) for o in offerings],
                [_json(o.eligibility) for o in offerings],
                [o.description for o in offerings],
                [o.title_in_chinese for o in offerings],
            )
            await audit.record(conn, actor, action, f"{len(offerings)} offerings upserted")
        for offering_id, capacity in through_gate.items():
            await self._sync.change_capacity(offering_id, capacity, actor)
        for offering_id in told:
            await self._sync.offering_changed(offering_id)
        return len(offerings)

    async def patch(self, offering_id: str, patch: OfferingPatch, actor: str) -> Offering:
        """Apply a PATCH: ``offering_in_use`` is checked before anything changes, then capacity goes
        through the gate, then the other fields are written (rechecked under lock against a round
        opened meanwhile)."""
        before = await self.get(offering_id)
        after = _patched(before, patch)
        guarded = _guarded_changes(before, after)
        if guarded:
            async with transaction(self._pool) as conn:
                _refuse_if_in_use(offering_id, guarded, (await _rounds_of(conn, [offering_id]))[offering_id])
        if patch.capacity is not msgspec.UNSET and patch.capacity != before.capacity:
            await self._sync.change_capacity(offering_id, patch.capacity, actor)
        if after != before:
            async with transaction(self._pool) as conn:
                rows = await conn.fetch(_sql("lock_offerings"), [offering_id])
                if not rows:
                    raise errors.NotFound(f"No offering {offering_id}")
                locked = offering_of(rows[0])
                after = _patched(locked, patch)
                changed = [
                    n for n in patch.__struct_fields__ if n != "capacity" and getattr(after, n) != getattr(locked, n)
                ]
                if changed:
                    rounds = (await _rounds_of(conn, [offering_id]))[offering_id]
                    _refuse_if_in_use(offering_id, _guarded_changes(locked, after), rounds)
                    await conn.execute(
                        _sql("update_offering_details"),
                        offering_id,
                        after.title,
                        after.category,
                        after.teacher,
                        after.campus,
                        _json(after.schedule),
                        _json(after.eligibility),
                        after.description,
                        after.title_in_chinese,
                    )
                    await audit.record(
                        conn, actor, "offering.patch", f"changed {', '.join(changed)}", offering_id=offering_id
                    )
            if changed:
                await self._sync.offering_changed(offering_id)
        return await self.get(offering_id)
