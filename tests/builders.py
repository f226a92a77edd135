"""Arrange a catalog straight in PostgreSQL (the catalog's own routes are tested elsewhere)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


def weekly(day: str, start: str, end: str) -> dict[str, str]:
    return {"day": day, "start": start, "end": end}


def once(date: str, start: str, end: str) -> dict[str, str]:
    return {"date": date, "start": start, "end": end}


async def add_students(
    db: asyncpg.Connection, *ids: str, cohort: int = 2024, degree: str = "master", campus: str = "north"
) -> None:
    await db.executemany(
        "INSERT INTO students (id, name, cohort, degree, campus, college) VALUES ($1, $1, $2, $3, $4, 'sci')",
        [(i, cohort, degree, campus) for i in ids],
    )


async def add_offering(
    db: asyncpg.Connection,
    offering_id: str,
    *,
    capacity: int = 1,
    category: str = "pe",
    schedule: list[dict[str, str]] | None = None,
    eligibility: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        """INSERT INTO offerings (id, title, category, kind, capacity, schedule, eligibility)
           VALUES ($1, $1 || ' title', $2, 'course', $3, $4::jsonb, $5::jsonb)""",
        offering_id,
        category,
        capacity,
        msgspec.json.encode(schedule or []).decode(),
        msgspec.json.encode(eligibility or {}).decode(),
    )


async def add_round(
    db: asyncpg.Connection,
    round_id: str,
    offering_ids: list[str],
    *,
    state: str = "open",
    mode: str = "fcfs",
    limits: dict[str, int] | None = None,
    waitlist: bool = False,
    allow_drop: bool = True,
    eligibility: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        """INSERT INTO rounds (id, name, mode, state, limits, waitlist, allow_drop, eligibility)
           VALUES ($1, $1, $2, $3, $4::jsonb, $5, $6, $7::jsonb)""",
        round_id,
        mode,
        state,
        msgspec.json.encode(limits or {}).decode(),
        waitlist,
        allow_drop,
        msgspec.json.encode(eligibility or {}).decode(),
    )
    await db.executemany(
        "INSERT INTO round_offerings (round_id, offering_id, position) VALUES ($1, $2, $3)",
        [(round_id, o, i) for i, o in enumerate(offering_ids)],
    )


async def announce(client: Client, round_id: str, *, seconds: float = 10.0) -> None:
    """Wait until the running app's gate has loaded a round arranged behind its back."""
    deadline = time.monotonic() + seconds
    while (response := await client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, f"round {round_id} never loaded: {response.text}"
        await asyncio.sleep(0.05)
