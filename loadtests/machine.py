"""Where and when a figure was measured: machine, load, date, commit."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

from loadtests.stack import ROOT


def load_average() -> str:
    """The 1-minute load average: on a shared machine it says how much of it the run had."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def describe() -> dict[str, str]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        kib = int(f.readline().split()[1])
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit or "unknown",
        "machine": f"{os.cpu_count()} cores ({model}), {kib / 1024 / 1024:.1f} GiB RAM",
        "load average before the run (1 min)": load_average(),
    }
