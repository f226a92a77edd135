"""Worker: what one server process holds while it serves — its connections, the services built
on them, and its background tasks (the group commit, recovery, pruning of old Idempotency-Key
answers).

Made in the app's lifespan and kept on ``app.state.worker``; the routes never see it: each
declares the services it needs (``selection/web/dependencies.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from courses.audit import AuditTrail
from courses.cached import CachedCatalog
from courses.lottery import Lottery
from courses.offerings import OfferingCatalog
from courses.rounds import RoundRegistry
from courses.students import StudentDirectory
from courses.wishes import WishBook
from lib.database import create_pool
from lib.errors import DomainError
from lib.failures import DATABASE_FAILURES
from lib.settings import Settings
from quota.connection import pool_options
from quota.gate import SeatGate
from quota.outcomes import GateUnavailable
from selection.attempts import AttemptLog
from selection.browse import Browse
from selection.dead_letters import DeadLetters
from selection.enrollment import Enrollment
from selection.fair_start import FairStart
from selection.fairness import Fairness
from selection.gate_sync import SeatGateSync
from selection.group_commit import RedoWriter
from selection.idempotency_pruner import IdempotencyPruner
from selection.rate_limit import StudentRateLimit
from selection.recovery import GateRecovery
from selection.refusal_log import RefusalLog
from selection.roster import Roster

log = logging.getLogger("selection.worker")
#: What a reconciliation survives, to try again on the next tick.
_RECONCILE_FAILURES: tuple[type[BaseException], ...] = (GateUnavailable, DomainError, RedisError, *DATABASE_FAILURES)


@dataclass
class Worker:
    settings: Settings
    pool: asyncpg.Pool
    commit_pool: asyncpg.Pool
    redis: aioredis.Redis
    gate: SeatGate
    writer: RedoWriter
    recovery: GateRecovery
    sync: SeatGateSync
    pruner: IdempotencyPruner
    attempts: AttemptLog
    # The services the routes are given.
    students: StudentDirectory
    rounds: RoundRegistry
    offerings: OfferingCatalog
    audit: AuditTrail
    catalog: CachedCatalog
    enrollment: Enrollment
    browse: Browse
    roster: Roster
    dead_letters: DeadLetters
    wishes: WishBook
    lottery: Lottery
    rate_limit: StudentRateLimit
    fairness: Fairness
    fair_start: FairStart
    background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings) -> Worker:
        if settings.database_url is None or settings.redis_url is None:
            raise RuntimeError("SELECTION_DATABASE_URL and SELECTION_REDIS_URL must be set for a worker")
        # Every wait for a connection and every statement is bounded: a PostgreSQL that hangs
        # instead of refusing makes requests answer 503, never wait without end.
        bounded = functools.partial(
            create_pool,
            settings.database_url,
            acquire_timeout=settings.pool_acquire_timeout_seconds,
            command_timeout=settings.query_timeout_seconds,
        )
        pool = await bounded(size=settings.pool_size)
        # The writer and the upkeep loop commit through connections of their own: behind a
        # burst's thousands of reads waiting for a pooled connection, a group commit would
        # starve, and with it every request waiting for its change to be committed.
        commit_pool = await bounded(size=2, reset_sessions=False)
        # A blocking pool: under a burst a command waits for a free connection instead of
        # failing with "too many connections".
        redis_pool = aioredis.BlockingConnectionPool(
            **pool_options(settings.redis_url),
            timeout=10,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
            max_connections=128,
            # After Redis restarts, every idle pooled connection still points at the old server
            # and fails on its next use; one immediate retry on a fresh connection turns that
            # into an answer instead of a 503 per stale connection long after /ready is 200.
            # Running a script twice is safe: the second run sees the first (an Idempotency-Key
            # replays; the first's redo entry is committed by recovery).
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        client = aioredis.Redis.from_pool(redis_pool)
        gate = SeatGate(client, settings.redis_namespace)
        writer = RedoWriter(
            commit_pool,
            timeout=settings.commit_timeout_seconds,
            queue_limit=settings.commit_queue_limit,
            failures_to_open=settings.breaker_failures,
            cooldown=settings.breaker_cooldown_seconds,
        )
        recovery = GateRecovery(
            commit_pool,
            gate,
            writer,
            orphan_after_seconds=settings.recovery_after_seconds,
            interval_seconds=settings.gate_upkeep_seconds,
        )
        catalog = CachedCatalog(pool)
        refusals = RefusalLog(commit_pool) if settings.audit_refusals else None
        rate_limit = StudentRateLimit(gate, settings.rate_limit)
        # A few seconds of attempts at most are lost with Redis; each copy is one HSCAN per round.
        # The requests' pool, not the writer's: a copy must never hold up a group commit.
        attempts = AttemptLog(pool, gate, interval_seconds=max(1.0, settings.gate_upkeep_seconds * 10))
        sync = SeatGateSync(pool, gate, writer, recovery, catalog, attempts)
        rounds = RoundRegistry(pool, sync)
        fair_start = FairStart(gate, recovery.round_ids)
        worker = cls(
            settings=settings,
            pool=pool,
            commit_pool=commit_pool,
            redis=client,
            gate=gate,
            writer=writer,
            recovery=recovery,
            sync=sync,
            pruner=IdempotencyPruner(
                pool,
                retention_seconds=settings.idempotency_retention_hours * 3600,
                interval_seconds=settings.idempotency_prune_seconds,
            ),
            students=StudentDirectory(pool),
            rounds=rounds,
            offerings=OfferingCatalog(pool, sync),
            audit=AuditTrail(pool),
            catalog=catalog,
            enrollment=Enrollment(pool, gate, writer, catalog, rate_limit, fair_start, refusals),
            browse=Browse(catalog, rounds, gate),
            roster=Roster(pool, catalog),
            dead_letters=DeadLetters(pool),
            wishes=WishBook(pool),
            lottery=Lottery(pool, sync),
            rate_limit=rate_limit,
            attempts=attempts,
            fairness=Fairness(pool, attempts),
            fair_start=fair_start,
        )
        with contextlib.suppress(Exception):
            await worker.students.preload()
        with contextlib.suppress(Exception):
            await recovery.ensure_loaded()
        worker.background = [
            asyncio.create_task(writer.run(), name="redo-writer"),
            asyncio.create_task(recovery.run(), name="gate-recovery"),
            asyncio.create_task(worker._reconcile_capacities(), name="capacity-reconciler"),
            asyncio.create_task(worker.pruner.run(), name="idempotency-pruner"),
            asyncio.create_task(attempts.run(), name="attempt-log"),
            asyncio.create_task(fair_start.listen(), name="fair-start-waiters"),
            asyncio.create_task(fair_start.decide(), name="fair-start-decider"),
        ]
        if refusals is not None:
            worker.background.append(asyncio.create_task(refusals.run(), name="refusal-log"))
        return worker

    async def _reconcile_capacities(self) -> None:
        """Every few seconds, bring each round's capacities in the gate in step with PostgreSQL's
        (a capacity change whose gate step failed, or a worker that died between the two), and
        give free seats to waiting students (a rebuilt state promotes nobody by itself)."""
        interval = max(1.0, self.settings.gate_upkeep_seconds * 10)
        while True:
            await asyncio.sleep(interval)
            try:
                for round_id in await self.recovery.round_ids():
                    await self.sync.reconcile(round_id)
            except _RECONCILE_FAILURES as exc:
                log.warning("capacity reconciliation failed; retrying", extra={"error": repr(exc)})
            except Exception:
                log.exception("capacity reconciliation failed unexpectedly; retrying")

    async def close(self) -> None:
        """Stop the background work and close the connections, each step bounded in time: a
        worker that is being stopped must stop, even with a store that no longer answers.

        The server calls this once its connections are done (their requests answered); the
        writer still commits whatever is queued, for at most one commit timeout, and refuses
        anything that comes later.
        """
        log.info("worker stopping")
        self.recovery.stop()
        self.pruner.stop()
        self.attempts.stop()
        self.fair_start.stop()
        await self.writer.close(self.settings.commit_timeout_seconds)
        # The loops stop between two ticks; one that does not within a few seconds is cancelled.
        looping = ("gate-recovery", "idempotency-pruner", "attempt-log", "fair-start-waiters", "fair-start-decider")
        loops = [t for t in self.background if t.get_name() in looping]
        if loops:
            await asyncio.wait(loops, timeout=3)
        for task in self.background:
            task.cancel()
        if self.background:
            await asyncio.wait(self.background, timeout=2)
        # What the writer committed last leaves the redo logs now rather than at the next start.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.recovery.acknowledge_committed(), timeout=1)
        for closing in (self.redis.aclose(), self.redis.connection_pool.disconnect()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closing, timeout=1)
        pools = (self.pool, self.commit_pool)
        try:
            await asyncio.wait_for(asyncio.gather(*(pool.close() for pool in pools)), timeout=3)
        except Exception:
            for pool in pools:
                pool.terminate()
        log.info("worker stopped")

    async def ready(self) -> tuple[bool, str]:
        """Whether PostgreSQL and Redis answer and every round's gate state is loaded."""
        try:
            round_ids = await asyncio.wait_for(self.recovery.round_ids(fresh=True), timeout=2)
        except Exception as exc:  # any failure means "not ready", whatever the driver says
            return False, f"PostgreSQL: {type(exc).__name__}"
        try:
            await asyncio.wait_for(self.gate.ping(), timeout=2)
            for round_id in round_ids:
                if await self.gate.loaded_generation(round_id) is None:
                    return False, f"gate state of round {round_id} is loading"
        except (TimeoutError, GateUnavailable, RedisError, OSError) as exc:
            return False, f"Redis: {type(exc).__name__}"
        if self.writer.refusal() == "breaker_open":
            return False, "PostgreSQL: selections are not recorded for a moment (group commits failed)"
        return True, "ready"
