"""A background chore run every interval in each worker process, until it is told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable


async def every(
    interval: float,
    stopping: asyncio.Event,
    chore: Callable[[], Awaitable[object]],
    *,
    what: str,
    expected: tuple[type[BaseException], ...],
    log: logging.Logger,
) -> None:
    """Run ``chore`` every ``interval`` seconds until ``stopping`` is set; the workers' first turns
    are spread over one interval. A failure in ``expected`` (a store away) is a warning, anything
    else is logged with its trace; either way the next turn comes."""
    wait = interval * random.random()
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), wait)
        if stopping.is_set():
            return
        wait = interval
        try:
            await chore()
        except expected as exc:
            log.warning("%s failed; retrying later", what, extra={"error": repr(exc)})
        except Exception:
            log.exception("%s failed unexpectedly; retrying later", what)
