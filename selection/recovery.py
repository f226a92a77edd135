"""GateRecovery: keeps Redis's gate state loaded and the redo logs committed, and rebuilds a
round's gate state from PostgreSQL.

- A round whose state is missing from Redis (a flush, a restart with its data gone, a round
  just created) is rebuilt from PostgreSQL before it takes selections again.
- Redo-log entries older than a few seconds belong to a request whose process died (or whose
  commit failed): any process commits them; committing twice is harmless.
- Committed entries are removed from the redo logs in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg
import msgspec
from redis.exceptions import RedisError

from lib.failures import DATABASE_FAILURES
from lib.sql import Connection, NamedQueries
from quota.entries import Change
from quota.gate import SeatGate
from quota.loader import LAYOUT, RoundSnapshot, lock_round, published_generation, read_round, versioned_meta
from quota.outcomes import GateUnavailable
from selection.group_commit import RedoWriter, commit_isolating

log = logging.getLogger("selection.recovery")
_sql = NamedQueries("selection", "queries.sql")
#: What a tick of the upkeep loop survives, to try again on the next.
_UPKEEP_FAILURES: tuple[type[BaseException], ...] = (GateUnavailable, RedisError, *DATABASE_FAILURES)


class RoundRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A round as PostgreSQL records it, for comparing with its gate state."""

    id: str
    state: str
    state_version: int
    generation: int
    #: The highest sequence number committed for the round (0: none).
    committed_seq: int
    #: The meta fields that come with the state's version: the closing time, and the fair-start
    #: window's once the round has opened with one.
    window: dict[str, str]


def _record(row: asyncpg.Record) -> RoundRecord:
    return RoundRecord(
        id=row["id"],
        state=row["state"],
        state_version=row["state_version"],
        generation=row["generation"],
        committed_seq=row["committed_seq"],
        window=versioned_meta(row),
    )


