"""Keeping the gate in step with administrators' catalog changes (rounds, offerings, capacity)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from courses.queries import NamedQueries
from quota.entries import Change
from quota.gate import GateUnavailable, Refused
from quota.loader import catalog_entry
from selection import errors
from selection.refusals import refusal_error
from selection.writer import DATABASE_FAILURES, NotCommitted

if TYPE_CHECKING:
    from selection.runtime import Runtime

_queries = NamedQueries("selection", "sync.sql")


async def sync_round(runtime: Runtime, round_id: str) -> None:
    runtime.catalog.forget()
    state = await runtime.pool.fetchval(_queries("round_state"), round_id)
    if state is None:
        return
    try:
        if await runtime.gate.loaded_generation(round_id) is None:
            await runtime.keeper.rebuild(round_id, force=False)
        else:
            await runtime.gate.set_round_state(round_id, state)
    except GateUnavailable as exc:
        # PostgreSQL has the change; the keeper loads the round as soon as Redis answers.
        raise errors.Unavailable("Recorded, but the admission gate is unreachable; it catches up shortly") from exc


async def sync_offering(runtime: Runtime, offering_id: str) -> None:
    runtime.catalog.forget()
    rows = await runtime.pool.fetch(_queries("offering_in_rounds"), offering_id)
    for row in rows:
        entry = catalog_entry(row["category"], row["schedule"], row["eligibility"])
        try:
            await runtime.gate.set_catalog_entry(row["round_id"], offering_id, entry)
        except GateUnavailable as exc:
            raise errors.Unavailable("Recorded, but the admission gate is unreachable") from exc


async def change_capacity(runtime: Runtime, offering_id: str, capacity: int, actor: str) -> None:
    """PostgreSQL's update is held open while every round's gate takes the new capacity, so a
    refusal in any round leaves nothing changed anywhere."""
    runtime.catalog.forget()
    promotions: list[Change] = []
    changed: list[tuple[str, int]] = []
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            old = await conn.fetchval(_queries("lock_offering_capacity"), offering_id)
            if old is None:
                raise errors.NotFound(f"No offering {offering_id}")
            rounds = [r["round_id"] for r in await conn.fetch(_queries("offering_in_rounds"), offering_id)]
            await conn.execute(_queries("set_capacity"), offering_id, capacity)
            await conn.execute(_queries("audit_capacity"), actor, offering_id, f"capacity {old} -> {capacity}")
            try:
                for round_id in rounds:
                    decision = await runtime.gate.set_capacity(round_id, offering_id, capacity, actor=actor)
                    changed.append((round_id, old))
                    promotions.extend(decision.changes)
            except (Refused, GateUnavailable):
                for round_id, previous in changed:
                    await runtime.gate.set_capacity(round_id, offering_id, previous, actor=actor)
                raise
    except Refused as refused:
        raise refusal_error(refused.code, refused.facts, offering_id) from refused
    except GateUnavailable as exc:
        raise errors.Unavailable("The admission gate is unreachable; nothing was changed") from exc
    except DATABASE_FAILURES as exc:
        raise errors.Unavailable("PostgreSQL is unreachable; repeat the request") from exc
    if promotions:
        try:
            await runtime.writer.commit(promotions)
        except NotCommitted as exc:
            # The promotions stay in the redo log; recovery commits them within seconds.
            raise errors.Unavailable("Capacity changed; the promotions it made are being recorded") from exc
