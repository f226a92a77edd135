"""The CLI's one-shot jobs, each against the configured stores; each returns an exit code."""

from __future__ import annotations

import asyncpg
import click

import migrations
from selection.settings import Settings


async def migrate_database(settings: Settings) -> int:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        applied = await migrations.apply(conn)
    finally:
        await conn.close()
    click.echo(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""), err=True)
    return 0


async def load_demo(settings: Settings) -> int:
    from courses.demo import load_demo_data

    assert settings.database_url is not None
    await migrate_database(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        summary = await load_demo_data(conn)
    finally:
        await conn.close()
    click.echo(summary, err=True)
    return 0


async def rebuild_gate(settings: Settings) -> int:
    click.echo("rebuild: not built yet", err=True)
    return 1


async def check_invariants(settings: Settings) -> int:
    click.echo("check: not built yet", err=True)
    return 1
