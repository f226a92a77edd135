"""Commands packed by hiredis are the bytes redis-py would send, and a real Redis runs them."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from quota.connection import PackedConnection, PackedSSLConnection, PackedUnixConnection, pool_options
from tests.stores import Stores

COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "a" * 40, 2, "sel:{r1}:seats", "sel:{r1}:held", "student-0001", 0, -3, 1.5),
    ("SET", "key", b"\x00\xff bytes", "ex", 30),
    ("SET", "key", "é, ü and 漢字"),
    ("SET", "key", memoryview(b"a view")),
    ("SCRIPT LOAD", "return 1"),
    (b"CLIENT SETNAME", "selection"),
]


def _wire(chunks: list[Any]) -> bytes:
    return b"".join(bytes(chunk) for chunk in chunks)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_a_packed_command_is_the_bytes_redis_py_would_send(command: tuple[Any, ...]) -> None:
    assert _wire(PackedConnection().pack_command(*command)) == _wire(Connection().pack_command(*command))


@pytest.mark.parametrize("bad", [None, True, object()])
def test_an_argument_redis_cannot_take_fails_as_redis_py_fails(bad: object) -> None:
    with pytest.raises(DataError):
        PackedConnection().pack_command("SET", "key", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "plain", "packed"),
    [
        ("redis://127.0.0.1:6379/0", Connection, PackedConnection),
        ("rediss://cache.internal:6380", SSLConnection, PackedSSLConnection),
        ("unix:///run/redis.sock?db=2", UnixDomainSocketConnection, PackedUnixConnection),
    ],
)
def test_each_kind_of_url_keeps_redis_pys_connection_with_hiredis_packing(
    url: str, plain: type[Connection], packed: type[Connection]
) -> None:
    options = pool_options(url)
    assert options["connection_class"] is packed
    assert issubclass(packed, plain)
    # Everything else redis-py reads from the URL is left as it reads it.
    read_by_redis_py = aioredis.ConnectionPool.from_url(url).connection_kwargs
    assert {k: read_by_redis_py[k] for k in options if k != "connection_class"} == {
        k: v for k, v in options.items() if k != "connection_class"
    }


async def test_a_real_redis_runs_packed_commands(stores: Stores, redis_namespace: str) -> None:
    client = aioredis.Redis.from_pool(aioredis.ConnectionPool(**pool_options(stores.redis_url)))
    try:
        key = redis_namespace + "packed"
        sha = await client.script_load("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(key, "é", ex=30)
            pipe.get(key)
            pipe.evalsha(sha, 1, key + ":n", 5)
            pipe.evalsha(sha, 1, key + ":n", 2)
            replies = await pipe.execute()
        assert replies == [True, "é".encode(), 5, 7]
    finally:
        await client.aclose()
