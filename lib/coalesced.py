"""CoalescedCache: a per-process cache whose missing or expired values are computed once, however
many requests want them at the same moment.

At a round's opening hundreds of requests miss the same entry at once; without coalescing each
of them reads PostgreSQL or Redis and builds the same answer. Here the first one starts a
refresh and the others await that same refresh. Where an expired value exists it keeps being
served while its refresh runs, but never past twice its freshness, so an answer's age stays
bounded even when the store behind it is slow or failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: How much older than its freshness a value may get while its refresh runs.
STALE_LIMIT = 2.0


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    since: float


def _always(_: object) -> bool:
    return True


class CoalescedCache(Generic[K, V]):
    """Values by key, each refreshed by at most one task at a time.

    A value at most ``fresh_for`` seconds old is answered as it is. An older one, up to
    ``STALE_LIMIT * fresh_for``, is still answered while one refresh runs; past that, or with no
    value, callers await the refresh and get its value or its exception. A failed refresh
    leaves the previous value in place, and the next caller starts another.

    ``keep`` tells which computed values are remembered: the others are still answered to every
    caller waiting for that refresh, and drop what was kept for the key before.
    """

    def __init__(
        self,
        *,
        keep: Callable[[V], bool] = _always,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keep = keep
        self._max_entries = max_entries
        self._clock = clock
        self._values: dict[K, _Entry[V]] = {}
        self._flights: dict[K, asyncio.Task[V]] = {}
        # The loop holds tasks weakly: a refresh that clear() detached from its key (or whose
        # callers all left) must still run to its end, not vanish half-way.
        self._running: set[asyncio.Task[V]] = set()

    async def get(self, key: K, fresh_for: float, compute: Callable[[], Awaitable[V]]) -> V:
        """The value for ``key``, computed by ``compute`` when none is fresh enough."""
        entry = self._values.get(key)
        age = self._clock() - entry.since if entry is not None else 0.0
        if entry is not None and age < fresh_for:
            return entry.value
        flight = self._flights.get(key)
        # A refresh ends by removing itself; one that is done yet still here was cancelled
        # before it ever ran (the loop shutting down) and answers nothing.
        if flight is None or flight.done():
            flight = self._start(key, compute)
        if entry is not None and age < STALE_LIMIT * fresh_for:
            return entry.value
        # Shielded: a caller that is cancelled (its client gone) leaves, and the refresh goes on
        # for everyone else waiting for it.
        return await asyncio.shield(flight)

    def clear(self) -> None:
        """Forget every value; refreshes already running still answer their callers but are
        not remembered, since they may have read what the clearing change replaced."""
        self._values.clear()
        self._flights.clear()

    def _start(self, key: K, compute: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        task = asyncio.get_running_loop().create_task(self._refresh(key, compute))
        self._flights[key] = task
        self._running.add(task)
        task.add_done_callback(self._settled)
        return task

    async def _refresh(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        this = asyncio.current_task()
        # Stamped before reading: the value is at least as new as this, never older.
        since = self._clock()
        try:
            value = await compute()
            # Stored here rather than in a done callback, so no caller can come between the
            # refresh ending and its value being there and start another one.
            if self._flights.get(key) is this:
                self._remember(key, value, since)
            return value
        finally:
            if self._flights.get(key) is this:
                del self._flights[key]

    def _remember(self, key: K, value: V, since: float) -> None:
        if not self._keep(value):
            self._values.pop(key, None)
            return
        # A crude bound, enough for keys that come from requests (search strings among them).
        if key not in self._values and len(self._values) >= self._max_entries:
            self._values.clear()
        self._values[key] = _Entry(value, since)

    def _settled(self, task: asyncio.Task[V]) -> None:
        self._running.discard(task)
        # A refresh whose callers were all answered with the previous value still failed:
        # retrieved here so asyncio does not log it as never retrieved; the next caller retries.
        if not task.cancelled():
            task.exception()
