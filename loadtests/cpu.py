"""Where a benchmark's CPU went: the service's workers, Redis, PostgreSQL, the load generator.

Read from /proc before and after a measurement, so that each target of ``make bench`` states
its CPU per request by component; on a machine whose cores the server, the stores and the load
generator share, that is what says where a target's limit is.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


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
        if p.pgid == service_pgid:
            return "workers"
        if p.comm.startswith(("valkey", "redis")) and f":{redis_port}" in p.cmdline:
            return "redis"
        if postgres_pid is not None and postgres_pid in (p.pid, p.ppid):
            return "postgres"
        return None

    return which


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
