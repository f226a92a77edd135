"""The ``selection`` console script: serve, migrate, token, demo, rebuild, check."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import click

from lib.settings import Settings


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env(**overrides)


def _with_stores(settings: Settings, work: Callable[[Settings], Coroutine[Any, Any, int]]) -> int:
    """Run ``work`` against the configured servers, or embedded ones when no URL is set."""
    from selection.cli.embedded import embedded_services

    with embedded_services(settings.data_dir, settings.database_url, settings.redis_url) as (db, rd):
        resolved = Settings.from_env(database_url=db, redis_url=rd)
        return asyncio.run(work(resolved))


@click.group()
def main() -> None:
    """Course selection for graduate schools."""


@main.command()
@click.option("--workers", type=int, default=None, help="Server worker processes (wins over SELECTION_WORKERS).")
@click.option("--dev", is_flag=True, help="Allow a generated JWT secret, print tokens, load demo data if empty.")
def serve(workers: int | None, dev: bool) -> None:
    """Apply pending migrations, load the gate state from PostgreSQL into Redis, serve HTTP."""
    from selection.cli.serve import run_server
    from selection.web.auth import secret_too_short

    settings = _settings(workers=workers)
    if settings.dev_sign_in and not dev:
        # Anyone may sign in as anyone there: only `serve --dev` turns it on, never the environment.
        raise click.ClickException("SELECTION_DEV_SIGN_IN is for serve --dev alone; unset it")
    if not settings.jwt_secret:
        if not dev:
            raise click.ClickException("SELECTION_JWT_SECRET is not set (use --dev for a throw-away secret)")
    elif problem := secret_too_short(settings.jwt_secret):
        if not dev:
            raise click.ClickException(f"{problem} (make one with: openssl rand -base64 48)")
        click.echo(f"warning: {problem}; --dev accepts it, serve without --dev refuses it", err=True)
    sys.exit(run_server(settings, dev=dev))


@main.command()
def migrate() -> None:
    """Apply pending migrations and exit."""
    from selection.cli.jobs import migrate_database

    sys.exit(_with_stores(_settings(), migrate_database))


def _subject(context: click.Context, parameter: click.Parameter, value: str) -> str:
    """The service refuses a token whose ``sub`` is outside the id alphabet: do not mint one."""
    from selection.web.auth import SUBJECT_PATTERN

    if not re.search(SUBJECT_PATTERN, value):
        raise click.BadParameter("must be 1 to 64 of [A-Za-z0-9_.-]")
    return value


@main.command()
@click.option(
    "--sub", required=True, callback=_subject, help="The student's or administrator's id: 1 to 64 of [A-Za-z0-9_.-]."
)
@click.option("--role", type=click.Choice(["student", "admin"]), required=True)
@click.option("--ttl", type=int, default=12 * 3600, show_default=True, help="Lifetime in seconds.")
def token(sub: str, role: str, ttl: int) -> None:
    """Print a signed bearer token, alone, on stdout."""
    from selection.web.auth import mint_token, secret_too_short

    secret = os.environ.get("SELECTION_JWT_SECRET")
    if not secret:
        raise click.ClickException("SELECTION_JWT_SECRET is not set")
    if problem := secret_too_short(secret):
        raise click.ClickException(problem)
    click.echo(mint_token(secret, sub, "admin" if role == "admin" else "student", timedelta(seconds=ttl)))


@main.command()
def demo() -> None:
    """Load the demo data set (7,390 students, 180 offerings, one round)."""
    from selection.cli.jobs import load_demo

    sys.exit(_with_stores(_settings(), load_demo))


@main.command()
def rebuild() -> None:
    """Rebuild all of Redis's gate state from PostgreSQL (safe against a live service)."""
    from selection.cli.jobs import rebuild_gate

    sys.exit(_with_stores(_settings(), rebuild_gate))


@main.command()
def check() -> None:
    """Verify the service's invariants against PostgreSQL and Redis; exit 1 on any violation."""
    from selection.cli.jobs import check_invariants

    sys.exit(_with_stores(_settings(), check_invariants))


@main.command()
@click.option("--verify", is_flag=True, required=True, help="Recompute the drawn round and compare (the only action).")
@click.option("--round", "round_id", required=True, help="The lottery round's id.")
def draw(verify: bool, round_id: str) -> None:
    """Recompute a drawn lottery round from its draw input; exit 1 on any difference."""
    from selection.cli.jobs import verify_draw

    sys.exit(_with_stores(_settings(), lambda settings: verify_draw(settings, round_id)))
