"""``make loadtest``: a round's opening under locust, then ``selection check``, then a report.

    python -m loadtests.opening [--host http://127.0.0.1:8000] [--students 7390] ...

Against a service that answers ``/ready`` at ``--host`` (``LOADTEST_HOST``), or else against one
started here: embedded PostgreSQL and Redis in a temporary folder, the demo loaded,
``selection serve --workers 2``. Exit code: 0 all well, 1 errors or broken invariants, 3 a
threshold missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import msgspec

from loadtests import report as rpt
from loadtests.cpu import CpuMeter, service_classifier
from loadtests.plan import Journal, Plan, read_journal, write_plan
from loadtests.stack import (
    BIN,
    ROOT,
    Service,
    exit_on_sigterm,
    is_ready,
    load_demo,
    local_service,
    local_stores,
    loopback_port,
    open_round,
    raise_file_limit,
    settle,
)

REPORTS = ROOT / "loadtests" / "reports"
DEFAULT_HOST = "http://127.0.0.1:8000"


@dataclass
class Opening:
    """Everything one rehearsal of an opening needs to know."""

    host: str = DEFAULT_HOST
    round_id: str | None = None
    students: int | None = None
    arrival_seconds: float = 10.0
    run_time: int = 120
    workers: int = 2
    seed: int = 1
    waitlist_share: float = 0.3
    drop_share: float = 0.03
    think_seconds: float = 0.0
    max_p99_ms: float | None = 150.0
    max_duration_s: float | None = 30.0
    database_url: str | None = None
    redis_url: str | None = None
    report_dir: Path | None = None
    label: str = "opening"
    #: A sample of students arrives at the whole cohort's rate, so the service sees the real intensity.
    cohort_rate: bool = False
    #: Record the workers with py-spy during the burst (a service started here only).
    profile: bool = False
    #: Share of students who come through the student pages (loadtests/browser_user.py).
    browser_share: float = 0.0
    #: How long a browser-like student keeps the page open (polling) after their last press.
    browser_stay_seconds: float = 30.0


class Result(msgspec.Struct, kw_only=True):
    report_dir: str
    students: int
    cohort: int
    finished: int
    all_done_s: float | None
    requests: int
    requests_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    exit_code: int
    reasons: list[str]
    #: CPU seconds by component during the burst (loadtests.cpu), for a service started here.
    cpu_seconds: dict[str, float] | None = None


def report_dir(label: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = REPORTS / f"{stamp}-{label}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def _dev_secret() -> str | None:
    path = ROOT / ".data" / "dev-jwt-secret"
    return path.read_text().strip() if path.exists() else None


@contextlib.contextmanager
def service_for(cfg: Opening, out: Path) -> Iterator[Service]:
    """The service at ``cfg.host`` if it answers, else one started here on that port."""
    port = loopback_port(cfg.host)
    if is_ready(cfg.host):
        secret = os.environ.get("SELECTION_JWT_SECRET") or _dev_secret()
        if not secret:
            raise SystemExit(f"a service answers at {cfg.host}: set SELECTION_JWT_SECRET to its secret")
        database_url = cfg.database_url or os.environ.get("SELECTION_DATABASE_URL")
        redis_url = cfg.redis_url or os.environ.get("SELECTION_REDIS_URL")
        from loadtests.stack import store_env

        click.echo(f"using the service at {cfg.host}", err=True)
        yield Service(cfg.host, secret, database_url, redis_url, None, store_env(database_url, redis_url, secret))
        return
    with contextlib.ExitStack() as stack:
        if cfg.database_url and cfg.redis_url:
            database_url, redis_url = cfg.database_url, cfg.redis_url
        elif cfg.database_url or cfg.redis_url:
            raise SystemExit("give both --database-url and --redis-url, or neither")
        else:
            database_url, redis_url = stack.enter_context(local_stores())
            click.echo("embedded PostgreSQL and Redis started; loading the demo", err=True)
            load_demo(database_url, redis_url)
        click.echo(f"starting selection serve --workers {cfg.workers} on port {port}", err=True)
        yield stack.enter_context(
            local_service(
                port=port,
                workers=cfg.workers,
                log_path=out / "server.log",
                database_url=database_url,
                redis_url=redis_url,
            )
        )


async def _students_from(database_url: str, eligibility: dict[str, list[object]]) -> list[str]:
    """The registered students the round admits: only they would come to its opening."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id, cohort, degree, campus FROM students ORDER BY id")
    finally:
        await conn.close()
    wanted = {field: set(eligibility.get(key) or []) for field, key in _ELIGIBILITY.items()}
    return [row["id"] for row in rows if all(not allowed or row[f] in allowed for f, allowed in wanted.items())]


