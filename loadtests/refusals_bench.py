"""The course_full path alone: refusals a second, and Redis's time per refusal, of the select
script as it is now (alternatives computed) against the same script at an earlier revision;
with ``--enrol``, the success path the same way (selects that enrol).

    python -m loadtests.refusals_bench [--redis-url redis://127.0.0.1:6379/0] [--baseline main]
                                       [--seconds 3] [--rounds 3] [--concurrency 64]
                                       [--full-round | --enrol]

One round installed straight into Redis under a throw-away namespace (no HTTP, no PostgreSQL):
40 offerings over three categories, one full pe offering, and students who each hold two
offerings. Every call is a student's select of the full offering, refused ``course_full``. The
two scripts are measured in turn, ``--rounds`` times each, so both see the same noisy machine.
What is compared: refusals a second through one process's ScriptPipeline, and Redis's own
microseconds per call (INFO commandstats), which does not depend on the client's speed.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass

import click
import msgspec
import redis.asyncio as aioredis

from loadtests.stack import ROOT
from quota.gate import SeatGate
from quota.keys import RoundKeys
from quota.loader import GENERATION_SHIFT, RoundSnapshot, catalog_entry
from quota.pipeline import LuaScript, ScriptPipeline
from quota.scripts import PRELUDES, GateScripts, _assemble

ROUND = "refusals"
GEN = 2
CATEGORIES = ("pe", "arts", "labor")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL = "o00"
#: Room for every select of a measurement (the success path).
ROOMY = "o01"


@dataclass
class Measured:
    name: str
    refusals_per_s: float
    redis_usec_per_call: float


def _snapshot(offerings: int, students: int, open_seats: bool) -> RoundSnapshot:
    catalog: dict[str, bytes] = {}
    capacity: dict[str, int] = {}
    enrolled: dict[str, int] = {}
    for i in range(offerings):
        oid = f"o{i:02d}"
        day = DAYS[i % len(DAYS)]
        start = 8 + (i // len(DAYS)) % 10
        schedule = [{"day": day, "start": f"{start:02d}:00", "end": f"{start:02d}:50"}]
        catalog[oid] = catalog_entry(CATEGORIES[i % 3], schedule, {}, i)
        capacity[oid] = 1 if oid == FULL else (10**9 if oid == ROOMY else 10_000)
        # With open_seats every other offering has seats: the most work the alternatives can take.
        enrolled[oid] = 1 if oid == FULL else (0 if open_seats or oid == ROOMY else 10_000)
    holdings = {}
    for s in range(students):
        # Never the full one: its refusal would be already_selected.
        held = [f"o{1 + s % (offerings - 1):02d}", f"o{1 + (s + 1) % (offerings - 1):02d}"]
        holdings[f"st{s}"] = msgspec.json.encode({"p": [2024, "master", "north"], "o": dict.fromkeys(held, "e")})
    meta = {
        "state": "open",
        "state_v": "1",
        "mode": "fcfs",
        "allow_drop": "1",
        "waitlist": "0",
        "elig": "{}",
        "gen": str(GEN),
        "seq": str(GEN << GENERATION_SHIFT),
    }
    return RoundSnapshot(
        round_id=ROUND,
        generation=GEN,
        meta=meta,
        catalog=catalog,
        capacity=capacity,
        enrolled=enrolled,
        waiting=dict.fromkeys(catalog, 0),
        holdings=holdings,
        queues={},
        claims=[],
        selections=0,
    )


def _script_at(revision: str) -> LuaScript:
    """The select script as it was at ``revision`` (its preludes as they were then)."""

    def show(name: str) -> str | None:
        done = subprocess.run(
            ["git", "show", f"{revision}:quota/lua/{name}"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout if done.returncode == 0 else None

    preludes = [text for text in (show(name) for name in PRELUDES) if text is not None]
    body = show("select.lua")
    if body is None:
        raise click.ClickException(f"no quota/lua/select.lua at {revision}")
    return LuaScript("select", _assemble("\n".join(preludes), body))


async def _run(
    client: aioredis.Redis,
    script: LuaScript,
    keys: RoundKeys,
    students: int,
    seconds: float,
    concurrency: int,
    enrol: str | None = None,
) -> tuple[int, float]:
    """Calls for ``seconds``: each a select of the full offering by a student who holds two, or
    with ``enrol`` a select of that roomy offering by a student new to the round (enrolled)."""
    pipeline = ScriptPipeline(client)
    profile = msgspec.json.encode([2024, "master", "north"])
    done = 0
    deadline = time.perf_counter() + seconds
    wrong: list[object] = []

    async def one(lane: int) -> None:
        nonlocal done
        n = lane
        while time.perf_counter() < deadline:
            student = f"st{n % students}" if enrol is None else f"{enrol}-{n}"
            offering = FULL if enrol is None else ROOMY
            n += concurrency
            reply = await pipeline.call(
                script,
                [
                    *keys.fixed(),
                    keys.waitlist(offering),
                    keys.base + "idem:-",
                    keys.rate(student),
                    *keys.fair_start.select_keys(),
                    keys.attempts,
                    keys.categories,
                ],
                # No fair-start window: no ticket to hold under, no decider's lease. A baseline
                # script that takes fewer keys and arguments ignores the rest.
                (student, offering, profile, "0", "student", student, "student", "0", "", 60, "", 0, 0, 0, "t", ""),
            )
            code = reply[1].decode() if isinstance(reply[1], bytes) else reply[1]
            if code != ("course_full" if enrol is None else "enrolled"):
                wrong.append(reply)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(lane) for lane in range(concurrency)))
    elapsed = time.perf_counter() - started
    if wrong:
        raise click.ClickException(f"a call was not answered as planned: {wrong[0]!r}")
    return done, elapsed


async def _evalsha_usec(client: aioredis.Redis) -> float:
    stats = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha") or {}
    return float(entry.get("usec_per_call", 0.0))


async def _main(
    redis_url: str, baseline: str, seconds: float, rounds: int, concurrency: int, open_seats: bool, enrolling: bool
) -> list[Measured]:
    client = aioredis.Redis.from_url(redis_url)
    namespace = f"refusals-bench-{uuid.uuid4().hex[:8]}:"
    gate = SeatGate(client, namespace)
    keys = gate.keys(ROUND)
    students = 2000
    await gate.install(_snapshot(40, students, open_seats))
    if not await gate.publish(ROUND, GEN):
        raise click.ClickException("the bench round could not be published")
    scripts = {"now": GateScripts.load().select, baseline: _script_at(baseline)}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in scripts}
    try:
        for turn in range(rounds):
            for name, script in scripts.items():
                enrol = f"{name}-{turn}" if enrolling else None
                await _run(client, script, keys, students, 0.3, concurrency, enrol and enrol + "-warm")
                await client.config_resetstat()
                calls, elapsed = await _run(client, script, keys, students, seconds, concurrency, enrol)
                results[name].append((calls / elapsed, await _evalsha_usec(client)))
                # The redo log of the enrolments grows with every call: emptied between turns.
                await client.delete(keys.redo)
    finally:
        async for key in client.scan_iter(match=namespace + "*"):
            await client.delete(key)
        await client.aclose()
    return [
        Measured(
            name=name,
            refusals_per_s=statistics.median(r for r, _ in runs),
            redis_usec_per_call=statistics.median(u for _, u in runs),
        )
        for name, runs in results.items()
    ]


@click.command()
@click.option("--redis-url", default="redis://127.0.0.1:6379/0", show_default=True)
@click.option("--baseline", default="main", show_default=True, help="The git revision to compare with.")
@click.option("--seconds", type=float, default=3.0, show_default=True, help="Per measurement.")
@click.option("--rounds", type=int, default=3, show_default=True, help="Measurements of each script, alternating.")
@click.option("--concurrency", type=int, default=64, show_default=True)
@click.option(
    "--full-round/--open-round",
    default=False,
    help="Every other offering full too (alternatives find none), or all open (the most work).",
)
@click.option("--enrol", is_flag=True, help="Measure the success path instead: selects that enrol.")
def main(
    redis_url: str, baseline: str, seconds: float, rounds: int, concurrency: int, full_round: bool, enrol: bool
) -> None:
    """Measure the course_full path of the select script, now against a baseline revision."""
    measured = asyncio.run(_main(redis_url, baseline, seconds, rounds, concurrency, not full_round, enrol))
    shape = "every other offering full" if full_round else "every other offering open (13 pe candidates)"
    what = "enrolling selects (the success path)" if enrol else f"course_full refusals, {shape}"
    click.echo(f"{what}, {concurrency} at once, median of {rounds} x {seconds:g} s:")
    for m in measured:
        click.echo(f"  {m.name:>10}: {m.refusals_per_s:8,.0f} calls/s   Redis {m.redis_usec_per_call:6.1f} µs per call")


if __name__ == "__main__":
    main()
