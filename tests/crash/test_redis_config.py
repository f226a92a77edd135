"""A Redis that may evict keys is refused at start: an evicted key of a round's gate state is a
seat count or a holding gone, which no fence can tell from a decision."""

from __future__ import annotations

import os
import subprocess
import sys

import redis

from tests.live import REPO, LiveRedis


def serve(database_url: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SELECTION_DATABASE_URL": database_url,
        "SELECTION_REDIS_URL": redis_url,
        "SELECTION_JWT_SECRET": "redis-config-test-secret-long-enough-for-hs256",
        "SELECTION_PORT": "1",  # never reached: the refusal comes first
    }
    return subprocess.run(
        [sys.executable, "-m", "selection", "serve"],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_a_redis_that_evicts_keys(database_url: str) -> None:
    server = LiveRedis()
    try:
        client = redis.Redis(port=server.port)
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.close()
        refused = serve(database_url, server.url)
    finally:
        server.stop()
    assert refused.returncode == 1, refused.stderr
    assert "maxmemory-policy allkeys-lru" in refused.stderr
    assert "noeviction" in refused.stderr
