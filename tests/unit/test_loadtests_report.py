"""The load test's report: locust's history read per second, the verdict, the rehearsal's line."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec

from loadtests.plan import Journal
from loadtests.rehearse import verdict
from loadtests.report import RouteStats, Thresholds, judge, read_history

HEADER = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%,Total Request Count,Total Failure Count"


def _total(p99: float) -> RouteStats:
    return RouteStats(
        method="", name="Aggregated", requests=100, failures=0, requests_per_s=10.0,
        p50_ms=5.0, p95_ms=9.0, p99_ms=p99, max_ms=p99,
    )  # fmt: skip


def test_history_throughput_comes_from_the_cumulative_counts(tmp_path: Path) -> None:
    csv = tmp_path / "history.csv"
    rows = [
        "100,0,,Aggregated,0,0,N/A,N/A,N/A,0,0",
        "101,50,,/x,1,0,1,2,3,10,0",
        "101,50,,Aggregated,1,0,4,8,9,300,2",
        "103,50,,Aggregated,2,0,5,9,12,1300,2",
    ]
    csv.write_text("\n".join([HEADER, *rows]) + "\n")
    history = read_history(csv)
    assert [s.t for s in history] == [0, 1, 3]
    assert [s.requests_per_s for s in history] == [0.0, 300.0, 500.0]
    assert history[1].failures_per_s == 2.0
    assert history[0].p99_ms is None
    assert history[2].p99_ms == 12.0


def test_errors_and_violations_are_exit_1_a_missed_threshold_exit_3() -> None:
    done = Journal(students_planned=10, students_done=10, all_done_s=20.0)
    loose = Thresholds(max_p99_ms=150, max_duration_s=30)
    assert judge(done, _total(100), 0, loose, 0).exit_code == 0
    assert judge(done, _total(200), 0, loose, 0).exit_code == 3
    assert judge(done, _total(100), 1, loose, 0).exit_code == 1
    failing = Journal(students_planned=10, students_done=10, all_done_s=20.0, server_errors=1)
    assert judge(failing, _total(100), 0, loose, 1).exit_code == 1
    unfinished = Journal(students_planned=10, students_done=9)
    assert judge(unfinished, _total(100), 0, Thresholds(max_p99_ms=None, max_duration_s=None), 0).exit_code == 1


def test_a_sample_rehearsal_is_scaled_to_the_cohort_by_throughput() -> None:
    from loadtests.opening import Result

    sample = Result(
        report_dir="r", students=1000, cohort=7000, finished=1000, all_done_s=4.0, requests=10_000, requests_per_s=2500.0,
        p50_ms=20.0, p95_ms=60.0, p99_ms=90.4, exit_code=0, reasons=[],
    )  # fmt: skip
    line = verdict(sample)
    assert line.startswith("this round's opening is expected to finish in 28 s with p99 90 ms on this deployment")
    assert "extrapolated from 1000 of 7000 students" in line


def test_profile_summary_ranks_own_time_and_our_code_including_callees(tmp_path: Path) -> None:
    from loadtests.profile import summarise

    raw = tmp_path / "profile.raw.txt"
    boot = 'process 1:"selection serve";process 2:"selection serve";run_server (selection/cli/serve.py:131)'
    raw.write_text(
        f"{boot};select (selection/web/student_routes.py:170);_run (quota/gate.py:91);_read (/v/lib/site-packages/redis/base.py:9) 30\n"
        f"{boot};select (selection/web/student_routes.py:170);encode (selection/web/student_routes.py:180) 10\n"
        f"{boot};list_offerings (selection/web/student_routes.py:80) 60\n"
        'process 1:"selection serve" 5\n'
    )
    total, own, inclusive = summarise(raw, top=3)
    assert total == 100
    assert own[0] == ("list_offerings (selection/web/student_routes.py)", 60.0)
    assert own[1] == ("_read (redis/base.py)", 30.0)
    assert dict(inclusive) == {
        "list_offerings (selection/web/student_routes.py)": 60.0,
        "select (selection/web/student_routes.py)": 40.0,
        "_run (quota/gate.py)": 30.0,
    }


@contextlib.contextmanager
def _python(code: str) -> Iterator[subprocess.Popen[bytes]]:
    """A Python child that says ``ready`` once its signal handlers are in place."""
    script = code + "\nprint('ready', flush=True)\ntime.sleep(60)\n"
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        try:
            yield child
        finally:
            child.kill()


def test_a_load_generator_that_overruns_is_stopped_so_that_it_still_writes_its_journal(tmp_path: Path) -> None:
    from loadtests.opening import wait_or_stop
    from loadtests.report import OVERRAN

    journal = tmp_path / "journal.json"
    writes_on_sigterm = (
        "import signal, sys, time, pathlib\n"
        f"def quit(*_): pathlib.Path({str(journal)!r}).write_text('{{}}'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, quit)"
    )
    with _python(writes_on_sigterm) as child:
        assert wait_or_stop(child, 1.0, 10.0) == OVERRAN
        assert child.returncode == 0
    assert journal.read_text() == "{}"

    with _python("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)") as deaf:
        assert wait_or_stop(deaf, 0.5, 0.5) == OVERRAN
        assert deaf.returncode == -signal.SIGKILL

    with subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]) as done:
        assert wait_or_stop(done, 10.0, 1.0) == 3


def test_a_driver_stopped_with_sigterm_unwinds_and_stops_what_it_started(tmp_path: Path) -> None:
    stopped = tmp_path / "stopped"
    driver = (
        "import time, pathlib\n"
        "from loadtests.stack import exit_on_sigterm\n"
        "exit_on_sigterm()\n"
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "finally:\n"
        f"    pathlib.Path({str(stopped)!r}).write_text('servers stopped')\n"
    )
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, cwd=root) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        child.terminate()
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert stopped.read_text() == "servers stopped"


def test_the_bench_waits_for_what_an_earlier_target_left_busy() -> None:
    from loadtests.cpu import CpuMeter

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        meter = CpuMeter(lambda p: "workers" if p.pid == busy.pid else None)
        assert meter.wait_idle(window=0.2, timeout=1.0) is None
    finally:
        busy.kill()
        busy.wait()
    waited = meter.wait_idle(window=0.2, timeout=5.0)
    assert waited is not None
    assert waited < 1.0


def test_the_burst_report_says_where_the_cpu_went() -> None:
    from loadtests.report import cpu_markdown

    spent = {"workers": 60.0, "redis": 6.0, "postgres": 4.0, "load generator": 50.0}
    text = cpu_markdown(spent, 60.0, 100_000, profiled=False)
    assert "| workers | 60.0 | 1.00 | 600 |" in text
    assert "| load generator | 50.0 | 0.83 | 500 |" in text
    assert "| total | 120.0 | 2.00 | 1200 |" in text
    assert "py-spy" not in text


def test_the_bench_judges_each_goal_at_each_level_of_connections() -> None:
    from loadtests.bench import BenchConfig, Target, goals_table, judge_goals

    def target(name: str, connections: int, rate: float, p99: float) -> Target:
        return Target(
            name=name, what="", connections=connections, requests=int(rate * 10), seconds=10.0,
            requests_per_s=rate, p50_ms=p99 / 2, p99_ms=p99,
        )  # fmt: skip

    targets = [
        target("naive", 64, 600.0, 150.0),
        target("product", 64, 2_700.0, 40.0),
        target("naive", 1024, 600.0, 1_800.0),
        target("product", 1024, 6_600.0, 170.0),
    ]
    checks = judge_goals(targets, BenchConfig(min_p99_ratio=0.0))
    assert [(c.connections, c.goal, c.measured, c.met) for c in checks] == [
        (64, "durable selects ≥ 6,000/s", 2_700.0, False),
        (64, "product / naive throughput ≥ 5", 4.5, False),
        (1024, "durable selects ≥ 6,000/s", 6_600.0, True),
        (1024, "product / naive throughput ≥ 5", 11.0, True),
    ]
    table = "\n".join(goals_table(checks))
    assert "| product / naive throughput ≥ 5 | 4.50 **not met** | 11.00 met |" in table


def test_the_rehearsal_says_what_the_load_generator_took_and_what_the_service_alone_needs() -> None:
    from loadtests.opening import Result
    from loadtests.rehearse import sharing

    sample = Result(
        report_dir="r", students=1000, cohort=7000, finished=1000, all_done_s=10.0, requests=10_000,
        requests_per_s=1000.0, p50_ms=20.0, p95_ms=60.0, p99_ms=90.0, exit_code=0, reasons=[],
        cpu_seconds={"workers": 4.0, "redis": 0.6, "postgres": 0.4, "load generator": 5.0},
    )  # fmt: skip
    # 5 s of service CPU for 10,000 requests: 500 µs each; the cohort's 70,000 on 2 cores: 17.5 s.
    note = sharing(sample, cores=2)
    assert note is not None
    assert "took 50% of the CPU used" in note
    assert "spent 500 µs of CPU a request" in note
    assert "busy for at least 18 s" in note
    assert sharing(msgspec.structs.replace(sample, cpu_seconds=None)) is None


def test_students_active_are_those_arrived_and_not_yet_done() -> None:
    from loadtests.report import Sample, students_active

    history = [
        Sample(t=t, epoch=1000 + t, users=9, requests_per_s=0.0, failures_per_s=0.0, p50_ms=None, p95_ms=None,
               p99_ms=None)
        for t in range(4)
    ]  # fmt: skip
    journal = Journal(students_planned=3, arrivals=[1000.5, 1001.0, 1001.2], finishes=[1002.5, 1003.0])
    assert students_active(history, journal) == ([0, 2, 3, 1], "students active")
    # Without arrivals in the journal, locust's own count (every user is spawned at the start).
    assert students_active(history, Journal(students_planned=3)) == ([9, 9, 9, 9], "locust users")


def _group(name: str, students: int, first: int, any_: int) -> dict[str, object]:
    return {
        "group": name,
        "students": students,
        "first_wish": first,
        "any_wish": any_,
        "nothing": students - any_,
        "first_wish_share": round(first / students, 4),
        "any_wish_share": round(any_ / students, 4),
        "nothing_share": round((students - any_) / students, 4),
    }


FAIRNESS = {
    "round_id": "r1",
    "mode": "fcfs",
    "basis": "Students who tried to select.",
    "students": 4,
    "overall": _group("all", 4, 2, 3),
    "by_cohort": [_group("2024", 2, 1, 2), _group("2025", 2, 1, 1)],
    "by_degree": [_group("master", 4, 2, 3)],
    "by_campus": [],
    "by_arrival_decile": [_group("1", 1, 1, 1), _group("3", 1, 0, 1), _group("6", 1, 0, 0), _group("8", 1, 1, 1)],
}


def test_fairness_table_has_a_row_per_group() -> None:
    from loadtests.report import fairness_markdown

    text = fairness_markdown(FAIRNESS)
    assert "Students who tried to select." in text
    assert "| overall | all | 4 | 50.0 % (2) | 75.0 % (3) | 25.0 % (1) |" in text
    assert "| cohort | 2025 | 2 | 50.0 % (1) | 50.0 % (1) | 50.0 % (1) |" in text
    assert "| arrival decile (1 = earliest) | 6 | 1 | 0.0 % (0) | 0.0 % (0) | 100.0 % (1) |" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 1 + 2 + 1 + 4  # the header, overall, and each group
    assert "(fairness.png)" in text


def test_fairness_plot_is_a_png(tmp_path: Path) -> None:
    from loadtests.report import plot_fairness

    path = tmp_path / "fairness.png"
    plot_fairness(FAIRNESS, path, "Who got what in r1")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
