"""What a worker process holds while it serves: connections and the services built on them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from courses.students import StudentDirectory
from quota.connection import pool_options
from quota.gate import GateUnavailable, SeatGate
from selection.catalog_view import CatalogView
from selection.database import create_pool
from selection.keeper import GateKeeper
from selection.live_seats import LiveSeats
from selection.path import SelectionPath
from selection.ratelimit import StudentRateLimit
from selection.settings import Settings
from selection.writer import RedoWriter

log = logging.getLogger("selection.runtime")


@dataclass
class Runtime:
    """Made in the app's lifespan, kept on ``app.state.runtime``, injected into handlers."""

    settings: Settings
    pool: asyncpg.Pool
    commit_pool: asyncpg.Pool
    redis: aioredis.Redis
    students: StudentDirectory
    catalog: CatalogView
    gate: SeatGate
    seats: LiveSeats
    writer: RedoWriter
    keeper: GateKeeper
    path: SelectionPath
    rate_limit: StudentRateLimit
    background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        if settings.database_url is None or settings.redis_url is None:
            raise RuntimeError("SELECTION_DATABASE_URL and SELECTION_REDIS_URL must be set for a worker")
        pool = await create_pool(settings.database_url, size=settings.pool_size)
        # The writer and the upkeep loop commit through connections of their own: behind a
        # burst's thousands of reads waiting for a pooled connection, a group commit would
        # starve, and with it every request waiting for its change to be committed.
        commit_pool = await create_pool(settings.database_url, size=2, reset_sessions=False)
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
        writer = RedoWriter(commit_pool)
        keeper = GateKeeper(
            commit_pool,
            client,
            gate,
            writer,
            orphan_after_seconds=settings.recovery_after_seconds,
            interval_seconds=settings.gate_upkeep_seconds,
        )
        runtime = cls(
            settings=settings,
            pool=pool,
            commit_pool=commit_pool,
            redis=client,
            students=StudentDirectory(pool),
            catalog=CatalogView(pool),
            gate=gate,
            seats=LiveSeats(gate),
            writer=writer,
            keeper=keeper,
            path=SelectionPath(pool, gate, writer),
            rate_limit=StudentRateLimit(gate, settings.rate_limit),
        )
        with contextlib.suppress(Exception):
            await runtime.students.preload()
        with contextlib.suppress(Exception):
            await keeper.ensure_loaded()
        runtime.background = [
            asyncio.create_task(writer.run(), name="redo-writer"),
            asyncio.create_task(keeper.run(), name="gate-keeper"),
        ]
        return runtime

    async def close(self) -> None:
        """Stop the background work and close the connections, each step bounded in time: a
        worker that is being stopped must stop, even with a store that no longer answers."""
        self.keeper.stop()
        keeper_tasks = [t for t in self.background if t.get_name() == "gate-keeper"]
        if keeper_tasks:
            await asyncio.wait(keeper_tasks, timeout=5)
        for task in self.background:
            task.cancel()
        if self.background:
            await asyncio.wait(self.background, timeout=5)
        for closing in (self.redis.aclose(), self.redis.connection_pool.disconnect()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closing, timeout=2)
        for pool in (self.pool, self.commit_pool):
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except Exception:
                pool.terminate()

    async def ready(self) -> tuple[bool, str]:
        """Whether PostgreSQL and Redis answer and every round's gate state is loaded."""
        try:
            round_ids = await asyncio.wait_for(self.keeper.round_ids(fresh=True), timeout=2)
        except Exception as exc:  # any failure means "not ready", whatever the driver says
            return False, f"PostgreSQL: {type(exc).__name__}"
        try:
            await asyncio.wait_for(self.redis.ping(), timeout=2)
            for round_id in round_ids:
                if await self.gate.loaded_generation(round_id) is None:
                    return False, f"quota state of round {round_id} is loading"
        except (TimeoutError, GateUnavailable, RedisError, OSError) as exc:
            return False, f"Redis: {type(exc).__name__}"
        return True, "ready"

    async def round_changed(self, round_id: str) -> None:
        """Tell the admission gate that a round was created or changed state in PostgreSQL."""
        from selection.catalog_sync import sync_round

        await sync_round(self, round_id)

    async def offering_changed(self, offering_id: str) -> None:
        """Tell the admission gate that an offering's schedule, category or eligibility changed."""
        from selection.catalog_sync import sync_offering

        await sync_offering(self, offering_id)

    async def change_capacity(self, offering_id: str, capacity: int, actor: str) -> None:
        """Change an offering's capacity in every round: refused below the seats taken in any
        round; a raise promotes waiting students at once (durably, before this returns)."""
        from selection.catalog_sync import change_capacity

        await change_capacity(self, offering_id, capacity, actor)
