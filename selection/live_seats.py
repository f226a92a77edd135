"""The live seat counts that browsing shows, read from the admission gate once per process and
freshness period however many students browse at the same moment."""

from __future__ import annotations

import functools

from quota.gate import SeatGate
from selection.coalesced import CoalescedCache

#: (capacity, enrolled, waiting) per offering, as the gate reads them.
SeatCounts = tuple[dict[str, int], dict[str, int], dict[str, int]]


class LiveSeats:
    def __init__(self, gate: SeatGate) -> None:
        self._gate = gate
        self._counts: CoalescedCache[str, SeatCounts] = CoalescedCache()

    async def counts(self, round_id: str, max_age: float) -> SeatCounts:
        """The round's counts, read at most ``max_age`` seconds ago (or, while one new reading
        is under way, at most twice that); raises GateUnavailable as the gate does."""
        read = functools.partial(self._gate.live_counts, round_id)
        return await self._counts.get(round_id, max_age, read)
