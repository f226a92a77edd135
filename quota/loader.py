"""Loading a round's gate state from PostgreSQL into Redis, in one atomic Redis transaction."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis

from courses.models import DAYS
from courses.queries import Connection, NamedQueries
from quota.gate import CLAIM_TTL_SECONDS
from quota.keys import RoundKeys

#: Sequence numbers of generation g start at g << 40, above every number an older generation
#: could have handed out, so a change decided before a rebuild can never pass for a newer one.
GENERATION_SHIFT = 40

_encode = msgspec.json.encode


@functools.cache
def gate_sql() -> NamedQueries:
    return NamedQueries("quota", "queries.sql")


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def catalog_entry(category: str, schedule: list[dict[str, Any]], eligibility: dict[str, Any]) -> bytes:
    """An offering as the scripts read it: category, eligibility and schedule, pre-digested."""
    slots = []
    for item in schedule:
        if item.get("date"):
            date = dt.date.fromisoformat(item["date"])
            slots.append([DAYS[date.weekday()], item["date"], _minutes(item["start"]), _minutes(item["end"])])
        else:
            slots.append([item["day"], "", _minutes(item["start"]), _minutes(item["end"])])
    return _encode({"c": category, "e": eligibility_entry(eligibility), "s": slots})


def eligibility_entry(eligibility: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        "co": list(eligibility.get("cohorts") or []),
        "de": list(eligibility.get("degrees") or []),
        "ca": list(eligibility.get("campuses") or []),
    }


def _ms(value: dt.datetime | None) -> str | None:
    return None if value is None else str(int(value.timestamp() * 1000))


def _meta(row: asyncpg.Record, seq: int) -> dict[str, str]:
    meta = {
        "state": row["state"],
        "mode": row["mode"],
        "allow_drop": "1" if row["allow_drop"] else "0",
        "waitlist": "1" if row["waitlist"] else "0",
        "elig": _encode(eligibility_entry(row["eligibility"] or {})).decode(),
        "gen": str(row["generation"]),
        "seq": str(seq),
    }
    for bound in ("opens", "closes"):
        if (ms := _ms(row[f"{bound}_at"])) is not None:
            meta[bound] = ms
    for name, value in (row["limits"] or {}).items():
        meta[f"lim_{name}"] = str(value)
    return meta


class LoadedRound(msgspec.Struct, frozen=True):
    round_id: str
    generation: int
    offerings: int
    selections: int


async def load_round(conn: Connection, client: aioredis.Redis, keys: RoundKeys) -> LoadedRound | None:
    """Bump the round's generation and write its whole state to Redis.

    The caller holds a transaction on ``conn`` with the round's exclusive lock taken, so no
    writer commits into the round meanwhile; committing that transaction publishes the new
    generation. Returns None for an unknown round.
    """
    sql = gate_sql()
    row = await conn.fetchrow(sql("bump_generation"), keys.round_id)
    if row is None:
        return None
    offerings = await conn.fetch(sql("round_offerings"), keys.round_id)
    selections = await conn.fetch(sql("current_selections"), keys.round_id)
    seq = max(await conn.fetchval(sql("max_seq"), keys.round_id), row["generation"] << GENERATION_SHIFT)
    claims = await conn.fetch(sql("recent_claims"), keys.round_id, CLAIM_TTL_SECONDS)

    holdings: dict[str, dict[str, Any]] = {}
    enrolled: dict[str, int] = {o["id"]: 0 for o in offerings}
    waiting: dict[str, int] = {o["id"]: 0 for o in offerings}
    queues: dict[str, dict[str, int]] = {}
    for sel in selections:
        holding = holdings.setdefault(sel["student_id"], {"p": [sel["cohort"], sel["degree"], sel["campus"]], "o": {}})
        offering = sel["offering_id"]
        if sel["status"] == "enrolled":
            holding["o"][offering] = "e"
            enrolled[offering] += 1
        else:
            holding["o"][offering] = "w"
            waiting[offering] += 1
            queues.setdefault(offering, {})[sel["student_id"]] = sel["wait_seq"]

    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(*keys.state_keys([o["id"] for o in offerings]))
        pipe.hset(keys.meta, mapping={**_meta(row, seq), "loaded": "0"})  # type: ignore[dict-item]
        if offerings:
            pipe.hset(
                keys.catalog,
                mapping={o["id"]: catalog_entry(o["category"], o["schedule"], o["eligibility"]) for o in offerings},
            )
            pipe.hset(keys.capacity, mapping={o["id"]: o["capacity"] for o in offerings})
            pipe.hset(keys.enrolled, mapping=enrolled)  # type: ignore[arg-type]
            pipe.hset(keys.waiting, mapping=waiting)  # type: ignore[arg-type]
        if holdings:
            pipe.hset(keys.holdings, mapping={s: _encode(h) for s, h in holdings.items()})
        for offering, queue in queues.items():
            pipe.zadd(keys.waitlist(offering), queue)
        for claim in claims:
            pipe.set(keys.idempotency(claim["student_id"], claim["key"]), claim["fingerprint"], ex=claim["ttl"])
        pipe.hset(keys.meta, "loaded", "1")
        await pipe.execute()
    return LoadedRound(
        round_id=keys.round_id, generation=row["generation"], offerings=len(offerings), selections=len(selections)
    )
