"""``make bench``: durable selects against the product, the naive design, the floor and the gate.

    python -m loadtests.bench [--seconds 10] [--connections 64,256,1024] [--port 8031]

One invocation, one throw-away service (embedded PostgreSQL and Redis, the demo students, the
bench app with ``--workers 2``), every target measured in turn so the ratios compare runs on the
same noisy machine minutes apart, not days. A bench round of large offerings on distinct dates
and without limits lets every select succeed, so every 201 is a durable enrollment.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import click
import msgspec

from loadtests.cpu import COMPONENTS, CpuMeter, service_classifier
from loadtests.machine import describe
from loadtests.opening import report_dir
from loadtests.stack import ROOT, Service, exit_on_sigterm, load_demo, local_service, local_stores, raise_file_limit
from loadtests.tokens import mint

CATEGORIES = ("pe", "arts", "labor")
WRK_SCRIPT = ROOT / "loadtests" / "wrk" / "select.lua"


class BenchConfig(msgspec.Struct, kw_only=True):
    port: int = 8031
    workers: int = 2
    seconds: int = 10
    #: wrk's connections: every HTTP target is measured at each of these in turn.
    connections: tuple[int, ...] = (64, 256, 1024)
    threads: int = 1
    offerings: int = 40
    gate_seconds: float = 5.0
    gate_concurrency: int = 64
    idempotency_key: bool = False
    #: py-spy on the workers during each HTTP target.
    profile: bool = False
    #: The speed goals each level of connections is held to (0: not judged).
    min_selects_per_s: float = 6000.0
    min_rate_ratio: float = 5.0
    min_p99_ratio: float = 10.0


class Target(msgspec.Struct, kw_only=True):
    name: str
    what: str
    #: wrk's connections (None: not an HTTP target).
    connections: int | None = None
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float | None = None
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    #: Rows found in PostgreSQL afterwards, for the targets that write.
    stored: int | None = None
    #: CPU per request (µs) by component: the workers, Redis, PostgreSQL, the load generator.
    cpu_us: dict[str, float] = {}
    #: Seconds the bench waited, before this target, for the service and the stores to go quiet
    #: (None: they did not within the limit, and this target shares the machine with that work).
    quiet_after_s: float | None = None
    note: str = ""


class GoalCheck(msgspec.Struct, kw_only=True):
    goal: str
    connections: int
    measured: float
    met: bool


class BenchResult(msgspec.Struct, kw_only=True):
    report_dir: str
    workers: int
    connections: list[int]
    seconds: float
    idempotency_key: bool
    targets: list[Target]
    ratios: dict[str, float]
    #: The speed goals, judged at each level of connections; a goal missed is not an error.
    goals: list[GoalCheck] = []
    check: str
    exit_code: int
    todo: list[str] = []


def _offerings(count: int) -> list[dict[str, object]]:
    first = dt.date(2027, 1, 4)
    return [
        {
            "id": f"bench-{n:03d}",
            "title": f"Bench offering {n}",
            "category": CATEGORIES[n % len(CATEGORIES)],
            "kind": "activity",
            "capacity": 1_000_000,
            # Distinct dates: no two bench offerings ever conflict.
            "schedule": [{"date": (first + dt.timedelta(days=n)).isoformat(), "start": "09:00", "end": "10:00"}],
            "eligibility": {},
        }
        for n in range(count)
    ]


def bench_round(connections: int) -> str:
    """Each level of connections selects in a round of its own: wrk's pairs of student and
    offering start afresh with each run, and would be refused as already selected."""
    return f"bench-c{connections}"


def prepare_offerings(service: Service, count: int) -> list[str]:
    made = _offerings(count)
    with service.admin() as admin:
        admin.put("/api/v1/admin/offerings", json=made).raise_for_status()
    return [str(o["id"]) for o in made]


def prepare_round(service: Service, round_id: str, offerings: list[str]) -> None:
    with service.admin() as admin:
        answer = admin.post(
            "/api/v1/admin/rounds", json={"id": round_id, "name": "Bench: durable selects", "offering_ids": offerings}
        )
        answer.raise_for_status()
        admin.post(f"/api/v1/admin/rounds/{round_id}/open").raise_for_status()


def run_wrk(
    service: Service,
    name: str,
    what: str,
    path: str,
    tokens: Path,
    offerings: list[str],
    cfg: BenchConfig,
    connections: int,
    out: Path,
    meter: CpuMeter,
) -> Target:
    command = [
        "wrk",
        f"-t{cfg.threads}",
        f"-c{connections}",
        f"-d{cfg.seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        service.base_url,
        "--",
        path,
        str(tokens),
        ",".join(offerings),
        str(cfg.threads),
        "1" if cfg.idempotency_key else "0",
    ]
    click.echo(f"wrk: {name} ({cfg.seconds} s, {connections} connections)", err=True)
    meter.start()
    done = subprocess.run(command, capture_output=True, text=True, timeout=cfg.seconds + 60, check=False)
    spent = meter.stop()
    (out / f"wrk-{name}-c{connections}.txt").write_text(done.stdout + done.stderr)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result for {name}:\n{done.stdout}{done.stderr}")
    raw = msgspec.json.decode(line.removeprefix("RESULT "))
    seconds = raw["duration_us"] / 1e6
    return Target(
        name=name,
        what=what,
        connections=connections,
        requests=raw["requests"],
        seconds=round(seconds, 2),
        requests_per_s=round(raw["requests"] / seconds, 1),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        statuses=raw["statuses"] or {},
        errors={k: v for k, v in raw["errors"].items() if v},
        cpu_us={k: round(v * 1e6 / raw["requests"], 1) for k, v in spent.items()} if raw["requests"] else {},
    )


async def _count(database_url: str, sql: str, *args: object) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


def measure_ceiling(service: Service, round_id: str, offerings: list[str], cfg: BenchConfig) -> Target:
    from courses.demo import demo_students
    from courses.students import StudentProfile
    from loadtests.baselines.ceiling import run_measure_gate

    assert service.redis_url is not None
    profiles = [StudentProfile(s.id, s.cohort, s.degree, s.campus) for s in demo_students()]
    click.echo(f"gate ceiling: the select script alone, {cfg.gate_seconds} s, {cfg.gate_concurrency} at once", err=True)
    measured = run_measure_gate(
        service.redis_url,
        round_id,
        profiles,
        offerings,
        seconds=cfg.gate_seconds,
        concurrency=cfg.gate_concurrency,
    )
    latencies = sorted(measured.latencies)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3) if latencies else 0.0

    return Target(
        name="gate",
        what="select Lua script alone against Redis, one process (redis-py asyncio, uvloop)",
        requests=len(latencies),
        seconds=round(measured.seconds, 2),
        requests_per_s=round(len(latencies) / measured.seconds, 1) if measured.seconds else 0.0,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        max_ms=round(latencies[-1] * 1000, 3) if latencies else None,
        statuses=dict(measured.outcomes),
        note=(
            f"Redis spent {measured.redis_usec_per_call:.1f} µs per select script: one Redis core could run "
            f"{1e6 / measured.redis_usec_per_call:,.0f} per second; the rest of the time above is the client's"
            if measured.redis_usec_per_call
            else ""
        ),
    )


def by_level(targets: list[Target]) -> dict[int, dict[str, Target]]:
    """The HTTP targets by level of connections, then by name, in the order measured."""
    levels: dict[int, dict[str, Target]] = {}
    for t in targets:
        if t.connections is not None:
            levels.setdefault(t.connections, {})[t.name] = t
    return levels


def ratios(targets: list[Target]) -> dict[str, float]:
    """The product against each other target, at each level of connections."""
    out: dict[str, float] = {}

    def put(key: str, level: int, numerator: float, denominator: float) -> None:
        if denominator:
            out[f"{key}, {level} connections"] = round(numerator / denominator, 2)

    gate = next((t for t in targets if t.name == "gate"), None)
    for level, by in by_level(targets).items():
        product = by.get("product")
        if product is None:
            continue
        if "naive" in by:
            put("product / naive throughput", level, product.requests_per_s, by["naive"].requests_per_s)
            put("naive p99 / product p99", level, by["naive"].p99_ms, product.p99_ms)
        if "floor" in by:
            put("product / no-op floor throughput", level, product.requests_per_s, by["floor"].requests_per_s)
        if gate is not None:
            put("product / gate ceiling throughput", level, product.requests_per_s, gate.requests_per_s)
    return out


def judge_goals(targets: list[Target], cfg: BenchConfig) -> list[GoalCheck]:
    """Each speed goal at each level of connections, read from the same run's targets."""
    checks = []
    for level, by in by_level(targets).items():
        product, naive = by.get("product"), by.get("naive")
        if product is None:
            continue
        measured: list[tuple[str, float, float]] = [
            (f"durable selects ≥ {cfg.min_selects_per_s:,.0f}/s", product.requests_per_s, cfg.min_selects_per_s)
        ]
        if naive is not None and naive.requests_per_s and product.p99_ms:
            measured += [
                (
                    f"product / naive throughput ≥ {cfg.min_rate_ratio:g}",
                    product.requests_per_s / naive.requests_per_s,
                    cfg.min_rate_ratio,
                ),
                (f"naive p99 / product p99 ≥ {cfg.min_p99_ratio:g}", naive.p99_ms / product.p99_ms, cfg.min_p99_ratio),
            ]
        checks += [
            GoalCheck(goal=goal, connections=level, measured=round(value, 2), met=value >= minimum)
            for goal, value, minimum in measured
            if minimum > 0
        ]
    return checks


