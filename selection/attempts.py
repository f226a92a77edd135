"""AttemptLog: what students tried to select, copied from the gate to PostgreSQL.

The select script notes each offering a student tries in a first-come round (and when first) in
a hash of the round's slot: one HSETNX on the select path. Every worker copies the new notes to
``select_attempts`` every few seconds and deletes what it copied; the round's close and every
fairness report copy first too. A Redis lost between two copies loses the notes of those few
seconds, nothing older. One process copies a round at a time (an advisory lock); should two
write the same row anyway, the earliest time stays.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from redis.exceptions import RedisError

from lib.failures import DATABASE_FAILURES
from lib.sql import NamedQueries
from quota.gate import SeatGate
from quota.outcomes import GateUnavailable
from selection.periodic import every

log = logging.getLogger("selection.attempts")
#: What a copy survives, to try again on the next tick.
_COPY_FAILURES: tuple[type[BaseException], ...] = (GateUnavailable, RedisError, *DATABASE_FAILURES)
_sql = NamedQueries("selection", "queries.sql")


class AttemptLog:
    def __init__(self, pool: asyncpg.Pool, gate: SeatGate, *, interval_seconds: float) -> None:
        self._pool = pool
        self._gate = gate
        self._interval = interval_seconds
        self._stopping = asyncio.Event()

    async def copy(self, round_id: str, *, wait: bool = False) -> int:
        """Copy the round's new attempts to PostgreSQL, then forget them in the gate; how many.
        Another process copying the round meanwhile makes this one skip its turn, or with
        ``wait`` (a report about to read them) wait for it and copy what is left. Raises
        GateUnavailable when Redis does not answer (nothing is forgotten then)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if wait:
                await conn.execute(_sql("wait_attempt_copy"), round_id)
            elif not await conn.fetchval(_sql("claim_attempt_copy"), round_id):
                return 0
            attempts = await self._gate.attempts(round_id)
            if not attempts:
                return 0
            await conn.execute(
                _sql("record_attempts"),
                round_id,
                [a.student_id for a in attempts],
                [a.offering_id for a in attempts],
                [a.first_ms for a in attempts],
            )
        # Forgotten only once committed: a failure before leaves them to the next copy.
        await self._gate.forget_attempts(round_id, attempts)
        return len(attempts)

    async def copy_every_round(self) -> int:
        copied = 0
        for row in await self._pool.fetch(_sql("attempted_rounds")):
            copied += await self.copy(row["id"])
        return copied

    async def run(self) -> None:
        """Copy every interval until ``stop()``; the workers' turns spread over one interval."""
        await every(
            self._interval,
            self._stopping,
            self.copy_every_round,
            what="copying select attempts",
            expected=_COPY_FAILURES,
            log=log,
        )

    def stop(self) -> None:
        self._stopping.set()
