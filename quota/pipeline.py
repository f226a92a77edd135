"""Script calls of concurrent requests leave for Redis together: one round trip for many.

A call that finds no batch on the wire leaves at once, alone; calls that arrive while a batch is
on the wire queue up and leave together as the next one. So at low load nothing waits, and
under a burst the batch grows with the load: the per-call cost of a round trip (a pooled
connection, a write, a read, the event loop's wake-ups) is paid once per batch. Each call is
still its own EVALSHA, atomic on its own; a batch is not a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError


@dataclass(frozen=True)
class LuaScript:
    """A script's source and its SHA1, under which Redis runs it (EVALSHA)."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest())


@dataclass
class _Call:
    script: LuaScript
    keys: Sequence[str]
    args: Sequence[str | int | bytes]
    reply: asyncio.Future[Any]
    #: Sent again after a NOSCRIPT (Redis restarted and forgot its scripts): once, not forever.
    reloaded: bool = False


class ScriptPipeline:
    """Runs Lua scripts by SHA for every request of a process, batched as described above."""

    def __init__(self, client: aioredis.Redis, *, max_batch: int = 256) -> None:
        self._redis = client
        self._max_batch = max_batch
        self._queue: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None
        #: Round trips made (the tests read it: calls share them).
        self.batches = 0

    async def call(self, script: LuaScript, keys: Sequence[str], args: Sequence[str | int | bytes]) -> Any:
        """The script's reply; raises what redis-py raises for this call (a RedisError)."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(script, keys, args, reply))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_all(), name="script-pipeline")
        return await reply

    async def _send_all(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._send(batch)
        finally:
            self._sender = None
            # Cancelled (the worker is stopping): no caller may wait forever.
            for call in self._queue:
                _settle(call.reply, error=RedisError("the script pipeline stopped"))
            self._queue.clear()

    async def _send(self, batch: list[_Call]) -> None:
        self.batches += 1
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for call in batch:
                    pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
                replies = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            for call in batch:
                _settle(call.reply, error=exc)
            return
        except BaseException as exc:
            for call in batch:
                _settle(call.reply, error=RedisError(f"the script pipeline failed: {exc!r}"))
            raise
        forgotten: list[_Call] = []
        for call, reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError) and not call.reloaded:
                # Nothing ran: the script is loaded once and the call goes again with the next batch.
                forgotten.append(call)
            elif isinstance(reply, Exception):
                _settle(call.reply, error=reply)
            else:
                _settle(call.reply, value=reply)
        if forgotten:
            await self._reload(forgotten)

    async def _reload(self, calls: list[_Call]) -> None:
        try:
            for script in {c.script.sha: c.script for c in calls}.values():
                await self._redis.script_load(script.source)
        except RedisError as exc:
            for call in calls:
                _settle(call.reply, error=exc)
            return
        for call in calls:
            call.reloaded = True
        self._queue[:0] = calls


def _settle(reply: asyncio.Future[Any], *, value: Any = None, error: BaseException | None = None) -> None:
    # A caller that was cancelled (its client went away) has a done future: nothing to tell.
    with contextlib.suppress(asyncio.InvalidStateError):
        if error is not None:
            reply.set_exception(error)
        else:
            reply.set_result(value)
