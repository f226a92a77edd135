"""Per-student rate limit on student routes, shared by every worker through Redis.

``SELECTION_RATE_LIMIT`` requests per second with a burst of three times that: a sliding
window of three seconds holding ``3 x rate`` requests, kept atomically in Redis by the
``limits`` library, keyed on the token's subject.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError

from selection import metrics
from selection.errors import RateLimited

BURST_SECONDS = 3


class StudentRateLimit:
    def __init__(self, redis_url: str, rate_per_second: int, namespace: str = "") -> None:
        parts = urlsplit(redis_url)
        uri = urlunsplit(parts._replace(scheme="async+" + parts.scheme))
        self._storage = RedisStorage(uri, implementation="redispy", key_prefix=namespace + "ratelimit")
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._item = RateLimitItemPerSecond(rate_per_second * BURST_SECONDS, BURST_SECONDS)

    async def check(self, student_id: str) -> None:
        """Count one request; raise RateLimited when over. Fails open if Redis is unreachable:
        the gate itself then answers 503, and a limiter must not turn an outage into 429s."""
        try:
            allowed = await self._limiter.hit(self._item, "student", student_id)
        except (RedisError, OSError, ConnectionError):
            return
        if not allowed:
            metrics.RATE_LIMITED.inc()
            raise RateLimited(
                f"Over {self._item.amount // BURST_SECONDS} requests per second; retry shortly",
                headers={"Retry-After": "1"},
            )

    async def close(self) -> None:
        # limits keeps its redis-py client on its bridge and offers no close of its own.
        client = getattr(self._storage.bridge, "storage", None)
        if client is not None:
            await client.aclose()
            # Connections a cancelled request still held are not back in the pool: close them too.
            await client.connection_pool.disconnect()
