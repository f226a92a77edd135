"""IdempotencyPruner: an Idempotency-Key's recorded answer is deleted once its retention is over.

The contract keeps the first answer to a key for at least 24 hours; the gate's claim on a key
lives 25 (``quota.intents.CLAIM_TTL_SECONDS``), and the retention defaults to as long, so that a
repeat which still finds its claim in the gate also finds its answer here. Past the retention
the rows only grow the table: every worker runs this loop, and each batch is deleted by one of
them at a time (a transaction-scoped advisory lock), a few rows per short transaction.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from lib.failures import DATABASE_FAILURES
from lib.sql import NamedQueries
from selection.periodic import every

log = logging.getLogger("selection.idempotency")
_sql = NamedQueries("selection", "queries.sql")


class IdempotencyPruner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        retention_seconds: float,
        interval_seconds: float,
        batch: int = 1000,
    ) -> None:
        self._pool = pool
        self._retention = retention_seconds
        self._interval = interval_seconds
        self._batch = batch
        self._stopping = asyncio.Event()

    async def prune(self) -> int | None:
        """Delete every answer older than the retention, batch by batch: how many, or None when
        another process had the turn."""
        deleted = 0
        while not self._stopping.is_set():
            async with self._pool.acquire() as conn, conn.transaction():
                if not await conn.fetchval(_sql("claim_idempotency_pruning")):
                    return deleted or None
                count: int = await conn.fetchval(_sql("prune_idempotency_keys"), self._retention, self._batch)
            deleted += count
            if count < self._batch:
                break
        if deleted:
            log.info("pruned Idempotency-Key answers past their retention", extra={"count": deleted})
        return deleted

    async def run(self) -> None:
        """Prune every interval until ``stop()``; the workers' first turns are spread over one interval."""
        await every(
            self._interval,
            self._stopping,
            self.prune,
            what="pruning Idempotency-Key answers",
            expected=DATABASE_FAILURES,
            log=log,
        )

    def stop(self) -> None:
        self._stopping.set()
