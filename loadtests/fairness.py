"""``make fairness``: does a fair-start window take the advantage of a fast connection away?

    python -m loadtests.fairness [--students 600] [--window-seconds 6] [--slow-delay-ms 300]

Starts embedded PostgreSQL and Redis and ``selection serve --workers 2`` on 127.0.0.1, loads the
demo, and runs the same race twice under locust (``loadtests/fairness_users.py``), each on a new
round over the demo's most popular offerings: once first come, first served, once with a
fair-start window. Half the students are fast (no delay), half slow (a client-side delay before
each request); each sends one select, their first wish, at the opening. Reports the share of first
wishes won by each kind in each run, with a 95% (Wilson) interval, and plots them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import random
import subprocess
import time
from pathlib import Path

import click
import msgspec

from loadtests.fairness_users import Answer, RacePlan, Racer
from loadtests.stack import (
    BIN,
    ROOT,
    Service,
    exit_on_sigterm,
    load_demo,
    local_service,
    local_stores,
    raise_file_limit,
)

REPORTS = ROOT / "loadtests" / "reports"
#: Seconds between starting locust and the opening: every user spawned and connected by then.
LEAD_S = 4.0
Z95 = 1.959964


class Share(msgspec.Struct, frozen=True):
    kind: str
    students: int
    won: int
    share: float
    low: float
    high: float


class RunResult(msgspec.Struct, frozen=True):
    label: str
    round_id: str
    fair_start_seconds: int
    shares: list[Share]
    answers: dict[str, int]
    #: Seconds from the opening until the last answer.
    last_answer_s: float


def wilson(won: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sound near 0 and 1, where the normal one is not."""
    if n == 0:
        return 0.0, 1.0
    p = won / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def shares(answers: list[Answer]) -> list[Share]:
    out = []
    for kind in ("fast", "slow"):
        mine = [a for a in answers if a.kind == kind]
        won = sum(1 for a in mine if a.status == 201)
        low, high = wilson(won, len(mine))
        out.append(Share(kind, len(mine), won, won / len(mine) if mine else 0.0, low, high))
    return out


async def _race_field(database_url: str, offerings: int) -> tuple[list[str], list[str]]:
    """The demo's students, and its most popular offerings that every student may take."""
    import asyncpg

    from courses.demo import demo_popularity

    conn = await asyncpg.connect(database_url)
    try:
        students = [r["id"] for r in await conn.fetch("SELECT id FROM students ORDER BY id")]
        open_to_all = [
            r["id"]
            for r in await conn.fetch(
                """SELECT id FROM offerings
                   WHERE coalesce(jsonb_array_length(eligibility->'cohorts'), 0) = 0
                     AND coalesce(jsonb_array_length(eligibility->'degrees'), 0) = 0
                     AND coalesce(jsonb_array_length(eligibility->'campuses'), 0) = 0"""
            )
        ]
    finally:
        await conn.close()
    popularity = demo_popularity()
    popular = sorted(open_to_all, key=lambda o: -popularity.get(o, 0.0))[:offerings]
    return students, popular


def race(
    service: Service, out: Path, label: str, racers: list[Racer], offerings: list[str], window: int, delay: float
) -> RunResult:
    round_id = f"fairness-{label}"
    with service.admin() as admin:
        created = admin.post(
            "/api/v1/admin/rounds",
            json={
                "id": round_id,
                "name": f"Fairness, {label}",
                "offering_ids": offerings,
                "fair_start_seconds": window,
            },
        )
        if created.status_code != 201:
            raise SystemExit(f"creating {round_id}: {created.status_code} {created.text}")
        opening_at = time.time() + LEAD_S
        plan = RacePlan(round_id=round_id, opening_at=opening_at, slow_delay_s=delay, students=racers)
        plan_path, answers_path = out / f"{label}-plan.json", out / f"{label}-answers.json"
        plan_path.write_bytes(msgspec.json.encode(plan))
        command = [
            str(BIN / "locust"), "-f", str(ROOT / "loadtests" / "fairness_users.py"), "--headless", "--only-summary",
            "--host", service.base_url, "--users", str(len(racers)), "--spawn-rate", str(len(racers)),
            "--run-time", f"{int(LEAD_S + window + 60)}s", "--stop-timeout", "5", "--loglevel", "WARNING",
            "--fairness-plan", str(plan_path), "--fairness-out", str(answers_path),
        ]  # fmt: skip
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SELECTION_JWT_SECRET": service.secret,
            "GEVENT_RESOLVER": "block",
        }
        click.echo(f"{label}: {len(racers)} students, window {window} s, opening in {LEAD_S:.0f} s", err=True)
        with (out / f"{label}-locust.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            time.sleep(max(0.0, opening_at - time.time()))
            opened = admin.post(f"/api/v1/admin/rounds/{round_id}/open")
            if opened.status_code != 200:
                process.terminate()
                raise SystemExit(f"opening {round_id}: {opened.status_code} {opened.text}")
            try:
                process.wait(timeout=LEAD_S + window + 90)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout=15)
    answers = msgspec.json.decode(answers_path.read_bytes(), type=list[Answer])
    if len(answers) != len(racers):
        raise SystemExit(f"{label}: {len(answers)} answers for {len(racers)} students; see {out}")
    statuses: dict[str, int] = {}
    for a in answers:
        key = str(a.status) if a.status != 409 else f"409 {a.code}"
        statuses[key] = statuses.get(key, 0) + 1
    last = max(a.answered_at for a in answers) - opening_at
    return RunResult(label, round_id, window, shares(answers), statuses, round(last, 3))


