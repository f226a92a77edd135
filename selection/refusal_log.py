"""RefusalLog: every refusal of a select or a drop in the audit trail, when an operator asks for
it (``SELECTION_AUDIT_REFUSALS``), so that "I clicked first" can be settled afterwards.

Off by default: the contract counts refusals in metrics and does not log them one by one. On,
a refusal is queued here and the request goes on at once; a task of its own writes the queue to
PostgreSQL in batches, so the select path pays for an append to a list. The queue is bounded:
past it, refusals are counted as dropped rather than held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import msgspec

from lib.failures import DATABASE_FAILURES
from lib.sql import NamedQueries
from selection import metrics

log = logging.getLogger("selection.refusal_log")
_sql = NamedQueries("selection", "queries.sql")
_encode = msgspec.json.Encoder().encode


class Refusal(msgspec.Struct, frozen=True):
    at: float
    actor: str
    role: str
    action: str
    round_id: str
    student_id: str
    offering_id: str
    code: str
    facts: dict[str, Any]


class RefusalLog:
    def __init__(self, pool: asyncpg.Pool, *, max_queued: int = 100_000, interval_seconds: float = 0.2) -> None:
        self._pool = pool
        self._queue: list[Refusal] = []
        self._max_queued = max_queued
        self._interval = interval_seconds

    def record(self, refusal: Refusal) -> None:
        if len(self._queue) >= self._max_queued:
            metrics.REFUSALS_NOT_AUDITED.inc()
            return
        self._queue.append(refusal)

    async def flush(self) -> int:
        """Write what is queued; on failure it stays queued for the next flush."""
        taken, self._queue = self._queue, []
        if not taken:
            return 0
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    _sql("audit_refusals"),
                    [r.at for r in taken],
                    [r.actor for r in taken],
                    [r.role for r in taken],
                    [r.action for r in taken],
                    [r.round_id for r in taken],
                    [r.student_id for r in taken],
                    [r.offering_id for r in taken],
                    [f"{r.code} {_encode(r.facts).decode()}" for r in taken],
                )
        except DATABASE_FAILURES as exc:
            log.warning("refusals not audited yet; retrying", extra={"error": repr(exc)})
            self._queue[:0] = taken[: self._max_queued - len(self._queue)]
            return 0
        return len(taken)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            with contextlib.suppress(Exception):
                await self.flush()
