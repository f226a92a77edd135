"""Reading locust's CSV output and writing the opening's report: numbers, verdict, plot."""

from __future__ import annotations

import bisect
import csv
import os
from pathlib import Path
from typing import Any

import msgspec

from loadtests.cpu import COMPONENTS
from loadtests.plan import Journal

AGGREGATED = "Aggregated"


class RouteStats(msgspec.Struct, kw_only=True):
    method: str
    name: str
    requests: int
    failures: int
    requests_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class Sample(msgspec.Struct, kw_only=True):
    """One second of the stats history (percentiles over a short trailing window)."""

    t: float
    #: The second's Unix time.
    epoch: int
    users: int
    requests_per_s: float
    failures_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def _number(value: str | None) -> float | None:
    if value in (None, "", "N/A"):
        return None
    return float(value)


def read_stats(path: Path) -> list[RouteStats]:
    with path.open(newline="") as f:
        return [
            RouteStats(
                method=row["Type"],
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                requests_per_s=float(row["Requests/s"]),
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
                max_ms=_number(row["Max Response Time"]),
            )
            for row in csv.DictReader(f)
        ]


def read_history(path: Path) -> list[Sample]:
    rows = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["Name"] == AGGREGATED:
                rows.append(row)
    if not rows:
        return []
    # Throughput from the cumulative counts: locust's own Requests/s column is a trailing
    # ten-second average, two seconds late, which flattens a burst out of recognition.
    start = int(rows[0]["Timestamp"])
    samples: list[Sample] = []
    before_t, before_n, before_f = start, 0, 0
    for row in rows:
        t, n, failed = int(row["Timestamp"]), int(row["Total Request Count"]), int(row["Total Failure Count"])
        span = max(t - before_t, 1)
        samples.append(
            Sample(
                t=t - start,
                epoch=t,
                users=int(row["User Count"]),
                requests_per_s=(n - before_n) / span,
                failures_per_s=(failed - before_f) / span,
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
            )
        )
        before_t, before_n, before_f = t, n, failed
    return samples


def students_active(history: list[Sample], journal: Journal | None) -> tuple[list[int], str]:
    """Students arrived and not yet done at each second, from the journal; locust's user count
    when there is none (every user is spawned at the start and waits for its arrival)."""
    if journal is None or not journal.arrivals:
        return [s.users for s in history], "locust users"
    arrivals, finishes = sorted(journal.arrivals), sorted(journal.finishes)
    return [
        bisect.bisect_right(arrivals, s.epoch) - bisect.bisect_right(finishes, s.epoch) for s in history
    ], "students active"