def plot(results: list[RunResult], path: Path, delay_ms: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = 0.36
    colours = {"fast": "#1f77b4", "slow": "#ff7f0e"}
    for offset, kind in ((-width / 2, "fast"), (width / 2, "slow")):
        xs: list[float] = []
        ys: list[float] = []
        errs: list[list[float]] = [[], []]
        for i, result in enumerate(results):
            share = next(s for s in result.shares if s.kind == kind)
            xs.append(i + offset)
            ys.append(100 * share.share)
            # The interval holds the share; only float rounding could put a bound past it.
            errs[0].append(max(0.0, 100 * (share.share - share.low)))
            errs[1].append(max(0.0, 100 * (share.high - share.share)))
        label = "fast (no delay)" if kind == "fast" else f"slow (+{delay_ms} ms)"
        ax.bar(xs, ys, width, yerr=errs, capsize=4, color=colours[kind], label=label)
    ax.set_xticks(range(len(results)))
    ax.set_xticklabels(
        [
            "first come, first served" if r.fair_start_seconds == 0 else f"fair start ({r.fair_start_seconds} s)"
            for r in results
        ]
    )
    ax.set_ylabel("first wishes won (%)")
    ax.set_title("Share of first wishes won, by connection speed (95% Wilson intervals)")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(results: list[RunResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{result.label} (fair_start_seconds={result.fair_start_seconds}): answers {result.answers}")
        for s in result.shares:
            lines.append(
                f"  {s.kind}: {s.won}/{s.students} won = {100 * s.share:.1f}% "
                f"(95% interval {100 * s.low:.1f}-{100 * s.high:.1f}%)"
            )
    return "\n".join(lines)


@click.command()
@click.option("--students", type=int, default=600, show_default=True, help="Half fast, half slow.")
@click.option("--offerings", type=int, default=3, show_default=True, help="The most popular ones, open to all.")
@click.option("--window-seconds", type=int, default=6, show_default=True)
@click.option("--slow-delay-ms", type=int, default=300, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--port", type=int, default=8765, show_default=True, help="On 127.0.0.1.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=ROOT / "docs" / "fairness.png")
def main(
    students: int,
    offerings: int,
    window_seconds: int,
    slow_delay_ms: int,
    workers: int,
    seed: int,
    port: int,
    plot_path: Path,
) -> None:
    """Race fast and slow students for popular offerings, with and without a fair-start window."""
    exit_on_sigterm()
    raise_file_limit()
    out = REPORTS / f"fairness-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    with local_stores() as (database_url, redis_url):
        click.echo("embedded PostgreSQL and Redis started; loading the demo", err=True)
        load_demo(database_url, redis_url)
        everyone, popular = asyncio.run(_race_field(database_url, offerings))
        rng = random.Random(seed)
        chosen = rng.sample(everyone, min(students, len(everyone)))
        kinds = ["fast", "slow"] * (len(chosen) // 2 + 1)
        rng.shuffle(kinds)
        racers = [Racer(s, kinds[i], rng.choice(popular)) for i, s in enumerate(chosen)]
        with local_service(
            port=port, workers=workers, log_path=out / "server.log", database_url=database_url, redis_url=redis_url
        ) as service:
            results = [
                race(service, out, label, racers, popular, window, slow_delay_ms / 1000)
                for label, window in (("plain", 0), ("window", window_seconds))
            ]
            check = service.cli("check")
    (out / "fairness.json").write_bytes(msgspec.json.format(msgspec.json.encode(results)))
    plot(results, plot_path, slow_delay_ms)
    click.echo(summary(results))
    click.echo(f"seats: {', '.join(popular)}; report {out}; plot {plot_path}")
    click.echo(f"selection check: exit {check.returncode}")
    raise SystemExit(0 if check.returncode == 0 else 1)


if __name__ == "__main__":
    main()
