"""``make rehearse``: will this round's opening hold on this deployment? One line of verdict.

    python -m loadtests.rehearse --database-url postgresql://.../staging --round autumn-2026 --i-have-a-copy

Starts the service here (``--workers``, embedded Redis unless ``--redis-url``) on a staging copy
of the round's data, opens the round, lets the round's students arrive as at the real opening,
checks the invariants, and prints:

    this round's opening is expected to finish in N s with p99 M ms on this deployment

Without ``--database-url`` it rehearses the demo round on throw-away stores. The rehearsal
writes selections, opens the round, and ``selection serve`` applies pending migrations: it
refuses a database unless told it is a copy.
"""

from __future__ import annotations

import math
import os

import click

from loadtests.cpu import COMPONENTS
from loadtests.opening import Opening, Result, run_opening, summary
from loadtests.stack import exit_on_sigterm

REHEARSAL_HOST = "http://127.0.0.1:8031"


def verdict(result: Result) -> str:
    """The operator's line; a sample's numbers are scaled to the full cohort by throughput."""
    if result.all_done_s is None or not result.requests:
        return "this round's opening could not be rehearsed: the students did not finish (see the report)"
    seconds = result.all_done_s
    note = ""
    full_cohort = result.cohort
    if result.students < full_cohort:
        # The service runs saturated through a burst: the whole cohort's requests at the rate measured.
        seconds = max(seconds, _cohort_requests(result) / result.requests_per_s)
        note = (
            f" (extrapolated from {result.students} of {full_cohort} students; the p99 is the sample's and"
            " a full burst queues longer)"
        )
    p99 = "-" if result.p99_ms is None else f"{result.p99_ms:.0f}"
    line = f"this round's opening is expected to finish in {math.ceil(seconds)} s with p99 {p99} ms on this deployment"
    if result.exit_code == 1:
        line += "; BUT the rehearsal found errors or broken invariants"
    return line + note


def _cohort_requests(result: Result) -> float:
    """The whole cohort's requests: a sample's, scaled by its students."""
    return result.requests / result.students * max(result.cohort, result.students) if result.students else 0.0


def sharing(result: Result, cores: int | None = None) -> str | None:
    """What the load generator took from the machine it shared with the service, and what the
    service alone would need: on the real morning the students' phones do the students' work."""
    spent = result.cpu_seconds
    if not spent or not result.requests:
        return None
    cores = cores or os.cpu_count() or 1
    generator = spent.get("load generator", 0.0)
    service = sum(spent.get(c, 0.0) for c in COMPONENTS if c != "load generator")
    if not service:
        return None
    share = generator / (generator + service)
    alone_s = _cohort_requests(result) * (service / result.requests) / cores
    return (
        f"the load generator shared this machine and took {share:.0%} of the CPU used; the service and its stores "
        f"spent {service * 1e6 / result.requests:.0f} µs of CPU a request: without the load generator, the round's "
        f"requests would keep these {cores} cores busy for at least {math.ceil(alone_s)} s (a bound from the CPU, "
        "not a measurement)"
    )


@click.command()
@click.option("--database-url", default=None, help="A staging copy of the round's PostgreSQL (default: the demo).")
@click.option("--redis-url", default=None, help="A Redis for the rehearsal (default: a throw-away embedded one).")
@click.option("--round", "round_id", default=None, help="The round to rehearse (default: the demo round).")
@click.option("--host", default=REHEARSAL_HOST, show_default=True, help="Where the rehearsal serves (loopback).")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--students", type=int, default=None, help="Rehearse with a sample (default: the whole cohort).")
@click.option("--arrival-seconds", type=float, default=10.0, show_default=True)
@click.option("--run-time", type=int, default=60, show_default=True)
@click.option("--i-have-a-copy", "confirmed", is_flag=True, help="The database is a copy the rehearsal may write to.")
def main(
    database_url: str | None,
    redis_url: str | None,
    round_id: str | None,
    host: str,
    workers: int,
    students: int | None,
    arrival_seconds: float,
    run_time: int,
    confirmed: bool,
) -> None:
    """Rehearse a round's opening on a staging copy and say how it will go."""
    exit_on_sigterm()
    if database_url and not confirmed:
        raise click.ClickException("the rehearsal writes selections: pass --i-have-a-copy for a staging copy")
    if database_url and not redis_url:
        from loadtests.stack import local_redis

        # A staging database with a Redis of its own: the service loads the gate from PostgreSQL.
        with local_redis() as throwaway_redis:
            _run(database_url, throwaway_redis, round_id, host, workers, students, arrival_seconds, run_time)
        return
    _run(database_url, redis_url, round_id, host, workers, students, arrival_seconds, run_time)


def _run(
    database_url: str | None,
    redis_url: str | None,
    round_id: str | None,
    host: str,
    workers: int,
    students: int | None,
    arrival_seconds: float,
    run_time: int,
) -> None:
    cfg = Opening(
        host=host.rstrip("/"),
        round_id=round_id,
        students=students,
        arrival_seconds=arrival_seconds,
        cohort_rate=True,
        run_time=run_time,
        workers=workers,
        max_p99_ms=None,
        max_duration_s=None,
        database_url=database_url,
        redis_url=redis_url,
        label="rehearsal",
    )
    result = run_opening(cfg)
    click.echo(summary(result))
    click.echo(verdict(result))
    if (note := sharing(result)) is not None:
        click.echo(note)
    raise SystemExit(1 if result.exit_code == 1 else 0)


if __name__ == "__main__":
    main()
