"""A throw-away service on this machine: embedded PostgreSQL and Redis, the demo, N workers.

The drivers start the stores themselves (rather than leaving it to ``selection serve``) so that
they know the URLs, which ``selection check`` and the baselines need after the run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from loadtests.tokens import mint

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOOPBACK = frozenset(("127.0.0.1", "localhost", "::1"))


def loopback_port(base_url: str) -> int:
    """The port of a loopback URL; refuses anything else, since load is only ever sent here."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        raise SystemExit(f"load tests only target http://127.0.0.1 (got {base_url})")
    return parts.port or 80


def is_ready(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/ready", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(base_url: str, process: subprocess.Popen[bytes] | None, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(base_url):
            return
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the service exited with {process.returncode} before it was ready")
        time.sleep(0.3)
    raise SystemExit(f"the service at {base_url} was not ready within {timeout:.0f} s")


def settle(base_url: str, timeout: float = 30.0) -> bool:
    """Wait until the service answers /ready at once: requests queued during the burst are done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        began = time.monotonic()
        if is_ready(base_url) and time.monotonic() - began < 0.2:
            return True
        time.sleep(0.5)
    return False


def raise_file_limit() -> None:
    """Thousands of students hold thousands of sockets, on both ends: the driver, the load
    generator and a service started here inherit the limit the service itself would take."""
    from selection.cli.serve import raise_open_file_limit

    raise_open_file_limit(workers=2)


def exit_on_sigterm() -> None:
    """SIGTERM (a CI job cancelled, timeout(1), kill) unwinds the driver as Ctrl-C does, so that
    the servers it started stop and their temporary folders go; by default it would just die."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


@dataclass
class Service:
    """Where a service answers and how to reach its stores and mint its tokens."""

    base_url: str
    secret: str
    database_url: str | None = None
    redis_url: str | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: The server's main process, when it was started here.
    pid: int | None = None

    def admin(self) -> httpx.Client:
        token = mint(self.secret, "loadtest-operator", "admin")
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A ``selection`` verb against this service's stores."""
        return subprocess.run(
            [str(BIN / "selection"), *args], env={**os.environ, **self.env}, capture_output=True, text=True, check=False
        )


def store_env(database_url: str | None, redis_url: str | None, secret: str) -> dict[str, str]:
    env = {"SELECTION_JWT_SECRET": secret}
    if database_url:
        env["SELECTION_DATABASE_URL"] = database_url
    if redis_url:
        env["SELECTION_REDIS_URL"] = redis_url
    return env


@contextlib.contextmanager
def local_stores(keep_dir: Path | None = None) -> Iterator[tuple[str, str]]:
    """Embedded PostgreSQL and Redis under a temporary folder, gone afterwards."""
    from selection.cli.embedded import EmbeddedPostgres, EmbeddedRedis

    base = Path(tempfile.mkdtemp(prefix="selection-load-", dir=keep_dir))
    pg = EmbeddedPostgres(base / "postgres", keep=False)
    try:
        rd = EmbeddedRedis(None)
        try:
            yield pg.url(), rd.url
        finally:
            rd.stop()
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def local_redis() -> Iterator[str]:
    """A throw-away embedded Redis, for a rehearsal whose PostgreSQL is given."""
    from selection.cli.embedded import EmbeddedRedis

    rd = EmbeddedRedis(None)
    try:
        yield rd.url
    finally:
        rd.stop()


@contextlib.contextmanager
def local_service(
    *,
    port: int,
    workers: int,
    log_path: Path,
    database_url: str,
    redis_url: str,
    app: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Service]:
    """``selection serve`` (or granian with another app factory) on the given stores.

    With ``app`` set, the driver prepares what ``serve`` would (migrations, the gate's state) and
    runs granian on that factory: the bench app serves the product's routes plus the baselines.
    """
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        **store_env(database_url, redis_url, secret),
        "SELECTION_HOST": "127.0.0.1",
        "SELECTION_PORT": str(port),
        "SELECTION_WORKERS": str(workers),
        "SELECTION_LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    metrics_dir = tempfile.mkdtemp(prefix="selection-metrics-")
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    service = Service(
        f"http://127.0.0.1:{port}",
        secret,
        database_url,
        redis_url,
        log_path,
        store_env(database_url, redis_url, secret),
    )
    if app is None:
        command = [str(BIN / "selection"), "serve", "--workers", str(workers)]
    else:
        for verb in ("migrate", "rebuild"):
            done = subprocess.run([str(BIN / "selection"), verb], env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"selection {verb} failed:\n{done.stderr}")
        command = [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--factory",
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "auto",
            "--backlog",
            "4096",
            "--no-access-log",
            app,
        ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        service.pid = process.pid
        try:
            wait_ready(service.base_url, process)
            yield service
        finally:
            _stop(process)
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The server's workers share its process group, which exists only because we started it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def load_demo(database_url: str, redis_url: str) -> None:
    env = {**os.environ, **store_env(database_url, redis_url, "unused")}
    done = subprocess.run([str(BIN / "selection"), "demo"], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"selection demo failed:\n{done.stderr}")


def open_round(service: Service, round_id: str) -> dict[str, object]:
    """The round, opened if it was a draft or paused; refuses a closed one."""
    with service.admin() as admin:
        answer = admin.get(f"/api/v1/admin/rounds/{round_id}")
        if answer.status_code != 200:
            raise SystemExit(f"round {round_id}: {answer.status_code} {answer.text}")
        round_: dict[str, object] = answer.json()
        if round_["state"] in ("draft", "paused"):
            opened = admin.post(f"/api/v1/admin/rounds/{round_id}/open")
            if opened.status_code != 200:
                raise SystemExit(f"opening round {round_id}: {opened.status_code} {opened.text}")
            round_ = opened.json()
        if round_["state"] != "open":
            raise SystemExit(f"round {round_id} is {round_['state']}: nothing to rehearse")
    return round_
