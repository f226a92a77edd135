"""A real service for failure tests: its own process group, its own Valkey, a PostgreSQL link that can be cut.

Nothing here is a stand-in: the service is ``python -m selection serve`` as an operator runs it, the
Redis is a Valkey server that can be flushed, stopped and started again empty on the same port,
and PostgreSQL is the session's server, reached through a TCP proxy that can drop every
connection to it for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import redis

from selection.cli.embedded import EmbeddedRedis

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveRedis:
    """A Valkey server on a fixed port, so that a restart brings it back where clients look for it."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: EmbeddedRedis | None = EmbeddedRedis(port=self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()

    def start(self, snapshot: Path | None = None) -> None:
        """A new server on the same port: empty, or with the data of ``snapshot`` (a folder with
        the RDB file that ``snapshot()`` saved), as a Redis restarted from an old RDB or AOF is."""
        assert self._server is None
        self._server = EmbeddedRedis(snapshot, port=self.port)

    def snapshot(self, into: Path) -> Path:
        """Save the server's data now (SAVE, as its RDB persistence would) into the folder ``into``."""
        client = redis.Redis(port=self.port)
        try:
            client.save()
            folder = Path(str(client.config_get("dir")["dir"]))
            name = str(client.config_get("dbfilename")["dbfilename"])
        finally:
            client.close()
        into.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / name, into / "dump.rdb")
        return into


# --- PostgreSQL through a proxy that can be cut ------------------------------------------------

Target = str | tuple[str, int]


def postgres_target(database_url: str) -> Target:
    """Where the session's PostgreSQL listens: its Unix socket file, or host and port."""
    parts = urlsplit(database_url)
    socket_dir = parse_qs(parts.query).get("host", [None])[0] or (
        parts.hostname if parts.hostname and parts.hostname.startswith("/") else None
    )
    if socket_dir is not None:
        port = parts.port
        pattern = f".s.PGSQL.{port}" if port else ".s.PGSQL.*"
        found = [p for p in glob.glob(os.path.join(socket_dir, pattern)) if not p.endswith(".lock")]
        assert len(found) == 1, f"no single PostgreSQL socket in {socket_dir}: {found}"
        return found[0]
    return (parts.hostname or "127.0.0.1", parts.port or 5432)


def through(database_url: str, port: int) -> str:
    """The same database and user, reached at 127.0.0.1:``port``."""
    parts = urlsplit(database_url)
    query = "&".join(f"{k}={v[0]}" for k, v in parse_qs(parts.query).items() if k != "host")
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class PostgresProxy:
    """127.0.0.1:<port> -> PostgreSQL. ``cut()`` closes every connection and refuses new ones;
    ``hold()`` makes PostgreSQL hang instead: connections stay open and new ones are accepted, but
    nothing is forwarded either way until ``restore()``; ``slow(seconds)`` delays every chunk.

    It runs on a loop and thread of its own: the test's loop is busy driving hundreds of clients,
    and the service's every commit must not wait on that.
    """

    def __init__(self, target: Target) -> None:
        self._target = target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._cut = False
        #: Set while chunks flow; cleared by hold().
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._delay = 0.0
        self.port = 0
        self.accepted = 0
        self.refused = 0

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._set_cut(True))

    def hold(self) -> None:
        self._call(self._set_flow(hold=True, delay=0.0))

    def slow(self, seconds: float) -> None:
        self._call(self._set_flow(hold=False, delay=seconds))

    def restore(self) -> None:
        """Connections accepted again, and chunks forwarded at once (those held first)."""
        self._call(self._set_cut(False))
        self._call(self._set_flow(hold=False, delay=0.0))

    def close(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()

    def _call(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set_cut(self, cut: bool) -> None:
        self._cut = cut
        if cut:
            for client, upstream in list(self._links):
                _abort(client)
                _abort(upstream)
            self._links.clear()

    async def _set_flow(self, *, hold: bool, delay: float) -> None:
        self._delay = delay
        if hold:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _shutdown(self) -> None:
        await self._set_cut(True)
        # Held pumps wake, find their connections aborted, and end.
        self._flowing.set()
        if self._server is not None:
            self._server.close()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._cut:
            self.refused += 1
            _abort(client_w)
            return
        try:
            if isinstance(self._target, str):
                upstream_r, upstream_w = await asyncio.open_unix_connection(self._target)
            else:
                upstream_r, upstream_w = await asyncio.open_connection(*self._target)
        except OSError:
            _abort(client_w)
            return
        if self._cut:
            _abort(client_w)
            _abort(upstream_w)
            return
        self.accepted += 1
        link = (client_w, upstream_w)
        self._links.add(link)
        try:
            await asyncio.gather(self._pump(client_r, upstream_w), self._pump(upstream_r, client_w))
        finally:
            self._links.discard(link)
            _abort(client_w)
            _abort(upstream_w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if self._delay:
                    await asyncio.sleep(self._delay)
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    # An abort, not a polite close: the peer sees its connection fail at once, as in an outage.
    with contextlib.suppress(Exception):
        writer.transport.abort()


# --- the service's process group ---------------------------------------------------------------


class _Stat(NamedTuple):
    state: str
    ppid: int
    pgrp: int
    #: CPU time used so far, in clock ticks.
    cpu: int

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def _stat(pid: int) -> _Stat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: the fields after it are plain.
    fields = raw[raw.rindex(")") + 2 :].split()
    return _Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]))


