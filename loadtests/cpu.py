"""Where a benchmark's CPU went: the service's workers, Redis, PostgreSQL, the load generator.

Read from /proc before and after a measurement, so that each target of ``make bench`` states
its CPU per request by component; on a machine whose cores the server, the stores and the load
generator share, that is what says where a target's limit is.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_TICK = os.sysconf("SC_CLK_TCK")

#: What a measurement's CPU is told by, in the reports' order.
COMPONENTS = ("workers", "redis", "postgres", "load generator")


@dataclass(frozen=True)
class _Process:
    pid: int
    ppid: int
    pgid: int
    comm: str
    cmdline: str
    seconds: float


def _processes() -> list[_Process]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found.append(
            _Process(
                pid=int(entry.name),
                ppid=int(fields[1]),
                pgid=int(fields[2]),
                comm=comm,
                cmdline=cmdline,
                seconds=(int(fields[11]) + int(fields[12])) / _TICK,
            )
        )
    return found


Classifier = Callable[[_Process], str | None]


def classifier(*, service_pgid: int, redis_port: int, postgres_pid: int | None) -> Classifier:
    """Which component a process belongs to, or None for the rest of the machine."""

    def which(p: _Process) -> str | None:
        # `selection serve` puts each worker in a process group of its own, under the main process.
        if service_pgid in (p.pgid, p.ppid):
            return "workers"
        if p.comm.startswith(("valkey", "redis")) and f":{redis_port}" in p.cmdline:
            return "redis"
        if postgres_pid is not None and postgres_pid in (p.pid, p.ppid):
            return "postgres"
        return None

    return which


async def _postmaster_pid(database_url: str) -> int | None:
    """The PostgreSQL server's main process (its backends are its children), if it runs here."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        directory = await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
    try:
        return int((Path(directory) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def service_classifier(service_pgid: int, database_url: str, redis_url: str) -> Classifier:
    """The classifier of a service started by a driver on stores running on this machine."""
    port = urlsplit(redis_url).port or 6379
    return classifier(
        service_pgid=service_pgid, redis_port=port, postgres_pid=asyncio.run(_postmaster_pid(database_url))
    )


class CpuMeter:
    """CPU seconds by component between ``start()`` and ``stop()``, waited-for children included
    (the load generator run with subprocess.run) as ``load generator``."""

    def __init__(self, which: Classifier) -> None:
        self._which = which
        self._before: dict[int, tuple[str, float]] = {}
        self._children = 0.0

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        out = {}
        for p in _processes():
            name = self._which(p)
            if name is not None:
                out[p.pid] = (name, p.seconds)
        return out

    @staticmethod
    def _children_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def start(self) -> None:
        self._before = self._snapshot()
        self._children = self._children_seconds()

    def stop(self) -> dict[str, float]:
        """CPU seconds by component since start(); a process gone meanwhile is not counted."""
        spent: dict[str, float] = {}
        for pid, (name, seconds) in self._snapshot().items():
            spent[name] = spent.get(name, 0.0) + seconds - self._before.get(pid, (name, 0.0))[1]
        spent["load generator"] = self._children_seconds() - self._children
        return spent

    def wait_idle(self, *, share: float = 0.05, window: float = 0.5, timeout: float = 60.0) -> float | None:
        """Wait until the measured components together use less than ``share`` of one core over
        ``window`` seconds: what the last target left queued (requests still being answered when
        its load generator stopped) is done before the next target is measured and charged for
        it. Returns the seconds waited, None if the machine did not go quiet within ``timeout``."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            before = self._snapshot()
            time.sleep(window)
            after = self._snapshot()
            busy = sum(seconds - before.get(pid, (name, seconds))[1] for pid, (name, seconds) in after.items())
            if busy < share * window:
                return round(time.monotonic() - began, 2)
        return None
