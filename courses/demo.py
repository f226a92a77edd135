"""The demo data set: filled in by the catalog work."""

from __future__ import annotations

import asyncpg


async def load_demo_data(conn: asyncpg.Connection) -> str:
    raise NotImplementedError("the demo data set is not built yet")