def _processes() -> dict[int, _Stat]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            out[int(entry)] = stat
    return out


class LiveService:
    """``python -m selection serve --workers N`` in a process group of its own."""

    def __init__(
        self,
        workdir: Path,
        settings: Mapping[str, str],
        *,
        workers: int = 2,
        metrics_dir: bool = True,
        args: Sequence[str] = (),
    ) -> None:
        """``metrics_dir``: give the workers a metrics folder, or let the server make its own
        (under ``workdir / "tmp"``, the service's TMPDIR). ``args``: more of ``serve``'s options."""
        self.workdir = workdir
        self.args = tuple(args)
        self.port = free_port()
        self.workers = workers
        self.tmp = workdir / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("SELECTION_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(
            SELECTION_HOST="127.0.0.1",
            SELECTION_PORT=str(self.port),
            SELECTION_LOG_FORMAT="json",
            TMPDIR=str(self.tmp),
            XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR") or "/tmp",
        )
        if metrics_dir:
            (workdir / "metrics").mkdir(parents=True, exist_ok=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics")
        env.update(settings)
        self.env = env
        self.log_path = workdir / "service.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "selection", "serve", "--workers", str(self.workers), *self.args],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, seconds: float = 30.0) -> float:
        """Seconds until ``/ready`` answered 200; fails with the service's log after ``seconds``."""
        started = time.monotonic()
        last = "no answer"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=3.0, trust_env=False) as client:
            while time.monotonic() - started < seconds:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise AssertionError(f"the service exited with {self._process.returncode}:\n{self.log_tail()}")
                try:
                    response = await client.get("/ready")
                    if response.status_code == 200:
                        return time.monotonic() - started
                    last = f"{response.status_code} {response.text}"
                except httpx.TransportError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.1)
        raise AssertionError(f"not ready after {seconds:.0f} s ({last}):\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The server's live worker processes (its children), the busiest first."""
        children = {pid: stat for pid, stat in _processes().items() if stat.ppid == self.pid and stat.alive}
        return sorted(children, key=lambda pid: -children[pid].cpu)

    def group_alive(self) -> list[int]:
        return sorted(pid for pid, stat in _processes().items() if stat.pgrp == self.pid and stat.alive)

    def describe(self) -> str:
        """The process group and the end of the log, for a failure's message."""
        group = [f"{pid} {stat}" for pid, stat in sorted(_processes().items()) if stat.pgrp == self.pid]
        return "\n".join([*group, "--- service log ---", self.log_tail()])

    def terminate(self) -> list[int]:
        """SIGTERM to the server, as an operator stops it; returns its workers at that moment."""
        workers = self.worker_pids()
        os.killpg(self.pid, signal.SIGTERM)
        return workers

    async def wait_exited(self, workers: list[int], seconds: float) -> float:
        """Seconds until the server and ``workers`` are all gone; fails with the log after ``seconds``."""
        assert self._process is not None
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            left = [pid for pid in workers if (stat := _stat(pid)) is not None and stat.alive]
            if self._process.poll() is not None and not left and not self.group_alive():
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        raise AssertionError(f"the service still runs {seconds:.0f} s after SIGTERM:\n{self.describe()}")

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left a few seconds later."""
        if self._process is None:
            return
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=0.1)
                if self._process.poll() is not None and not self.group_alive():
                    return

    async def cli(self, verb: str, *, seconds: float = 30.0) -> tuple[int, str]:
        """Run ``python -m selection <verb>`` with the service's configuration: (exit code, output)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "selection",
            verb,
            cwd=REPO,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), seconds)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"`selection {verb}` did not finish within {seconds:.0f} s") from None
        assert process.returncode is not None
        return process.returncode, output.decode(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