def goals_table(checks: list[GoalCheck]) -> list[str]:
    if not checks:
        return []
    levels = list(dict.fromkeys(c.connections for c in checks))
    lines = [
        "",
        "## Goals",
        "",
        "Judged at each level of connections from this run alone; a goal missed is reported, not an error.",
        "",
        "| goal | " + " | ".join(f"{c} connections" for c in levels) + " |",
        "| --- | " + " | ".join("---:" for _ in levels) + " |",
    ]
    for goal in dict.fromkeys(c.goal for c in checks):
        cells = []
        for level in levels:
            found = next((c for c in checks if c.goal == goal and c.connections == level), None)
            cells.append("-" if found is None else f"{found.measured:,.2f} {'met' if found.met else '**not met**'}")
        lines.append(f"| {goal} | " + " | ".join(cells) + " |")
    return lines


def _bad(target: Target) -> list[str]:
    problems = []
    server = sum(count for status, count in target.statuses.items() if status.startswith("5"))
    if server:
        problems.append(f"{target.name}: {server} responses 5xx")
    if target.errors:
        problems.append(f"{target.name}: transport errors {target.errors}")
    return problems


def markdown(result: BenchResult, machine: dict[str, str]) -> str:
    lines = ["# Bench: durable selects", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    keys = "an Idempotency-Key on every select" if result.idempotency_key else "no Idempotency-Key"
    levels = ", ".join(str(c) for c in result.connections)
    lines += [
        f"- server: {result.workers} workers; wrk: {levels} connections in turn, "
        f"{result.seconds:.0f} s per target, {keys}",
        "",
        "| target | what | connections | requests | req/s | p50 ms | p99 ms | max ms | statuses | stored |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for t in result.targets:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(t.statuses.items()))
        if t.errors:
            statuses += f"; errors {t.errors}"
        max_ms = "-" if t.max_ms is None else f"{t.max_ms:.1f}"
        stored = "-" if t.stored is None else str(t.stored)
        lines.append(
            f"| {t.name} | {t.what} | {t.connections or '-'} | {t.requests} | {t.requests_per_s:.0f} | "
            f"{t.p50_ms:.2f} | {t.p99_ms:.2f} | {max_ms} | {statuses} | {stored} |"
        )
    lines += [f"\n{label(t)}: {t.note}" for t in result.targets if t.note]
    waits = ", ".join(f"{label(t)} {t.quiet_after_s} s" for t in result.targets if t.quiet_after_s is not None)
    if waits:
        lines += [
            "",
            "Before each HTTP target the service and the stores were let go quiet (under 5 % of a core "
            f"over half a second): {waits}.",
        ]
    lines += cpu_table(result.targets)
    lines += ["", "## Ratios", ""]
    lines += [f"- {k}: **{v}**" for k, v in result.ratios.items()] or ["- none (a target is missing)"]
    lines += goals_table(result.goals)
    if result.todo:
        lines += ["", "## Not measured", ""] + [f"- {t}" for t in result.todo]
    lines += ["", "## selection check", "", "```", result.check.strip(), "```", ""]
    return "\n".join(lines)


ROUTES = {
    "floor": ("authenticated no-op route, same body, same stack", "/bench/noop"),
    "naive": ("one transaction per select, offering row locked (loadtests/baselines)", "/bench/naive"),
    "product": ("POST /api/v1/rounds/{id}/selections: gate + group commit", "/api/v1"),
}


def label(target: Target) -> str:
    return target.name if target.connections is None else f"{target.name} ({target.connections})"


def measure_routes(
    service: Service, tokens: Path, offerings: list[str], cfg: BenchConfig, out: Path, meter: CpuMeter
) -> list[Target]:
    """wrk against each route in turn, at each level of connections in turn (py-spy on the
    workers during each, if asked)."""
    targets = []
    for connections, (name, (what, prefix)) in itertools.product(cfg.connections, ROUTES.items()):
        path = f"{prefix}/rounds/{bench_round(connections)}/selections"
        # wrk stops with its connections' requests still queued in the server: the naive design
        # needs seconds to answer a thousand of them. Measured at once, the next target would wait
        # behind them and be charged their CPU.
        quiet_after = meter.wait_idle()
        with contextlib.ExitStack() as stack:
            if cfg.profile and service.pid is not None:
                from loadtests.profile import recording

                stack.enter_context(recording(service.pid, out, cfg.seconds, name=f"profile-{name}-c{connections}"))
            target = run_wrk(service, name, what, path, tokens, offerings, cfg, connections, out, meter)
        target.quiet_after_s = quiet_after
        if quiet_after is None:
            target.note = "measured while the service or the stores were still busy with earlier work"
        targets.append(target)
    return targets


def cpu_table(targets: list[Target]) -> list[str]:
    """CPU per request by component, and the rate the machine's cores would allow at that cost."""
    measured = [t for t in targets if t.cpu_us]
    if not measured:
        return []
    cores = os.cpu_count() or 1
    lines = [
        "",
        "## CPU per request (µs), by component",
        "",
        f"Read from /proc during each target. At the total below, the machine's {cores} cores allow at most "
        "the last column, whatever the code does above them.",
        "",
        "| target | " + " | ".join(COMPONENTS) + " | total | cores allow (req/s) |",
        "| --- | " + " | ".join("---:" for _ in COMPONENTS) + " | ---: | ---: |",
    ]
    for t in measured:
        total = sum(t.cpu_us.get(c, 0.0) for c in COMPONENTS)
        cells = " | ".join(f"{t.cpu_us.get(c, 0.0):.0f}" for c in COMPONENTS)
        allow = f"{cores * 1e6 / total:,.0f}" if total else "-"
        lines.append(f"| {label(t)} | {cells} | {total:.0f} | {allow} |")
    return lines


def run_bench(cfg: BenchConfig) -> BenchResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk; make bench does it)")
    raise_file_limit()
    out = report_dir("bench")
    where = describe()
    targets: list[Target] = []
    todo: list[str] = []
    with local_stores() as (database_url, redis_url):
        click.echo("embedded PostgreSQL and Redis started; loading the demo", err=True)
        load_demo(database_url, redis_url)
        with local_service(
            port=cfg.port,
            workers=cfg.workers,
            log_path=out / "server.log",
            database_url=database_url,
            redis_url=redis_url,
            app="loadtests.baselines.app:create_bench_app",
        ) as service:
            offerings = prepare_offerings(service, cfg.offerings)
            for connections in cfg.connections:
                prepare_round(service, bench_round(connections), offerings)
            from courses.demo import demo_students

            assert service.pid is not None
            meter = CpuMeter(service_classifier(service.pid, database_url, redis_url))
            tokens = out / "tokens.txt"
            tokens.write_text("\n".join(mint(service.secret, s.id, ttl_seconds=3600) for s in demo_students()) + "\n")
            try:
                targets += measure_routes(service, tokens, offerings, cfg, out, meter)
            finally:
                tokens.unlink(missing_ok=True)
            for t in targets:
                assert t.connections is not None
                if t.name == "naive":
                    t.stored = asyncio.run(
                        _count(
                            database_url,
                            "SELECT count(*) FROM bench_naive_selections WHERE round_id = $1",
                            bench_round(t.connections),
                        )
                    )
                elif t.name == "product":
                    with service.admin() as admin:
                        stats = admin.get(f"/api/v1/admin/rounds/{bench_round(t.connections)}/stats").json()
                    t.stored = int(stats["selections"])
            try:
                targets.append(measure_ceiling(service, bench_round(cfg.connections[0]), offerings, cfg))
            except (ImportError, AttributeError) as exc:
                todo.append(f"gate ceiling: quota/ does not offer what it needs yet ({exc})")
            checked = service.cli("check")
    problems = [p for t in targets for p in _bad(t)]
    for t in targets:
        acknowledged = t.statuses.get("201", 0)
        # Stored may exceed acknowledged by what was in flight when wrk stopped counting; never fall short.
        if t.stored is not None and t.stored < acknowledged:
            problems.append(f"{label(t)}: {acknowledged} selects acknowledged (201) but only {t.stored} stored")
    if checked.returncode:
        problems.append("selection check found violations")
    result = BenchResult(
        report_dir=str(out),
        workers=cfg.workers,
        connections=list(cfg.connections),
        seconds=cfg.seconds,
        idempotency_key=cfg.idempotency_key,
        targets=targets,
        ratios=ratios(targets),
        goals=judge_goals(targets, cfg),
        check=(checked.stdout + checked.stderr).strip() + ("\n" + "\n".join(problems) if problems else ""),
        exit_code=1 if problems else 0,
        todo=todo,
    )
    (out / "bench.json").write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    text = markdown(result, where)
    if cfg.profile:
        from loadtests.profile import markdown as profile_markdown

        for t in targets:
            if t.connections is not None:
                raw = out / f"profile-{t.name}-c{t.connections}.raw.txt"
                text += "\n" + profile_markdown(raw, f"Profile of the {label(t)} target")
    (out / "bench.md").write_text(text)
    return result


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"not a list of numbers: {text!r}", param_hint="--connections") from None
    if not levels or min(levels) < 1:
        raise click.BadParameter("give one or more positive numbers", param_hint="--connections")
    return tuple(dict.fromkeys(levels))


