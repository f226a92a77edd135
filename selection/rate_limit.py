"""Per-student rate limit on student routes, shared by every worker through Redis.

``SELECTION_RATE_LIMIT`` requests per second on average with a burst of three times that
(docs/DECISIONS.md), kept atomically in Redis by the gate's scripts (a GCRA bucket on Redis's
clock). A select counts inside the very script that decides it, so it costs no round trip of its
own, in the student's bucket of that round (the round's slot, where the script can reach it).
Every other student request counts through a small script of its own, in the student's one
bucket for everything else, whatever round its path names: ids a client invents buy no budget.
"""

from __future__ import annotations

import math

from lib.errors import DomainError, RateLimited
from quota.gate import SeatGate
from quota.intents import Rate
from quota.outcomes import GateUnavailable, OverRate
from selection import metrics

BURST_FACTOR = 3


def over_rate_error(over: OverRate, rate: Rate) -> DomainError:
    """The contract's 429, with Retry-After in whole seconds (at least one)."""
    metrics.RATE_LIMITED.inc()
    return RateLimited(
        f"Over {rate.per_second} requests per second; retry shortly",
        headers={"Retry-After": str(max(1, math.ceil(over.wait_seconds)))},
    )


class StudentRateLimit:
    def __init__(self, gate: SeatGate, rate_per_second: int) -> None:
        self._gate = gate
        self.rate = Rate(per_second=rate_per_second, burst=rate_per_second * BURST_FACTOR)

    async def check(self, student_id: str, round_id: str | None) -> None:
        """Count one request; raise RateLimited when over. Fails open if Redis is unreachable:
        the gate itself then answers 503, and a limiter must not turn an outage into 429s."""
        try:
            await self._gate.count_request(round_id, student_id, self.rate)
        except GateUnavailable:
            return
        except OverRate as over:
            raise over_rate_error(over, self.rate) from None
