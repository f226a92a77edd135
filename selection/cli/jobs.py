"""The CLI's one-shot jobs, each against the configured stores; each returns an exit code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import click
import redis.asyncio as aioredis

import migrations
from lib.database import create_pool
from lib.settings import Settings
from quota.gate import SeatGate
from selection.group_commit import RedoWriter
from selection.recovery import GateRecovery


@asynccontextmanager
async def _stores(settings: Settings) -> AsyncIterator[tuple[asyncpg.Pool, aioredis.Redis]]:
    assert settings.database_url is not None
    assert settings.redis_url is not None
    pool = await create_pool(settings.database_url, size=2)
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        yield pool, client
    finally:
        await client.aclose()
        await pool.close()


def _recovery(settings: Settings, pool: asyncpg.Pool, client: aioredis.Redis) -> GateRecovery:
    gate = SeatGate(client, settings.redis_namespace)
    return GateRecovery(pool, gate, RedoWriter(pool), orphan_after_seconds=settings.recovery_after_seconds)


async def migrate_database(settings: Settings) -> int:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        applied = await migrations.apply(conn)
    except migrations.MigrationMismatch as exc:
        # Nothing may start against a schema the code does not describe; the operator decides.
        raise click.ClickException(f"migrations refused: {exc}") from exc
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


async def load_gate(settings: Settings) -> int:
    """Load every round whose gate state is missing (what ``serve`` does before it listens)."""
    async with _stores(settings) as (pool, client):
        recovery = _recovery(settings, pool, client)
        ok = await recovery.ensure_loaded()
    click.echo("gate state loaded" if ok else "gate state could not be loaded", err=True)
    return 0 if ok else 1


#: Redis must never drop a key on its own: an evicted key of a round's gate state is a seat count
#: or a holding gone, which no fence can tell from a decision.
REQUIRED_EVICTION_POLICY = "noeviction"


async def redis_refusal(settings: Settings) -> str | None:
    """Why the configured Redis cannot carry the gate, or None when it can (or cannot be asked)."""
    async with _stores(settings) as (_, client):
        policy = await SeatGate(client, settings.redis_namespace).eviction_policy()
    if policy is None:
        click.echo(
            f"warning: Redis does not tell its maxmemory-policy; it must be {REQUIRED_EVICTION_POLICY}", err=True
        )
        return None
    if policy != REQUIRED_EVICTION_POLICY:
        return (
            f"Redis evicts keys (maxmemory-policy {policy}): set it to {REQUIRED_EVICTION_POLICY}, "
            "or the gate could lose a round's seats without knowing"
        )
    return None


async def rebuild_gate(settings: Settings) -> int:
    """Rebuild every round's gate state from PostgreSQL, committing its redo log first."""
    async with _stores(settings) as (pool, client):
        recovery = _recovery(settings, pool, client)
        for round_id in await recovery.round_ids(fresh=True):
            loaded = await recovery.rebuild(round_id, force=True)
            if loaded is not None:
                click.echo(
                    f"round {round_id}: generation {loaded.generation}, {len(loaded.catalog)} offerings, "
                    f"{loaded.selections} current selections",
                    err=True,
                )
    return 0


async def check_invariants(settings: Settings) -> int:
    from selection.invariants import check

    async with _stores(settings) as (pool, client):
        report = await check(pool, client, settings.redis_namespace)
    click.echo(report.text())
    return 0 if report.clean else 1


async def verify_draw(settings: Settings, round_id: str) -> int:
    """Recompute a drawn lottery round from PostgreSQL's draw input; 1 on any difference."""
    from courses.lottery import verify
    from lib.errors import DomainError

    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, size=1)
    try:
        outcome = await verify(pool, round_id)
    except DomainError as exc:
        click.echo(f"round {round_id}: {exc.detail}", err=True)
        return 1
    finally:
        await pool.close()
    click.echo(
        f"round {round_id}: seed {outcome.seed!r}; {outcome.stored} stored placement(s),"
        f" {outcome.recomputed} recomputed"
    )
    if outcome.differences:
        for line in outcome.differences[:50]:
            click.echo(f"  {line}")
        click.echo(f"DIFFERENT: {len(outcome.differences)} difference(s)")
        return 1
    click.echo("OK: the stored placements are the draw's")
    return 0
