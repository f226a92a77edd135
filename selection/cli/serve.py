"""``selection serve``: embedded servers when needed, migrations, the gate's state, then HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from courses.demo import ROUND_ID as DEMO_ROUND
from lib.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar

_PR_SET_PDEATHSIG = 1


def _dev_secret(data_dir: Path) -> str:
    """A secret kept under the data folder, so `make run`'s tokens survive a restart."""
    path = data_dir / "dev-jwt-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


async def _prepare(settings: Settings, dev: bool) -> None:
    from selection.cli.jobs import load_demo, load_gate, migrate_database, redis_refusal

    refusal = await redis_refusal(settings)
    if refusal is not None:
        raise click.ClickException(refusal)

    await migrate_database(settings)
    if dev:
        import asyncpg

        assert settings.database_url is not None
        conn = await asyncpg.connect(settings.database_url)
        try:
            empty = not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM students)")
        finally:
            await conn.close()
        if empty:
            await load_demo(settings)
    await load_gate(settings)


def _announce(settings: Settings, dev: bool, *, secret_given: bool) -> None:
    """Where the service listens; with ``--dev``, tokens, unless they would be signed with a secret given
    in the environment: that may be production's, and a token printed to a terminal or a log is one leaked."""
    from selection.web.auth import mint_token

    base = f"http://{settings.host}:{settings.port}"
    lines = [f"serving on {base} with {settings.workers} worker(s)", f"API docs: {base}/schema"]
    if dev:
        lines.append(f"pages:         {base}/   (development sign-in: {base}/dev/sign-in)")
    if dev and secret_given:
        lines += [
            "tokens are not printed: SELECTION_JWT_SECRET was given, and a token signed with it may be good elsewhere",
            "make one with: selection token --sub ID --role student|admin   (same secret, of at least 32 bytes)",
        ]
    elif dev:
        assert settings.jwt_secret is not None
        lines += [
            "admin token:   " + mint_token(settings.jwt_secret, "admin", "admin"),
            "student token: " + mint_token(settings.jwt_secret, "s00001", "student") + "   (student s00001)",
            "more tokens:   SELECTION_JWT_SECRET=$(cat .data/dev-jwt-secret) "
            ".venv/bin/selection token --sub s00002 --role student",
            f"open the demo: curl -X POST -H 'Authorization: Bearer <admin token>' "
            f"{base}/api/v1/admin/rounds/{DEMO_ROUND}/open",
            f"then:          curl -H 'Authorization: Bearer <student token>' {base}/api/v1/rounds",
        ]
    click.echo("\n".join(lines), err=True)


def worker_app() -> Litestar:
    """The app of one server worker, run in a process group of its own.

    Ctrl-C signals the terminal's whole process group, and granian's main process then stops each
    worker with a signal of its own. A granian 2.8 worker's shutdown channel holds one signal and
    is read once, so a second or third signal blocks the worker for good in its signal handler,
    and the server never exits. Alone in its group, a worker hears only its main process.
    """
    parent = os.getppid()
    os.setpgid(0, 0)
    if sys.platform == "linux":
        # Outside the group, a kill of the group no longer reaches the worker: follow the main process instead.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)
    from selection.web.app import create_app_from_env

    return create_app_from_env()


#: Connections (and so requests) one worker serves at once: more than a round has students.
CONNECTIONS_PER_WORKER = 16_384


def raise_open_file_limit(workers: int) -> int:
    """Raise this process's soft limit on open files (inherited by the workers) towards what
    every student's connection needs, as far as the hard limit allows; returns the limit now.

    Many systems start services with a soft limit of 1,024: at an opening the 1,025th connection
    would be refused."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Each worker also holds its database and Redis connections and its files.
    wanted = CONNECTIONS_PER_WORKER * workers + 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
        return wanted
    return soft


def run_server(settings: Settings, *, dev: bool) -> int:
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    from selection.cli.embedded import embedded_services

    secret_given = bool(settings.jwt_secret)
    if dev and not secret_given:
        settings = Settings.from_env(workers=settings.workers, jwt_secret=_dev_secret(settings.data_dir))
    with (
        contextlib.ExitStack() as stack,
        embedded_services(settings.data_dir, settings.database_url, settings.redis_url) as (db, rd),
    ):
        settings = Settings.from_env(
            database_url=db, redis_url=rd, jwt_secret=settings.jwt_secret, workers=settings.workers
        )
        if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # Before anything imports prometheus_client, which picks how it keeps values once, at
            # import: the forked workers inherit that choice, and a folder set any later left each
            # worker counting in its own memory and /metrics empty. The folder is for this run.
            metrics_dir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="selection-metrics-", ignore_cleanup_errors=True)
            )
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        asyncio.run(_prepare(settings, dev))
        # Workers are separate processes that read their settings from the environment.
        os.environ.update(
            SELECTION_DATABASE_URL=db,
            SELECTION_REDIS_URL=rd,
            SELECTION_JWT_SECRET=settings.jwt_secret or "",
            SELECTION_WORKERS=str(settings.workers),
            # The development sign-in: on with --dev, and off otherwise whatever was set.
            SELECTION_DEV_SIGN_IN="1" if dev else "",
        )
        limit = raise_open_file_limit(settings.workers)
        if limit < CONNECTIONS_PER_WORKER:
            click.echo(
                f"warning: at most {limit} open files (ulimit -n): connections beyond that are refused",
                err=True,
            )
        _announce(settings, dev, secret_given=secret_given)
        server = Server(
            "selection.cli.serve:worker_app",
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.workers,
            loop=Loops.auto,
            factory=True,
            backlog=4096,
            # granian's default (backlog / workers) serves at most 2,048 connections per worker at
            # once: at an opening, where every student holds a connection, those beyond it got no
            # answer until earlier students left. Every student of a round is let in, and waits
            # in the same queue as the others.
            backpressure=CONNECTIONS_PER_WORKER,
            respawn_failed_workers=True,
            respawn_interval=0.5,
            log_access=False,
            # On SIGTERM a worker stops accepting, answers the requests it has, then stops its
            # background work; but it waits for every connection to finish its request, and a
            # client that sends its body a byte at a time would hold it for good. Past this
            # bound it is killed: nothing it acknowledged is lost (a 201/202/204 is committed
            # before it is sent), and what it had not is in the redo log, for recovery.
            workers_kill_timeout=settings.shutdown_seconds,
        )
        server.serve()
    return 0