_ELIGIBILITY = {"cohort": "cohorts", "degree": "degrees", "campus": "campuses"}


def build_plan(cfg: Opening, service: Service, round_: dict[str, object]) -> Plan:
    from courses.demo import ROUND_ID, demo_offerings, demo_popularity, demo_students

    round_id = str(round_["id"])
    if service.database_url:
        eligibility = round_.get("eligibility") or {}
        assert isinstance(eligibility, dict)
        students = asyncio.run(_students_from(service.database_url, eligibility))
    else:
        students = [s.id for s in demo_students()]
    # Students arrive in no particular order of their ids.
    random.Random(f"{cfg.seed}:arrivals").shuffle(students)
    cohort = len(students)
    if cfg.students is not None:
        students = students[: cfg.students]
    demand: dict[str, float] = {}
    if round_id == ROUND_ID:
        popularity = demo_popularity()
        demand = {o.id: popularity[o.id] * o.capacity for o in demo_offerings()}
    limits = round_.get("limits") or {}
    assert isinstance(limits, dict)
    arriving = cohort if cfg.cohort_rate else len(students)
    return Plan(
        round_id=round_id,
        students=students,
        cohort=cohort,
        demand=demand,
        limits={str(k): int(v) for k, v in limits.items()},
        seed=cfg.seed,
        waitlist_share=cfg.waitlist_share,
        drop_share=cfg.drop_share,
        think_seconds=cfg.think_seconds,
        arrivals_per_s=max(1.0, arriving / max(cfg.arrival_seconds, 0.1)),
    )


#: Seconds locust may take past its run time to stop, then again to quit on SIGTERM.
LOCUST_OVERRUN_S = 60


@dataclass(frozen=True)
class Burst:
    seconds: float
    #: CPU seconds by component (loadtests.cpu), for a service started here on stores of this machine.
    cpu_seconds: dict[str, float] | None


def run_burst(cfg: Opening, service: Service, plan_path: Path, plan: Plan, out: Path) -> tuple[int, Burst]:
    """locust's run, profiled if asked, with the CPU each part of the machine spent meanwhile."""
    with contextlib.ExitStack() as profiling:
        if cfg.profile and service.pid is not None:
            from loadtests.profile import recording

            profiling.enter_context(recording(service.pid, out, cfg.run_time + 10))
        elif cfg.profile:
            click.echo("--profile needs a service started here; not profiling", err=True)
        meter = None
        if service.pid is not None and service.database_url and service.redis_url:
            meter = CpuMeter(service_classifier(service.pid, service.database_url, service.redis_url))
            meter.start()
        began = time.monotonic()
        code = run_locust(cfg, service, plan_path, plan, out)
        seconds = time.monotonic() - began
        return code, Burst(seconds, meter.stop() if meter is not None else None)


