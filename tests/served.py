"""The app served on the test's own event loop, for tests whose requests wait side by side.

The framework's test client runs one request at a time on a loop of its own; a request that
waits (held by a fair-start window) would stop the test itself. Here httpx's ASGI transport calls
the app on the test's loop, and the lifespan (the worker, its background tasks) is driven here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lib.settings import Settings
from selection.web.app import create_app


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with its worker started, on this event loop."""
    app: Any = create_app(settings)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://served.test", timeout=60
        ) as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


async def ready(client: httpx.AsyncClient, seconds: float = 10.0) -> None:
    """Wait until the served app's /ready answers 200."""
    deadline = time.monotonic() + seconds
    while (response := await client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.05)