@click.command()
@click.option("--port", type=int, default=8031, show_default=True, help="Loopback port of the bench server.")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--seconds", type=int, default=10, show_default=True, help="wrk's duration per target.")
@click.option(
    "--connections",
    default="64,256,1024",
    show_default=True,
    help="wrk's connections, comma-separated: every HTTP target is measured at each level in turn.",
)
@click.option("--threads", type=int, default=1, show_default=True, help="wrk's threads (a light generator: 1).")
@click.option("--offerings", type=int, default=40, show_default=True, help="Offerings of the bench round.")
@click.option("--gate-seconds", type=float, default=5.0, show_default=True)
@click.option("--gate-concurrency", type=int, default=64, show_default=True)
@click.option("--idempotency-key", is_flag=True, help="Send an Idempotency-Key with every select.")
@click.option("--profile", is_flag=True, help="py-spy on the workers during each HTTP target (slows them down).")
@click.option("--min-selects-per-s", type=float, default=6000.0, show_default=True, help="Goal (0: not judged).")
@click.option("--min-ratio", type=float, default=5.0, show_default=True, help="Goal: product / naive throughput.")
@click.option("--min-p99-ratio", type=float, default=10.0, show_default=True, help="Goal: naive p99 / product p99.")
def main(
    port: int,
    workers: int,
    seconds: int,
    connections: str,
    threads: int,
    offerings: int,
    gate_seconds: float,
    gate_concurrency: int,
    idempotency_key: bool,
    profile: bool,
    min_selects_per_s: float,
    min_ratio: float,
    min_p99_ratio: float,
) -> None:
    """Measure durable selects: product, naive design, no-op floor, gate ceiling; one report."""
    exit_on_sigterm()
    result = run_bench(
        BenchConfig(
            port=port,
            workers=workers,
            seconds=seconds,
            connections=_levels(connections),
            threads=threads,
            offerings=offerings,
            gate_seconds=gate_seconds,
            gate_concurrency=gate_concurrency,
            idempotency_key=idempotency_key,
            profile=profile,
            min_selects_per_s=min_selects_per_s,
            min_rate_ratio=min_ratio,
            min_p99_ratio=min_p99_ratio,
        )
    )
    for t in result.targets:
        click.echo(f"{label(t):16} {t.requests_per_s:8.0f} req/s  p50 {t.p50_ms:7.2f} ms  p99 {t.p99_ms:8.2f} ms")
        if t.note:
            click.echo(f"         {t.note}")
        if t.cpu_us:
            spent = ", ".join(f"{c} {t.cpu_us.get(c, 0.0):.0f}" for c in COMPONENTS)
            click.echo(f"         CPU µs per request: {spent}")
    for key, value in result.ratios.items():
        click.echo(f"{key}: {value}")
    for goal in result.goals:
        verdict = "met" if goal.met else "NOT MET"
        click.echo(f"goal, {goal.connections} connections: {goal.goal}: {goal.measured} {verdict}")
    if result.exit_code:
        click.echo(result.check)
    click.echo(f"report: {result.report_dir}/bench.md")
    raise SystemExit(result.exit_code)


if __name__ == "__main__":
    main()