def run_locust(cfg: Opening, service: Service, plan_path: Path, plan: Plan, out: Path) -> int:
    users = len(plan.students)
    # Every student is spawned within about a second and waits for its own moment of arrival
    # (plan.arrivals_per_s): locust's spawner, which shares a busy core with the students
    # already there, fell behind the schedule (the last of 7,390 "arrived" after 21-51 s, not 10).
    spawn_rate = max(1.0, float(users))
    command = [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "loadtests" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--host",
        service.base_url,
        "--users",
        str(users),
        "--spawn-rate",
        f"{spawn_rate:.1f}",
        "--run-time",
        f"{cfg.run_time}s",
        "--stop-timeout",
        "5",
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "locust.html"),
        "--loglevel",
        "WARNING",
        "--plan",
        str(plan_path),
        "--journal",
        str(out / "journal.json"),
        "--max-p99-ms",
        str(cfg.max_p99_ms or 0),
        "--browser-share",
        str(cfg.browser_share),
        "--browser-stay-seconds",
        str(cfg.browser_stay_seconds),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SELECTION_JWT_SECRET": service.secret,
        # The browser-like students' sessions are written into the service's session store.
        **({"SELECTION_REDIS_URL": service.redis_url} if service.redis_url else {}),
        # Each student opens a connection of its own; gevent's default resolver hands every
        # lookup of the (loopback, literal) host to a thread pool, which cost the load generator a
        # quarter of its CPU at the arrivals, on the cores it shares with the service.
        "GEVENT_RESOLVER": os.environ.get("GEVENT_RESOLVER", "block"),
    }
    click.echo(f"locust: {users} students arriving at {plan.arrivals_per_s:.0f}/s", err=True)
    with (out / "locust.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        code = wait_or_stop(process, cfg.run_time + LOCUST_OVERRUN_S, LOCUST_OVERRUN_S)
    if code == rpt.OVERRAN:
        click.echo("locust did not stop at its run time and was stopped", err=True)
    return code


def wait_or_stop(process: subprocess.Popen[bytes], seconds: float, grace: float) -> int:
    """The process's exit code, or ``OVERRAN`` once it outlives ``seconds`` and is stopped.

    It is stopped with SIGTERM first: on SIGTERM locust still writes its statistics and our
    journal, where a kill would lose both and the report would show an overloaded run as one in
    which nobody did anything. SIGKILL follows after ``grace`` seconds.
    """
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return rpt.OVERRAN


def _save_metrics(service: Service, path: Path) -> None:
    """The service's own view of the burst (group-commit sizes and durations, refusals)."""
    import httpx

    try:
        path.write_text(httpx.get(service.base_url + "/metrics", timeout=10.0).text)
    except httpx.HTTPError as exc:
        path.write_text(f"not read: {exc!r}\n")


def fetch_fairness(service: Service, round_id: str) -> dict[str, Any] | str:
    """The round's fairness report once the burst is over, or why it could not be read."""
    import httpx

    try:
        with service.admin() as admin:
            response = admin.get(f"/api/v1/admin/rounds/{round_id}/fairness")
    except httpx.HTTPError as exc:
        return repr(exc)
    if response.status_code != 200:
        return f"{response.status_code} {response.text[:200]}"
    report: dict[str, Any] = response.json()
    return report


def run_opening(cfg: Opening) -> Result:
    raise_file_limit()
    out = cfg.report_dir or report_dir(cfg.label)
    from loadtests.machine import describe

    where = describe()
    with service_for(cfg, out) as service:
        from courses.demo import ROUND_ID

        round_ = open_round(service, cfg.round_id or ROUND_ID)
        plan = build_plan(cfg, service, round_)
        plan_path = out / "plan.json"
        write_plan(plan, plan_path)
        locust_code, burst = run_burst(cfg, service, plan_path, plan, out)
        if not settle(service.base_url):
            click.echo("the service was still busy 30 s after the burst; checking anyway", err=True)
        _save_metrics(service, out / "metrics.txt")
        fairness = fetch_fairness(service, plan.round_id)
        click.echo("selection check ...", err=True)
        if service.database_url and service.redis_url:
            checked = service.cli("check")
            check_code, check_output = checked.returncode, (checked.stdout + checked.stderr).strip()
        else:
            # Without the URLs, `selection check` would start embedded servers of its own and
            # compare a stale copy of Redis: no verdict is better than a wrong one.
            check_code = 2
            check_output = "not run: set SELECTION_DATABASE_URL and SELECTION_REDIS_URL to the service's stores"
    journal_path = out / "journal.json"
    journal = read_journal(journal_path) if journal_path.exists() else Journal(students_planned=len(plan.students))
    routes = rpt.read_stats(out / "locust_stats.csv") if (out / "locust_stats.csv").exists() else []
    history = rpt.read_history(out / "locust_stats_history.csv") if routes else []
    empty = rpt.RouteStats(
        method="", name=rpt.AGGREGATED, requests=0, failures=0, requests_per_s=0.0,
        p50_ms=None, p95_ms=None, p99_ms=None, max_ms=None,
    )  # fmt: skip
    total = next((r for r in routes if r.name == rpt.AGGREGATED), empty)
    verdict = rpt.judge(
        journal,
        total,
        check_code,
        rpt.Thresholds(max_p99_ms=cfg.max_p99_ms, max_duration_s=cfg.max_duration_s),
        locust_code,
    )
    if not journal_path.exists():
        verdict.correct = False
        verdict.reasons.insert(0, "locust wrote no journal: the students' figures below are missing")
    if history:
        rpt.plot(history, out / "burst.png", f"Opening of {plan.round_id}: {len(plan.students)} students", journal)
    context = {
        **where,
        "service": service.base_url + (" (started for this run)" if service.log_path else " (already running)"),
        "round": plan.round_id,
        "students": f"{len(plan.students)} of the {plan.cohort} the round admits",
        "arrivals": f"planned at {plan.arrivals_per_s:.0f}/s",
        "thresholds": _thresholds(cfg),
        "locust exit code": str(locust_code),
    }
    text = rpt.markdown(
        title=f"Round opening: {plan.round_id}",
        context=context,
        routes=routes,
        journal=journal,
        history=history,
        check_output=check_output,
        verdict=verdict,
    )
    if burst.cpu_seconds is not None:
        text += rpt.cpu_markdown(burst.cpu_seconds, burst.seconds, total.requests, profiled=cfg.profile)
    if isinstance(fairness, dict):
        rpt.plot_fairness(fairness, out / "fairness.png", f"Who got what in {plan.round_id}")
        text += "\n" + rpt.fairness_markdown(fairness)
    else:
        text += f"\n## Fairness: how the outcome fell\n\nnot read: {fairness}\n"
    if cfg.profile:
        from loadtests.profile import markdown as profile_markdown

        text += "\n" + profile_markdown(out / "profile.raw.txt")
    (out / "report.md").write_text(text)
    result = Result(
        report_dir=str(out),
        students=len(plan.students),
        cohort=plan.cohort,
        finished=journal.students_done,
        all_done_s=journal.all_done_s,
        requests=total.requests,
        requests_per_s=total.requests_per_s,
        p50_ms=total.p50_ms,
        p95_ms=total.p95_ms,
        p99_ms=total.p99_ms,
        exit_code=verdict.exit_code,
        reasons=verdict.reasons,
        cpu_seconds=burst.cpu_seconds,
    )
    (out / "result.json").write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    return result


def _thresholds(cfg: Opening) -> str:
    parts = []
    if cfg.max_p99_ms is not None:
        parts.append(f"p99 <= {cfg.max_p99_ms:.0f} ms")
    if cfg.max_duration_s is not None:
        parts.append(f"done <= {cfg.max_duration_s:.0f} s")
    return ", ".join(parts) or "none"


def summary(result: Result) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    done = "-" if result.all_done_s is None else f"{result.all_done_s:.1f}"
    lines = [
        f"{result.finished} of {result.students} students done, all in {done} s; {result.requests} requests, "
        f"{result.requests_per_s:.0f}/s; p50 {ms(result.p50_ms)} ms, p95 {ms(result.p95_ms)} ms, "
        f"p99 {ms(result.p99_ms)} ms",
        *(f"  - {reason}" for reason in result.reasons),
        f"report: {result.report_dir}/report.md",
    ]
    return "\n".join(lines)


def _optional(value: float) -> float | None:
    return value if value > 0 else None


@click.command()
@click.option("--host", envvar="LOADTEST_HOST", default=DEFAULT_HOST, show_default=True, help="Loopback only.")
@click.option("--round", "round_id", default=None, help="Round to open and rehearse (default: the demo round).")
@click.option("--students", type=int, default=None, help="How many students arrive (default: all).")
@click.option("--arrival-seconds", type=float, default=10.0, show_default=True)
@click.option("--run-time", type=int, default=120, show_default=True, help="Hard limit on the burst, seconds.")
@click.option("--workers", type=int, default=2, show_default=True, help="Workers of a service started here.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--waitlist-share", type=float, default=0.3, show_default=True)
@click.option("--drop-share", type=float, default=0.03, show_default=True)
@click.option("--think-seconds", type=float, default=0.0, show_default=True)
@click.option("--max-p99-ms", type=float, default=150.0, show_default=True, help="0 disables.")
@click.option("--max-duration-s", type=float, default=30.0, show_default=True, help="0 disables.")
@click.option("--profile", is_flag=True, help="py-spy on the workers of a service started here.")
@click.option(
    "--browser-share", type=float, default=0.0, show_default=True, help="Share of students using the student pages."
)
@click.option("--browser-stay-seconds", type=float, default=30.0, show_default=True)
def main(
    host: str,
    round_id: str | None,
    students: int | None,
    arrival_seconds: float,
    run_time: int,
    workers: int,
    seed: int,
    waitlist_share: float,
    drop_share: float,
    think_seconds: float,
    max_p99_ms: float,
    max_duration_s: float,
    profile: bool,
    browser_share: float,
    browser_stay_seconds: float,
) -> None:
    """Rehearse a round's opening under locust; check the invariants; write a report."""
    exit_on_sigterm()
    cfg = Opening(
        host=host.rstrip("/"),
        round_id=round_id,
        students=students,
        arrival_seconds=arrival_seconds,
        run_time=run_time,
        workers=workers,
        seed=seed,
        waitlist_share=waitlist_share,
        drop_share=drop_share,
        think_seconds=think_seconds,
        max_p99_ms=_optional(max_p99_ms),
        max_duration_s=_optional(max_duration_s),
        profile=profile,
        browser_share=browser_share,
        browser_stay_seconds=browser_stay_seconds,
    )
    if browser_share > 0 and not 0 < browser_share <= 1:
        raise SystemExit("--browser-share is a share: between 0 and 1")
    result = run_opening(cfg)
    click.echo(summary(result))
    raise SystemExit(result.exit_code)


if __name__ == "__main__":
    main()
