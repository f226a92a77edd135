"""The invariant checker: the invariants 1, 2, 4 and 5 of docs/ARCHITECTURE.md, against PostgreSQL and Redis.

1. Capacity: enrolled <= capacity per offering and round (overrides excepted: each enrolment
   made by an administrator's override is allowed beyond capacity, and is audited).
2. Rules: no student holds more than the limits, two overlapping offerings, or one they are
   not eligible for (override enrolments excepted).
4. Agreement: Redis's counts, holdings and waitlists equal PostgreSQL's (once the redo logs are
   committed: the checker waits for them to drain).
5. Waitlist order: no offering has a free seat while a waiting student satisfies every rule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis

from courses.models import DAYS
from lib.sql import NamedQueries
from quota.keys import RoundKeys

_sql = NamedQueries("selection", "queries.sql")
Slot = tuple[str, str, int, int]


@dataclass
class Report:
    rounds: int = 0
    selections: int = 0
    violations: list[str] = field(default_factory=list)
    #: Changes PostgreSQL refused and set aside: no invariant is broken (none was acknowledged,
    #: and the round was rebuilt), but an operator should look at each.
    dead_letters: int = 0

    @property
    def clean(self) -> bool:
        return not self.violations

    def text(self) -> str:
        head = f"checked {self.rounds} round(s), {self.selections} current selection(s): "
        if self.clean:
            lines = [head + "no violations"]
        else:
            lines = [head + f"{len(self.violations)} violation(s)"]
            lines += [f"  - {v}" for v in self.violations[:200]]
            if len(self.violations) > 200:
                lines.append(f"  ... and {len(self.violations) - 200} more")
        if self.dead_letters:
            lines.append(
                f"attention: {self.dead_letters} change(s) set aside as dead letters "
                "(GET /api/v1/admin/dead-letters lists them)"
            )
        return "\n".join(lines)


def _slots(schedule: list[dict[str, Any]]) -> list[Slot]:
    out: list[Slot] = []
    for s in schedule:
        start = int(s["start"][:2]) * 60 + int(s["start"][3:])
        end = int(s["end"][:2]) * 60 + int(s["end"][3:])
        if s.get("date"):
            out.append((DAYS[dt.date.fromisoformat(s["date"]).weekday()], s["date"], start, end))
        else:
            out.append((s["day"], "", start, end))
    return out


def _clash(a: list[Slot], b: list[Slot]) -> bool:
    for x in a:
        for y in b:
            if x[2] < y[3] and y[2] < x[3] and ((x[1] == y[1]) if (x[1] and y[1]) else x[0] == y[0]):
                return True
    return False


def _admits(elig: dict[str, Any], cohort: int, degree: str, campus: str) -> bool:
    return (
        (not elig.get("cohorts") or cohort in elig["cohorts"])
        and (not elig.get("degrees") or degree in elig["degrees"])
        and (not elig.get("campuses") or campus in elig["campuses"])
    )


class _Round:
    def __init__(self, row: asyncpg.Record, offerings: list[asyncpg.Record], selections: list[asyncpg.Record]) -> None:
        self.id: str = row["id"]
        self.eligibility: dict[str, Any] = row["eligibility"] or {}
        self.limits: dict[str, int] = row["limits"] or {}
        self.offerings = {o["id"]: o for o in offerings}
        self.slots = {o["id"]: _slots(o["schedule"]) for o in offerings}
        self.selections = selections
        self.enrolled: dict[str, list[asyncpg.Record]] = defaultdict(list)  # by student
        self.waiting: dict[str, list[asyncpg.Record]] = defaultdict(list)  # by offering
        for s in selections:
            if s["status"] == "enrolled":
                self.enrolled[s["student_id"]].append(s)
            else:
                self.waiting[s["offering_id"]].append(s)

    def broken_rule(self, student: asyncpg.Record, offering_id: str, held: list[asyncpg.Record]) -> str | None:
        """Why holding ``offering_id`` on top of ``held`` breaks a rule, or None."""
        offering = self.offerings[offering_id]
        args = (student["cohort"], student["degree"], student["campus"])
        if not _admits(self.eligibility, *args) or not _admits(offering["eligibility"] or {}, *args):
            return "not eligible"
        others = [h for h in held if h["offering_id"] != offering_id]
        for h in others:
            if _clash(self.slots[offering_id], self.slots[h["offering_id"]]):
                return f"time conflict with {h['offering_id']}"
        category = offering["category"]
        same = sum(1 for h in others if self.offerings[h["offering_id"]]["category"] == category)
        if category in self.limits and same >= self.limits[category]:
            return f"over the {category} limit {self.limits[category]}"
        if "total" in self.limits and len(others) >= self.limits["total"]:
            return f"over the total limit {self.limits['total']}"
        return None


async def check(
    pool: asyncpg.Pool, client: aioredis.Redis, namespace: str = "", *, drain_seconds: float = 15.0
) -> Report:
    report = Report()
    async with pool.acquire() as conn:
        rounds = await conn.fetch(_sql("invariant_rounds"))
        report.dead_letters = await conn.fetchval(_sql("dead_letter_count"))
    await _wait_for_redo(client, namespace, [r["id"] for r in rounds], drain_seconds, report)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        for row in rounds:
            offerings = await conn.fetch(_sql("invariant_offerings"), row["id"])
            selections = await conn.fetch(_sql("invariant_selections"), row["id"])
            rnd = _Round(row, offerings, selections)
            report.rounds += 1
            report.selections += len(selections)
            _check_capacity_and_rules(rnd, report)
            _check_waitlists(rnd, report)
            await _check_agreement(rnd, client, RoundKeys(namespace, rnd.id), report)
    return report


async def _wait_for_redo(
    client: aioredis.Redis, namespace: str, round_ids: list[str], seconds: float, report: Report
) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        pending = {r: await client.xlen(RoundKeys(namespace, r).redo) for r in round_ids}
        pending = {r: n for r, n in pending.items() if n}
        if not pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            report.violations += [
                f"round {r}: {n} redo-log entries not committed after {seconds:.0f} s" for r, n in pending.items()
            ]
            return
        await asyncio.sleep(0.2)


def _override(s: asyncpg.Record) -> bool:
    return bool(s["last_action"] == "force_enroll_override")


def _check_capacity_and_rules(rnd: _Round, report: Report) -> None:
    counts: dict[str, int] = defaultdict(int)
    overrides: dict[str, int] = defaultdict(int)
    for held in rnd.enrolled.values():
        for s in held:
            counts[s["offering_id"]] += 1
            overrides[s["offering_id"]] += _override(s)
    for offering_id, enrolled in counts.items():
        capacity = rnd.offerings[offering_id]["capacity"]
        if enrolled - overrides[offering_id] > capacity:
            report.violations.append(
                f"round {rnd.id}: {offering_id} has {enrolled} enrolled for capacity {capacity}"
                f" ({overrides[offering_id]} by override)"
            )
    for student_id, held in rnd.enrolled.items():
        regular = [s for s in held if not _override(s)]
        # Checked in the order they were taken: each must have fitted what came before it.
        for i, s in enumerate(regular):
            why = rnd.broken_rule(s, s["offering_id"], regular[:i] + regular[i + 1 :])
            if why and why.startswith(("not eligible", "time conflict")):
                report.violations.append(f"round {rnd.id}: {student_id} holds {s['offering_id']}: {why}")
        by_category: dict[str, int] = defaultdict(int)
        for s in regular:
            by_category[rnd.offerings[s["offering_id"]]["category"]] += 1
        for category, n in by_category.items():
            if category in rnd.limits and n > rnd.limits[category]:
                report.violations.append(
                    f"round {rnd.id}: {student_id} holds {n} {category} (limit {rnd.limits[category]})"
                )
        if "total" in rnd.limits and len(regular) > rnd.limits["total"]:
            report.violations.append(f"round {rnd.id}: {student_id} holds {len(regular)} (limit {rnd.limits['total']})")


def _check_waitlists(rnd: _Round, report: Report) -> None:
    for offering_id, waiting in rnd.waiting.items():
        capacity = rnd.offerings[offering_id]["capacity"]
        enrolled = sum(1 for held in rnd.enrolled.values() for s in held if s["offering_id"] == offering_id)
        if enrolled >= capacity:
            continue
        for s in sorted(waiting, key=lambda w: w["wait_seq"]):
            if rnd.broken_rule(s, offering_id, rnd.enrolled.get(s["student_id"], [])) is None:
                report.violations.append(
                    f"round {rnd.id}: {offering_id} has {capacity - enrolled} free seat(s) while "
                    f"{s['student_id']} waits and satisfies every rule"
                )
                break


async def _check_agreement(rnd: _Round, client: aioredis.Redis, keys: RoundKeys, report: Report) -> None:
    async with client.pipeline(transaction=True) as pipe:
        pipe.hget(keys.meta, "loaded")
        pipe.hgetall(keys.capacity)
        pipe.hgetall(keys.enrolled)
        pipe.hgetall(keys.waiting)
        pipe.hgetall(keys.holdings)
        for offering_id in rnd.offerings:
            pipe.zrange(keys.waitlist(offering_id), 0, -1)
        loaded, cap, enr, wlc, hold, *queues = await pipe.execute()
    if loaded != b"1":
        report.violations.append(f"round {rnd.id}: the gate state is not loaded in Redis")
        return
    where = f"round {rnd.id}"
    pg_enrolled: dict[str, int] = defaultdict(int)
    pg_holdings: dict[str, dict[str, str]] = defaultdict(dict)
    for s in rnd.selections:
        pg_holdings[s["student_id"]][s["offering_id"]] = "e" if s["status"] == "enrolled" else "w"
        pg_enrolled[s["offering_id"]] += s["status"] == "enrolled"
    for (offering_id, offering), queue in zip(rnd.offerings.items(), queues, strict=True):
        r_cap, r_enr = int(cap.get(offering_id.encode(), -1)), int(enr.get(offering_id.encode(), 0))
        r_wlc = int(wlc.get(offering_id.encode(), 0))
        if r_cap != offering["capacity"]:
            report.violations.append(
                f"{where}: {offering_id} capacity Redis {r_cap} != PostgreSQL {offering['capacity']}"
            )
        if r_enr != pg_enrolled[offering_id]:
            report.violations.append(
                f"{where}: {offering_id} enrolled Redis {r_enr} != PostgreSQL {pg_enrolled[offering_id]}"
            )
        pg_queue = [s["student_id"] for s in sorted(rnd.waiting.get(offering_id, []), key=lambda w: w["wait_seq"])]
        r_queue = [m.decode() for m in queue]
        if r_queue != pg_queue or r_wlc != len(pg_queue):
            report.violations.append(
                f"{where}: {offering_id} waitlist Redis {r_queue[:5]}.. ({r_wlc}) != PostgreSQL {pg_queue[:5]}.."
            )
    redis_holdings = {k.decode(): msgspec.json.decode(v)["o"] for k, v in hold.items()}
    for student_id in set(redis_holdings) | set(pg_holdings):
        if (redis_holdings.get(student_id) or {}) != pg_holdings.get(student_id, {}):
            report.violations.append(
                f"{where}: {student_id} holds {redis_holdings.get(student_id)} in Redis, "
                f"{pg_holdings.get(student_id)} in PostgreSQL"
            )
