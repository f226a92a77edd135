"""A round's gate state as PostgreSQL records it: read (under a new generation) into a snapshot,
which the gate then installs in Redis in one atomic transaction (``SeatGate.install``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg
import msgspec

from lib.sql import Connection, NamedQueries
from quota.intents import CLAIM_TTL_SECONDS

#: Sequence numbers of generation g start at g << 40, above every number an older generation
#: could have handed out, so a change decided before a rebuild can never pass for a newer one.
GENERATION_SHIFT = 40

_encode = msgspec.json.encode
#: Monday first, as ``date.weekday()`` counts; the names the scripts compare schedules by.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


_sql = NamedQueries("quota", "queries.sql")


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def catalog_entry(
    category: str, schedule: list[dict[str, Any]], eligibility: dict[str, Any], position: int | None = None
) -> bytes:
    """An offering as the scripts read it: category, eligibility and schedule, pre-digested; and
    its place in the round's offerings (``i``), which orders a course_full's alternatives."""
    slots = []
    for item in schedule:
        if item.get("date"):
            date = dt.date.fromisoformat(item["date"])
            slots.append([WEEKDAYS[date.weekday()], item["date"], _minutes(item["start"]), _minutes(item["end"])])
        else:
            slots.append([item["day"], "", _minutes(item["start"]), _minutes(item["end"])])
    entry: dict[str, Any] = {"c": category, "e": eligibility_entry(eligibility), "s": slots}
    if position is not None:
        entry["i"] = position
    return _encode(entry)


def eligibility_entry(eligibility: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        "co": list(eligibility.get("cohorts") or []),
        "de": list(eligibility.get("degrees") or []),
        "ca": list(eligibility.get("campuses") or []),
    }


def _ms(value: dt.datetime | None) -> str | None:
    return None if value is None else str(int(value.timestamp() * 1000))


#: The shape of a round's gate state. Bumped whenever the scripts come to need a key or a meta
#: field that an older release did not load (the category index of course_full's alternatives,
#: the fair-start window's end): a state of another layout is rebuilt before anything trusts it,
#: so a new release never decides on what an older one left in Redis.
LAYOUT = 2


def _meta(row: asyncpg.Record, seq: int) -> dict[str, str]:
    meta = {
        "layout": str(LAYOUT),
        "state": row["state"],
        "state_v": str(row["state_version"]),
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
    meta.update(fair_start_meta(row))
    return meta


def versioned_meta(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, str]:
    """The meta fields that come with a version of the round's state (``SeatGate.set_round_state``):
    its closing time, which an administrator may move while the round runs (``""``: no bound), and
    the fair-start window's. ``row``: ``closes_at`` and what ``fair_start_meta`` reads."""
    return {"closes": _ms(row["closes_at"]) or "", **fair_start_meta(row)}


def fair_start_meta(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, str]:
    """The round's meta fields of its fair-start window, once the round has opened with one: when
    it ends (it starts at the later of the first opening and ``opens_at``) and the seed of its
    order. ``row``: the round's mode, fair_start_seconds, opened_at, opens_at, fair_start_seed."""
    if row["mode"] != "fcfs" or not row["fair_start_seconds"] or row["opened_at"] is None:
        return {}
    if row["fair_start_seed"] is None:
        return {}
    start = max(row["opened_at"], row["opens_at"]) if row["opens_at"] is not None else row["opened_at"]
    ends = start + dt.timedelta(seconds=row["fair_start_seconds"])
    return {"fs_end": str(int(ends.timestamp() * 1000)), "fs_seed": row["fair_start_seed"]}


class Claim(msgspec.Struct, frozen=True):
    """An Idempotency-Key's claim still within its retention: the request's fingerprint."""

    student_id: str
    key: str
    fingerprint: str
    ttl_seconds: int


class RoundSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the gate holds for one round, as PostgreSQL has it at one generation."""

    round_id: str
    generation: int
    meta: dict[str, str]
    #: offering id -> the scripts' catalog entry (category, eligibility, schedule).
    catalog: dict[str, bytes]
    capacity: dict[str, int]
    enrolled: dict[str, int]
    waiting: dict[str, int]
    #: student id -> JSON of the profile and holdings.
    holdings: dict[str, bytes]
    #: offering id -> {student id: the joining change's seq}.
    queues: dict[str, dict[str, int]]
    claims: list[Claim]
    selections: int


async def lock_round(conn: Connection, round_id: str) -> None:
    """Take the round's lock exclusively, until the caller's transaction ends: waits for every
    group commit into the round (they hold it shared) to finish, and holds off the next."""
    await conn.execute(_sql("lock_round_exclusive"), round_id)


async def published_generation(conn: Connection, round_id: str) -> int | None:
    """The round's generation as PostgreSQL has committed it; None for an unknown round."""
    generation: int | None = await conn.fetchval(_sql("round_generation"), round_id)
    return generation


async def read_round(conn: Connection, round_id: str) -> RoundSnapshot | None:
    """Bump the round's generation and read its whole state.

    The caller holds a transaction on ``conn`` with the round's exclusive lock taken, so no
    writer commits into the round meanwhile. The snapshot is installed in Redis unpublished;
    committing the transaction makes the new generation PostgreSQL's, and only then is the
    installed state published (``SeatGate.publish``). Returns None for an unknown round.
    """
    row = await conn.fetchrow(_sql("bump_generation"), round_id)
    if row is None:
        return None
    offerings = await conn.fetch(_sql("round_offerings"), round_id)
    selections = await conn.fetch(_sql("current_selections"), round_id)
    seq = max(await conn.fetchval(_sql("max_seq"), round_id), row["generation"] << GENERATION_SHIFT)
    claims = await conn.fetch(_sql("recent_claims"), round_id, CLAIM_TTL_SECONDS)

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
    return RoundSnapshot(
        round_id=round_id,
        generation=row["generation"],
        meta=_meta(row, seq),
        catalog={
            o["id"]: catalog_entry(o["category"], o["schedule"], o["eligibility"], o["position"]) for o in offerings
        },
        capacity={o["id"]: o["capacity"] for o in offerings},
        enrolled=enrolled,
        waiting=waiting,
        holdings={s: _encode(h) for s, h in holdings.items()},
        queues=queues,
        claims=[Claim(c["student_id"], c["key"], c["fingerprint"], c["ttl"]) for c in claims],
        selections=len(selections),
    )
