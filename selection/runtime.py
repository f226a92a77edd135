"""What a worker process holds while it serves: connections and the services built on them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis

from courses.students import StudentDirectory
from selection.database import create_pool
from selection.settings import Settings

log = logging.getLogger("selection.runtime")


@dataclass
class Runtime:
    """Made in the app's lifespan, kept on ``app.state.runtime``, injected into handlers."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    students: StudentDirectory
    background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        if settings.database_url is None or settings.redis_url is None:
            raise RuntimeError("SELECTION_DATABASE_URL and SELECTION_REDIS_URL must be set for a worker")
        pool = await create_pool(settings.database_url, size=settings.pool_size)
        client = aioredis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
            max_connections=256,
        )
        runtime = cls(settings=settings, pool=pool, redis=client, students=StudentDirectory(pool))
        with contextlib.suppress(Exception):
            await runtime.students.preload()
        return runtime

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        for task in self.background:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pool.close(), timeout=5)

    async def ready(self) -> tuple[bool, str]:
        """Whether PostgreSQL and Redis answer (and, later, the gate's state is loaded)."""
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=2)
        except Exception as exc:  # any failure means "not ready", whatever the driver says
            return False, f"PostgreSQL: {type(exc).__name__}"
        try:
            await asyncio.wait_for(self.redis.ping(), timeout=2)
        except Exception as exc:
            return False, f"Redis: {type(exc).__name__}"
        return True, "ready"
