"""Run the invariant checker against a test's stores."""

from __future__ import annotations

import redis.asyncio as aioredis

from lib.database import create_pool
from lib.settings import Settings
from selection.invariants import Report, check


async def checked(settings: Settings) -> Report:
    assert settings.database_url is not None
    assert settings.redis_url is not None
    pool = await create_pool(settings.database_url, size=2)
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        return await check(pool, client, settings.redis_namespace, drain_seconds=10)
    finally:
        await client.aclose()
        await pool.close()
