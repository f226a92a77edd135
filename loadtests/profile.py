"""Where the workers' time goes during a burst: py-spy on the server's processes, summarised.

``python -m loadtests.opening --profile`` records every worker of a service it started (py-spy
``--subprocesses``, raw collapsed stacks) and adds the top functions, by own time and by time
including callees, to the report; the raw file stays in the report folder for a flame graph.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from loadtests.stack import BIN

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")
#: Path parts that say little: the same file under another virtualenv is the same code.
_SITE = re.compile(r"^.*/site-packages/")
#: Our own code; the inclusive ranking keeps only these (the server's bootstrap frames aside,
#: which hold every sample and say nothing).
_PROJECT = ("selection/", "quota/", "courses/", "lib/", "loadtests/")
_BOOTSTRAP = ("selection/cli/", "selection:")


@contextlib.contextmanager
def recording(pid: int, out: Path, seconds: int, name: str = "profile") -> Iterator[Path]:
    """py-spy on ``pid`` and its children while the block runs; yields the raw output's path."""
    raw = out / f"{name}.raw.txt"
    command = [
        str(BIN / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--format",
        "raw",
        "--rate",
        "100",
        "--duration",
        str(seconds),
        "--output",
        str(raw),
    ]
    with (out / f"{name}.py-spy.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield raw
        finally:
            if process.poll() is None:
                # py-spy writes its output when interrupted, as after Ctrl-C.
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({_SITE.sub('', match['file'])})"


def _is_ours(name: str) -> bool:
    where = name.rpartition("(")[2]
    return where.startswith(_PROJECT) and not where.startswith(_BOOTSTRAP)


def summarise(raw: Path, top: int = 15) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """(samples, top by own time, top by inclusive time), shares in per cent of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # Leading frames name the processes (parent, then child); then Python frames, outermost first.
        frames = [_name(f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            if _is_ours(name):
                inclusive[name] += count
    if not total:
        return 0, [], []

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100.0 * n / total) for name, n in counter.most_common(top)]

    return total, share(own), share(inclusive)


def markdown(raw: Path, title: str = "Profile") -> str:
    if not raw.exists():
        return f"## {title}\n\nnot recorded (see {raw.stem}.py-spy.log)\n"
    total, own, inclusive = summarise(raw)
    lines = [f"## {title} (py-spy, every worker, 100 Hz)", "", f"{total} samples of busy threads.", ""]
    for ranking, rows in (("own time", own), ("including callees (our code)", inclusive)):
        lines += [f"| top by {ranking} | % |", "| --- | ---: |"]
        lines += [f"| `{name}` | {pct:.1f} |" for name, pct in rows]
        lines.append("")
    return "\n".join(lines)
