"""The gate's Lua scripts: package files, each prefixed with the shared preludes (``common.lua``,
then ``promotion.lua``, ``explain.lua``, then ``fair_start.lua``), read once.

They run by SHA (EVALSHA) through the process's ScriptPipeline, which loads a script again when
Redis answers NOSCRIPT: a Redis restart costs one extra round trip, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from quota.pipeline import LuaScript

#: Shared by every script, in this order (fair_start.lua last: it wraps common.lua's settle).
PRELUDES = ("common.lua", "promotion.lua", "explain.lua", "fair_start.lua")


def _source(name: str) -> str:
    return resources.files("quota").joinpath("lua", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class GateScripts:
    select: LuaScript
    drop: LuaScript
    capacity: LuaScript
    rate: LuaScript
    state: LuaScript
    publish: LuaScript
    release: LuaScript
    window: LuaScript

    @classmethod
    def load(cls) -> GateScripts:
        prelude = "\n".join(_source(name) for name in PRELUDES)
        return cls(
            **{
                name: LuaScript(name, _assemble(prelude, _source(f"{name}.lua")))
                for name in ("select", "drop", "capacity", "rate", "state", "publish", "release", "window")
            }
        )


def _assemble(prelude: str, body: str) -> str:
    # The body runs as a function so that its reply, whichever `return` gives it, passes through
    # common.lua's settle().
    return f"{prelude}\nlocal function main()\n{body}\nend\nreturn settle(main())\n"