def plot(history: list[Sample], path: Path, title: str, journal: Journal | None = None) -> None:
    """Throughput and latency over the burst, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 7))
    t = [s.t for s in history]
    top.plot(t, [s.requests_per_s for s in history], label="requests/s")
    top.plot(t, [s.failures_per_s for s in history], label="failures/s", color="tab:red")
    top.set_ylabel("requests per second")
    active, label = students_active(history, journal)
    users = top.twinx()
    users.plot(t, active, color="tab:gray", linestyle=":", label=label)
    users.set_ylabel(label)
    top.legend(loc="upper left")
    top.set_title(title)
    for attr, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        bottom.plot(t, [getattr(s, attr) or float("nan") for s in history], label=label)
    bottom.set_ylabel("latency, ms (2 s window)")
    bottom.set_xlabel("seconds since the load generator started")
    bottom.set_yscale("log")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class Thresholds(msgspec.Struct, kw_only=True):
    max_p99_ms: float | None
    max_duration_s: float | None


class Verdict(msgspec.Struct, kw_only=True):
    correct: bool
    fast_enough: bool
    reasons: list[str]

    @property
    def exit_code(self) -> int:
        """1 for errors or broken invariants, 3 for a missed threshold only, 0 when all is well."""
        if not self.correct:
            return 1
        return 0 if self.fast_enough else 3


#: locust's exit code as reported when it had to be stopped (as timeout(1) reports it).
OVERRAN = 124


def judge(
    journal: Journal, total: RouteStats, check_code: int | None, thresholds: Thresholds, locust_code: int
) -> Verdict:
    reasons: list[str] = []
    correct = True
    if journal.server_errors:
        correct = False
        reasons.append(f"{journal.server_errors} server error(s) (5xx)")
    if journal.transport_errors:
        correct = False
        reasons.append(f"{journal.transport_errors} transport error(s)")
    if journal.unexpected:
        correct = False
        reasons.append(f"{journal.unexpected} unexpected 4xx")
    if check_code:
        correct = False
        reasons.append("selection check found violations (or could not run)")
    if journal.students_done < journal.students_planned:
        correct = False
        reasons.append(f"only {journal.students_done} of {journal.students_planned} students finished in time")
    # locust's own codes: 1 for failed requests, 3 for its p99 threshold (both judged above).
    if locust_code == OVERRAN:
        correct = False
        reasons.append("locust overran its run time and had to be stopped")
    elif locust_code not in (0, 1, 3):
        correct = False
        reasons.append(f"locust exited with {locust_code}")
    fast = True
    if thresholds.max_p99_ms is not None and (total.p99_ms or 0) > thresholds.max_p99_ms:
        fast = False
        reasons.append(f"p99 {total.p99_ms:.0f} ms over the {thresholds.max_p99_ms:.0f} ms threshold")
    done = journal.all_done_s
    if thresholds.max_duration_s is not None and (done is None or done > thresholds.max_duration_s):
        fast = False
        reasons.append(f"done in {_s(done)} s, over the {thresholds.max_duration_s:.0f} s threshold")
    return Verdict(correct=correct, fast_enough=fast, reasons=reasons)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown(
    *,
    title: str,
    context: dict[str, str],
    routes: list[RouteStats],
    journal: Journal,
    history: list[Sample],
    check_output: str,
    verdict: Verdict,
) -> str:
    total = next((r for r in routes if r.name == AGGREGATED), None)
    peak = max((s.requests_per_s for s in history), default=0.0)
    lines = [f"# {title}", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += [""]
    lines += ["## Verdict", ""]
    state = "correct" if verdict.correct else "NOT CORRECT"
    speed = "within thresholds" if verdict.fast_enough else "thresholds missed"
    lines += [f"**{state}, {speed}** (exit code {verdict.exit_code})", ""]
    lines += [f"- {reason}" for reason in verdict.reasons] or ["- no errors, no violations, thresholds met"]
    lines += ["", "## The burst", ""]
    lines += [
        f"- students: {journal.students_done} done of {journal.students_planned} planned "
        f"({journal.students_started} started, {journal.students_interrupted} stopped before the end); "
        f"last arrival after {_s(journal.last_arrival_s)} s",
        f"- time until every student was done: **{_s(journal.all_done_s)} s**",
        f"- requests: {total.requests if total else 0}, {total.requests_per_s if total else 0:.0f}/s on average, "
        f"{peak:.0f}/s at the peak second",
        f"- all routes: p50 {_ms(total.p50_ms if total else None)} ms, p95 {_ms(total.p95_ms if total else None)} ms, "
        f"**p99 {_ms(total.p99_ms if total else None)} ms**",
        f"- selections: {journal.enrolled} enrolled (201), {journal.waitlisted} waitlisted (202), "
        f"{journal.dropped} dropped (204); {journal.empty_handed} students ended with nothing",
        f"- errors: {journal.server_errors} 5xx, {journal.transport_errors} transport, "
        f"{journal.unexpected} unexpected 4xx",
        "",
        "## Per route",
        "",
        "| method | route | requests | failures | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in routes:
        lines.append(
            f"| {r.method} | {r.name} | {r.requests} | {r.failures} | {r.requests_per_s:.0f} | {_ms(r.p50_ms)} | "
            f"{_ms(r.p95_ms)} | {_ms(r.p99_ms)} | {_ms(r.max_ms)} |"
        )
    lines += ["", "## Answers", "", "| route | status | code | count |", "| --- | ---: | --- | ---: |"]
    for key, count in sorted(journal.outcomes.items()):
        name, status, code = key.split("|")
        lines.append(f"| {name} | {status} | {code} | {count} |")
    lines += ["", "## Invariant check (`selection check`)", "", "```", check_output.strip(), "```", ""]
    lines += ["## Throughput and latency", "", "![throughput and latency over the burst](burst.png)", ""]
    return "\n".join(lines)


def cpu_markdown(spent: dict[str, float], seconds: float, requests: int, *, profiled: bool) -> str:
    """Where the burst's CPU went: on a machine whose cores the service, its stores and the load
    generator share, this says how much of it the service had."""
    cores = os.cpu_count() or 1
    lines = [
        "",
        "## CPU during the burst",
        "",
        f"Read from /proc over locust's {seconds:.1f} s (start and end included); the machine has {cores} cores.",
        "",
        "| component | CPU s | cores busy on average | µs per request |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in (*COMPONENTS, "total"):
        used = sum(spent.get(c, 0.0) for c in COMPONENTS) if name == "total" else spent.get(name, 0.0)
        per_request = f"{used * 1e6 / requests:.0f}" if requests else "-"
        lines.append(f"| {name} | {used:.1f} | {used / seconds if seconds else 0.0:.2f} | {per_request} |")
    if profiled:
        lines += ["", "py-spy sampled the workers meanwhile (`--profile`): its own CPU is in none of the rows."]
    return "\n".join(lines) + "\n"


# --- how the outcome fell: GET /api/v1/admin/rounds/{round_id}/fairness ---------------------------

#: The report's groupings, in the order the table and the plot show them.
FAIRNESS_GROUPINGS = (
    ("by_cohort", "cohort"),
    ("by_degree", "degree"),
    ("by_campus", "campus"),
    ("by_arrival_decile", "arrival decile (1 = earliest)"),
)


def _pct(group: dict[str, Any], part: str) -> str:
    return f"{100 * float(group[part + '_share']):.1f} % ({group[part]})"


def fairness_markdown(report: dict[str, Any], plot_name: str | None = "fairness.png") -> str:
    """The fairness report as a section of the opening's report: one table row per group."""
    lines = ["## Fairness: how the outcome fell", "", str(report.get("basis", "")), ""]
    lines += [
        "| grouping | group | students | first wish | any wish | nothing |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    rows = [("overall", report["overall"])]
    for key, label in FAIRNESS_GROUPINGS:
        rows += [(label, group) for group in report.get(key) or []]
    for label, group in rows:
        lines.append(
            f"| {label} | {group['group']} | {group['students']} | {_pct(group, 'first_wish')} | "
            f"{_pct(group, 'any_wish')} | {_pct(group, 'nothing')} |"
        )
    lines.append("")
    if plot_name:
        lines += [f"![who got their first wish, another wish, nothing]({plot_name})", ""]
    return "\n".join(lines)


def plot_fairness(report: dict[str, Any], path: Path, title: str) -> None:
    """One panel per grouping: per group, the shares with their first wish, another wish, nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(label, [report["overall"], *(report.get(key) or [])]) for key, label in FAIRNESS_GROUPINGS]
    panels = [(label, groups) for label, groups in panels if len(groups) > 1]
    fig, axes = plt.subplots(len(panels) or 1, 1, figsize=(10, 2.2 + 1.6 * max(1, len(panels))), squeeze=False)
    for ax, (label, groups) in zip(axes[:, 0], panels, strict=False):
        names = [f"{g['group']} ({g['students']})" for g in groups]
        first = [float(g["first_wish_share"]) for g in groups]
        other = [max(0.0, float(g["any_wish_share"]) - float(g["first_wish_share"])) for g in groups]
        nothing = [float(g["nothing_share"]) for g in groups]
        ax.barh(names, first, color="tab:green", label="first wish")
        ax.barh(names, other, left=first, color="tab:olive", label="another wish")
        taken = [f + o for f, o in zip(first, other, strict=True)]
        ax.barh(names, nothing, left=taken, color="tab:red", label="nothing")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_ylabel(label)
    axes[0, 0].set_title(title, loc="left")
    # Above the first panel, clear of the bars (which reach 1.0 in every row).
    axes[0, 0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, fontsize="small", frameon=False)
    axes[-1, 0].set_xlabel("share of the group's students (students in brackets)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
