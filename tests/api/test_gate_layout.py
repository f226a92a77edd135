"""A round's gate state loaded by an older release (without the keys and fields this one's scripts
read) is rebuilt before anything trusts it, however current its generation and sequence."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from lib.settings import Settings
from quota.loader import LAYOUT
from selection.worker import Worker
from tests.builders import add_offering, add_round, add_students


async def test_a_state_of_an_older_layout_is_rebuilt(
    settings: Settings, db: asyncpg.Connection, redis: aioredis.Redis
) -> None:
    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=1)
    await add_offering(db, "yoga", capacity=5)
    await add_round(db, "r1", ["swim", "yoga"])
    worker = await Worker.start(settings)
    try:
        assert await worker.recovery.ensure_loaded()
        keys = worker.gate.keys("r1")
        before = await worker.gate.loaded_state("r1")
        assert before is not None
        assert before.layout == LAYOUT
        # What a release before layouts left: no layout field, no category index.
        await redis.hdel(keys.meta, "layout")
        await redis.delete(keys.categories)
        stale = await worker.gate.loaded_state("r1")
        assert stale is not None
        assert stale.layout == 0

        assert await worker.recovery.ensure_loaded()
        after = await worker.gate.loaded_state("r1")
        assert after is not None
        assert after.layout == LAYOUT
        assert after.generation > before.generation
        assert await redis.hget(keys.categories, "pe") is not None
        # A current state is left alone.
        assert await worker.recovery.ensure_loaded()
        again = await worker.gate.loaded_state("r1")
        assert again is not None
        assert again.generation == after.generation
    finally:
        await worker.close()
