"""SeatGateSync: keeps the gate in step with administrators' catalog changes (rounds, offerings,
capacity). It is the catalog's ``courses.ports.GateSync``, so the catalog never imports this."""

from __future__ import annotations

import asyncpg

from courses.cached import CachedCatalog
from lib import errors
from lib.failures import DATABASE_FAILURES
from lib.sql import NamedQueries
from quota.entries import Change
from quota.gate import SeatGate
from quota.loader import catalog_entry
from quota.outcomes import GateUnavailable, Refused
from selection.group_commit import NotCommitted, RedoWriter
from selection.recovery import GateRecovery
from selection.refusals import refusal_error

_sql = NamedQueries("selection", "queries.sql")


class SeatGateSync:
    def __init__(
        self,
        pool: asyncpg.Pool,
        gate: SeatGate,
        writer: RedoWriter,
        recovery: GateRecovery,
        catalog: CachedCatalog,
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._writer = writer
        self._recovery = recovery
        self._catalog = catalog

    async def round_changed(self, round_id: str) -> None:
        self._catalog.forget()
        row = await self._pool.fetchrow(_sql("round_state"), round_id)
        if row is None:
            return
        try:
            if await self._gate.loaded_generation(round_id) is None:
                await self._recovery.rebuild(round_id, force=False)
            else:
                await self._gate.set_round_state(round_id, row["state"], row["state_version"])
        except GateUnavailable as exc:
            # PostgreSQL has the change; recovery loads the round as soon as Redis answers.
            raise errors.Unavailable("Recorded, but the admission gate is unreachable; it catches up shortly") from exc

    async def offering_changed(self, offering_id: str) -> None:
        self._catalog.forget()
        rows = await self._pool.fetch(_sql("offering_in_rounds"), offering_id)
        for row in rows:
            entry = catalog_entry(row["category"], row["schedule"], row["eligibility"])
            try:
                await self._gate.set_catalog_entry(row["round_id"], offering_id, entry)
            except GateUnavailable as exc:
                raise errors.Unavailable("Recorded, but the admission gate is unreachable") from exc

    async def change_capacity(self, offering_id: str, capacity: int, actor: str) -> None:
        """PostgreSQL's update is held open while every round's gate takes the new capacity, so a
        refusal in any round leaves nothing changed anywhere."""
        self._catalog.forget()
        promotions: list[Change] = []
        changed: list[tuple[str, int]] = []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                old = await conn.fetchval(_sql("lock_offering_capacity"), offering_id)
                if old is None:
                    raise errors.NotFound(f"No offering {offering_id}")
                rounds = [r["round_id"] for r in await conn.fetch(_sql("offering_in_rounds"), offering_id)]
                await conn.execute(_sql("set_capacity"), offering_id, capacity)
                await conn.execute(_sql("audit_capacity"), actor, offering_id, f"capacity {old} -> {capacity}")
                try:
                    for round_id in rounds:
                        decision = await self._gate.set_capacity(round_id, offering_id, capacity, actor=actor)
                        changed.append((round_id, old))
                        promotions.extend(decision.changes)
                except (Refused, GateUnavailable):
                    for round_id, previous in changed:
                        await self._gate.set_capacity(round_id, offering_id, previous, actor=actor)
                    raise
        except Refused as refused:
            raise refusal_error(refused.code, refused.facts, offering_id) from refused
        except GateUnavailable as exc:
            raise errors.Unavailable("The admission gate is unreachable; nothing was changed") from exc
        except DATABASE_FAILURES as exc:
            raise errors.Unavailable("PostgreSQL is unreachable; repeat the request") from exc
        if promotions:
            try:
                await self._writer.commit(promotions)
            except NotCommitted as exc:
                # The promotions stay in the redo log; recovery commits them within seconds.
                raise errors.Unavailable("Capacity changed; the promotions it made are being recorded") from exc
