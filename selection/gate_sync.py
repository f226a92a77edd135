"""SeatGateSync: keeps the gate in step with administrators' catalog changes (rounds, offerings,
capacity). It is the catalog's ``courses.ports.GateSync``, so the catalog never imports this."""

from __future__ import annotations

import contextlib

import asyncpg

from courses.cached import CachedCatalog
from lib import errors
from lib.failures import DATABASE_FAILURES
from lib.sql import NamedQueries
from quota.entries import Change
from quota.gate import SeatGate
from quota.loader import catalog_entry, versioned_meta
from quota.outcomes import GateUnavailable, Refused
from selection.attempts import AttemptLog
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
        attempts: AttemptLog | None = None,
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._writer = writer
        self._recovery = recovery
        self._catalog = catalog
        self._attempts = attempts

    async def round_changed(self, round_id: str) -> None:
        self._catalog.forget()
        row = await self._pool.fetchrow(_sql("round_state"), round_id)
        if row is None:
            return
        try:
            if await self._gate.loaded_generation(round_id) is None:
                await self._recovery.rebuild(round_id, force=False)
            else:
                await self._gate.set_round_state(round_id, row["state"], row["state_version"], versioned_meta(row))
        except GateUnavailable as exc:
            # PostgreSQL has the change; recovery loads the round as soon as Redis answers.
            raise errors.Unavailable("Recorded, but the admission gate is unreachable; it catches up shortly") from exc
        if row["state"] == "closed" and self._attempts is not None:
            # The gate now refuses every student select, so this copy holds the round's last
            # attempts; a failure leaves them to the next upkeep copy, not to the close.
            with contextlib.suppress(GateUnavailable, *DATABASE_FAILURES):
                await self._attempts.copy(round_id, wait=True)

    async def round_reloaded(self, round_id: str) -> None:
        self._catalog.forget()
        try:
            await self._recovery.rebuild(round_id, force=True)
        except GateUnavailable as exc:
            raise errors.Unavailable("Recorded, but the admission gate is unreachable; it catches up shortly") from exc

    async def offering_changed(self, offering_id: str) -> None:
        self._catalog.forget()
        rows = await self._pool.fetch(_sql("offering_in_rounds"), offering_id)
        for row in rows:
            entry = catalog_entry(row["category"], row["schedule"], row["eligibility"], row["position"])
            try:
                await self._gate.set_catalog_entry(row["round_id"], offering_id, entry)
            except GateUnavailable as exc:
                raise errors.Unavailable("Recorded, but the admission gate is unreachable") from exc

    async def change_capacity(self, offering_id: str, capacity: int, actor: str) -> None:
        """PostgreSQL first, then the gate: the gate never holds a capacity PostgreSQL does not,
        so no promotion is ever committed beyond a capacity that was not.

        1. Every round's gate is asked whether it could take the capacity (a cut below the seats
           taken is refused, and nothing changes).
        2. PostgreSQL records it (committed).
        3. Every round's gate takes it, and gives freed seats to waiting students at once. A seat
           taken between 1 and 3 can make a cut impossible after all: PostgreSQL's record is put
           back (audited) and the cut refused. A gate that does not answer in 3 is brought in
           step by ``reconcile`` within seconds.
        """
        self._catalog.forget()
        rounds = [r["round_id"] for r in await self._pool.fetch(_sql("offering_in_rounds"), offering_id)]
        try:
            for round_id in rounds:
                await self._gate.set_capacity(round_id, offering_id, capacity, actor=actor, dry_run=True)
        except Refused as refused:
            raise refusal_error(refused.code, refused.facts, offering_id) from refused
        except GateUnavailable as exc:
            raise errors.Unavailable("The admission gate is unreachable; nothing was changed") from exc
        old = await self._record_capacity(offering_id, capacity, actor, "capacity.change")
        promotions: list[Change] = []
        changed: list[str] = []
        try:
            for round_id in rounds:
                decision = await self._gate.set_capacity(round_id, offering_id, capacity, actor=actor)
                changed.append(round_id)
                promotions.extend(decision.changes)
        except Refused as refused:
            await self._record_capacity(offering_id, old, actor, "capacity.revert")
            for round_id in changed:
                with contextlib.suppress(Refused, GateUnavailable):
                    promotions.extend((await self._gate.set_capacity(round_id, offering_id, old, actor=actor)).changes)
            await self._commit_promotions(promotions)
            raise refusal_error(refused.code, refused.facts, offering_id) from refused
        except GateUnavailable as exc:
            await self._commit_promotions(promotions)
            raise errors.Unavailable("Capacity recorded; the admission gate takes it within seconds") from exc
        await self._commit_promotions(promotions)

    async def _record_capacity(self, offering_id: str, capacity: int, actor: str, action: str) -> int:
        """Write the capacity to PostgreSQL, audited, and commit; returns the one it replaced."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                old: int | None = await conn.fetchval(_sql("lock_offering_capacity"), offering_id)
                if old is None:
                    raise errors.NotFound(f"No offering {offering_id}")
                await conn.execute(_sql("set_capacity"), offering_id, capacity)
                await conn.execute(_sql("audit_capacity"), actor, action, offering_id, f"capacity {old} -> {capacity}")
        except DATABASE_FAILURES as exc:
            raise errors.Unavailable("PostgreSQL is unreachable; repeat the request") from exc
        return old

    async def _commit_promotions(self, promotions: list[Change]) -> None:
        if not promotions:
            return
        try:
            await self._writer.commit(promotions)
        except NotCommitted as exc:
            # The promotions stay in the redo log; recovery commits them within seconds.
            raise errors.Unavailable("Capacity changed; the promotions it made are being recorded") from exc

    async def reconcile(self, round_id: str) -> int:
        """Bring the round's gate in step with PostgreSQL's capacities, and give every free seat
        beside a waiting student to that student; returns the offerings it changed.

        PostgreSQL's capacity is the record (``change_capacity`` writes it first). One the gate
        cannot take (a cut below seats taken meanwhile) is put back in PostgreSQL, audited.
        """
        rows = await self._pool.fetch(_sql("round_capacities"), round_id)
        capacity, enrolled, waiting = await self._gate.live_counts(round_id)
        changed = 0
        for row in rows:
            offering_id, recorded = row["offering_id"], row["capacity"]
            held = capacity.get(offering_id)
            free_beside_waiting = enrolled.get(offering_id, 0) < recorded and waiting.get(offering_id, 0) > 0
            if held == recorded and not free_beside_waiting:
                continue
            changed += 1
            try:
                decision = await self._gate.set_capacity(round_id, offering_id, recorded, actor="system")
            except Refused:
                if held is not None:
                    self._catalog.forget()
                    await self._record_capacity(offering_id, held, "system", "capacity.revert")
                continue
            await self._commit_promotions(decision.changes)
        return changed
