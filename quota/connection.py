"""Redis connections that pack commands with hiredis, as redis-py's synchronous client does.

redis-py's asyncio connections pack every command in Python, a visible share of a worker's busy
time under load (docs/PERFORMANCE.md has the figure). hiredis, which already parses the replies,
packs the same command into the same bytes several times faster. Anything hiredis refuses is
packed by redis-py as before, so a bad argument still fails with redis-py's own error.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.typing import EncodableT


class _HiredisPacking(AbstractConnection):
    def pack_command(self, *args: EncodableT) -> list[bytes]:
        words: tuple[Any, ...] = args
        # A command name of several words ("SCRIPT LOAD") goes to Redis as separate arguments.
        if isinstance(words[0], str):
            words = (*words[0].encode().split(), *words[1:])
        elif isinstance(words[0], bytes) and b" " in words[0]:
            words = (*words[0].split(), *words[1:])
        try:
            return [hiredis.pack_command(words)]
        except TypeError:
            return super().pack_command(*args)


class PackedConnection(_HiredisPacking, Connection):
    pass


class PackedSSLConnection(_HiredisPacking, SSLConnection):
    pass


class PackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: PackedConnection,
    SSLConnection: PackedSSLConnection,
    UnixDomainSocketConnection: PackedUnixConnection,
}


def pool_options(url: str) -> dict[str, Any]:
    """A connection pool's options for a Redis URL, as redis-py reads them, with the connection
    class it would choose swapped for the one that packs with hiredis."""
    options: dict[str, Any] = {**parse_url(url)}
    chosen = options.get("connection_class", Connection)
    options["connection_class"] = _PACKED.get(chosen, chosen)
    return options
