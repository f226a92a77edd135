"""The gate's Lua scripts: package files, each prefixed with the shared prelude, registered once.

redis-py's registered scripts run by SHA (EVALSHA) and load themselves again on NOSCRIPT, so a
Redis restart costs one extra round trip, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript


def _source(name: str) -> str:
    return resources.files("quota").joinpath("lua", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class GateScripts:
    select: AsyncScript
    drop: AsyncScript
    capacity: AsyncScript

    @classmethod
    def register(cls, client: aioredis.Redis) -> GateScripts:
        prelude = _source("common.lua")
        return cls(
            **{
                name: client.register_script(_assemble(prelude, _source(f"{name}.lua")))
                for name in ("select", "drop", "capacity")
            }
        )


def _assemble(prelude: str, body: str) -> str:
    # The body runs as a function so that its reply, whichever `return` gives it, passes through
    # common.lua's settle().
    return f"{prelude}\nlocal function main()\n{body}\nend\nreturn settle(main())\n"