class GateRecovery:
    def __init__(
        self,
        pool: asyncpg.Pool,
        gate: SeatGate,
        writer: RedoWriter,
        *,
        orphan_after_seconds: float = 3.0,
        interval_seconds: float = 0.5,
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._writer = writer
        self._orphan_after_ms = int(orphan_after_seconds * 1000)
        self._interval = interval_seconds
        self._records: list[RoundRecord] = []
        #: Rounds whose gate counts a change set aside as a dead letter: rebuilt on the next tick.
        self._rebuild_soon: set[str] = set()
        self._records_at = 0.0
        self.loaded_all = False
        self._stopping = asyncio.Event()

    async def records(self, *, fresh: bool = False) -> list[RoundRecord]:
        """Every round as PostgreSQL records it (read again when ``fresh`` or a few seconds old)."""
        if fresh or time.monotonic() - self._records_at > 5.0:
            rows = await self._pool.fetch(_sql("round_records"))
            self._records = sorted((_record(r) for r in rows), key=lambda r: r.id)
            self._records_at = time.monotonic()
        return self._records

    async def round_ids(self, *, fresh: bool = False) -> list[str]:
        return [record.id for record in await self.records(fresh=fresh)]

    async def drain(self, round_id: str, older_than_ms: int | None) -> int:
        """Commit what the round's redo log holds (entries of a stale generation are discarded)."""
        changes = await self._gate.pending(round_id, older_than_ms, count=10_000)
        if not changes:
            return 0
        # Each entry a job of its own: an entry of a stale generation is discarded, not its neighbours.
        async with self._pool.acquire() as conn:
            stale, poisoned = await commit_isolating(conn, [([change], []) for change in changes], savepoints=False)
        await self._release_fenced(changes, stale | poisoned)
        # Set aside or committed, each entry is done with; the gate counts a set-aside change that
        # PostgreSQL does not: the round is rebuilt to agree again.
        await self._gate.acknowledge(changes)
        if poisoned:
            self._rebuild_soon.add(round_id)
        committed = len(changes) - len(stale) - len(poisoned)
        if committed:
            log.info("committed orphaned redo entries", extra={"round_id": round_id, "count": committed})
        return committed

    async def rebuild(self, round_id: str, *, force: bool) -> RoundSnapshot | None:
        """Load the round's state from PostgreSQL into Redis.

        ``force`` (an operator's rebuild, a live Redis): first stop the round's decisions and
        commit its redo log, so nothing the old state decided is lost. Without ``force`` this
        does nothing when the loaded state is already of the current generation.
        """
        if force:
            await self._stop_decisions(round_id)
            await self.drain(round_id, None)
        elif await self._published_by_another(round_id):
            return None
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await lock_round(conn, round_id)
                current = await published_generation(conn, round_id)
                if not force and current is not None and await self._gate.loaded_generation(round_id) == current:
                    return None
                # Whoever else decides in this round stops now, while nobody can load the round
                # until this transaction ends: what they logged is committed below, and nothing
                # is decided between that and the new state. (A rebuild by another process may
                # have loaded the round since a forced rebuild stopped it above.)
                await self._stop_decisions(round_id)
                # The state is gone or about to be replaced, but its redo log may not be: keep it.
                await self.drain_locked(conn, round_id)
                loaded = await read_round(conn, round_id)
                if loaded is not None:
                    # Installed unpublished while the round's lock is held: no writer commits into
                    # the round between the snapshot and the install, a failed install rolls the
                    # new generation back, and no script decides on it yet.
                    await self._gate.install(loaded)
            # PostgreSQL has committed the generation: only now may the gate decide with it. A
            # worker that dies right here leaves it unpublished, and the next upkeep rebuilds.
            if loaded is not None and not await self._gate.publish(round_id, loaded.generation):
                log.warning("gate state replaced before it was published", extra={"round_id": round_id})
        if loaded is not None:
            log.info(
                "gate state loaded",
                extra={"round_id": round_id, "generation": loaded.generation, "selections": loaded.selections},
            )
        return loaded

    async def _published_by_another(self, round_id: str, *, seconds: float = 1.0) -> bool:
        """True when another process has committed a rebuild of the round and is about to publish
        it: its state of PostgreSQL's generation is installed in Redis. Waited for briefly,
        outside the round's lock, rather than rebuilt once more."""
        async with self._pool.acquire() as conn:
            current = await published_generation(conn, round_id)
        if current is None or await self._gate.installed_generation(round_id) != current:
            return False
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await self._gate.loaded_generation(round_id) == current:
                return True
            await asyncio.sleep(0.02)
        return False

    async def rebuild_set_aside(self) -> None:
        """Rebuild every round whose gate counts a change PostgreSQL refused and set aside."""
        rounds = self._rebuild_soon | self._writer.take_poisoned_rounds()
        self._rebuild_soon = set()
        for round_id in sorted(rounds):
            log.warning("rebuilding a round after a change was set aside", extra={"round_id": round_id})
            try:
                await self.rebuild(round_id, force=True)
            except BaseException:
                self._rebuild_soon.add(round_id)
                raise

    async def _release_fenced(self, changes: list[Change], stale: set[int]) -> None:
        """A change refused for good leaves its Idempotency-Key claim behind in the gate: release
        it, or a repeat of its request would wait for an answer that never comes."""
        if stale:
            await self._gate.release_claims([changes[i] for i in sorted(stale)])

    async def _stop_decisions(self, round_id: str) -> None:
        """Make the round's scripts answer ``unavailable`` until its state is loaded again."""
        with contextlib.suppress(GateUnavailable):
            await self._gate.stop_decisions(round_id)

    async def drain_locked(self, conn: Connection, round_id: str) -> None:
        """Commit the whole redo log, page by page, before a rebuild deletes it.

        Inside the rebuild's transaction, which holds the round's lock exclusively: entries of an
        older generation are discarded, and the generation cannot change before the rebuild bumps
        it, after this.
        """
        after: str | None = None
        while True:
            changes = await self._gate.pending(round_id, None, count=10_000, after=after)
            if not changes:
                return
            stale, poisoned = await commit_isolating(conn, [([change], []) for change in changes], savepoints=True)
            await self._release_fenced(changes, stale | poisoned)
            after = changes[-1].stream_id

    async def ensure_loaded(self) -> bool:
        """Prove every round's gate state current, rebuilding what is not; True when all are.

        A gate state is current when it is loaded, of PostgreSQL's generation, and has handed
        out at least every sequence number PostgreSQL has committed. A Redis that came back with
        old data (a snapshot, a restored AOF, a replica that lagged, a round's keys restored) is
        behind on one of these, and is rebuilt; meanwhile its scripts refuse to decide once they
        see a sequence number below what this process has seen (``SeatGate.raise_floor``), and
        the group commit fences off what it decided (``commit_batch``).

        A round's state (open, paused, ...) is taken from PostgreSQL when PostgreSQL's is newer:
        an administrator's change that reached PostgreSQL but not Redis is carried over within
        one upkeep interval, and an older reading never undoes a newer change.
        """
        ok = True
        for record in await self.records(fresh=True):
            self._gate.raise_floor(record.id, record.committed_seq)
            loaded = await self._gate.loaded_state(record.id)
            if (
                loaded is not None
                and loaded.layout == LAYOUT
                and loaded.generation == record.generation
                and loaded.seq >= record.committed_seq
            ):
                if loaded.state_version < record.state_version:
                    await self._gate.set_round_state(record.id, record.state, record.state_version, record.window)
                continue
            ok = False
            if loaded is None:
                await self.rebuild(record.id, force=False)
            else:
                log.warning(
                    "gate state is not PostgreSQL's: rebuilding it",
                    extra={
                        "round_id": record.id,
                        "generation": loaded.generation,
                        "expected_generation": record.generation,
                        "seq": loaded.seq,
                        "committed_seq": record.committed_seq,
                        "layout": loaded.layout,
                        "expected_layout": LAYOUT,
                    },
                )
                await self.rebuild(record.id, force=True)
            ok = await self._gate.loaded_generation(record.id) is not None
        self.loaded_all = ok
        return ok

    async def recover_orphans(self) -> None:
        for round_id in await self.round_ids():
            await self.drain(round_id, self._orphan_after_ms)

    async def acknowledge_committed(self) -> None:
        committed = self._writer.take_committed()
        if committed:
            # On failure, recovery finds them again and commits them once more, harmlessly.
            with contextlib.suppress(GateUnavailable):
                await self._gate.acknowledge(committed)

    async def run(self) -> None:
        """The background loop of every worker process, until ``stop()``."""
        last_orphan_scan = 0.0
        while not self._stopping.is_set():
            try:
                await self.acknowledge_committed()
                await self.rebuild_set_aside()
                await self.ensure_loaded()
                if time.monotonic() - last_orphan_scan > 1.0:
                    last_orphan_scan = time.monotonic()
                    await self.recover_orphans()
            except _UPKEEP_FAILURES as exc:
                self.loaded_all = False
                log.warning("gate upkeep failed; retrying", extra={"error": repr(exc)})
            except Exception:
                log.exception("gate upkeep failed unexpectedly; retrying")
            # Stopping between two ticks, never inside one: a tick cut short can leave a Redis
            # connection half opened.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval if self.loaded_all else 0.2)

    def stop(self) -> None:
        self._stopping.set()
