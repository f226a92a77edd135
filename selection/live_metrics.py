"""The service's counters as the console's dashboard reads them: the very numbers ``/metrics``
serves, summed over every worker process, read when the dashboard asks and never on the
selection path.

Counters only, never rates: the browser keeps successive readings and divides the differences
by the time between them. A process that restarts starts its counters again from zero; the
browser skips the interval in which a total went down.

With ``selection serve --workers N`` each worker counts in its own files under
``PROMETHEUS_MULTIPROC_DIR`` and this reads them all (``MultiProcessCollector``), as ``/metrics``
does; with one process and no such folder it reads the process's own registry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

#: The students' routes the dashboard draws, as the request counter labels them (method, path).
#: A select or a drop is the API's or the student page's (the page's own routes, same service).
SELECT_ROUTES = frozenset({("POST", "/api/v1/rounds/{round_id}/selections"), ("POST", "/rounds/{round_id}/select")})
DROP_ROUTES = frozenset(
    {("DELETE", "/api/v1/rounds/{round_id}/selections/{offering_id}"), ("POST", "/rounds/{round_id}/drop")}
)
BROWSE_ROUTE = ("GET", "/api/v1/rounds/{round_id}/offerings")
API_PREFIX = "/api/v1/"
#: The students' requests: the API's, and those of the student pages (a round's page, its
#: presses and its live refreshes; the home page "/" too).
STUDENT_PAGE_PREFIX = "/rounds/"


class ServiceCounters(msgspec.Struct, array_like=False):
    """Totals since each process started, summed over the processes."""

    #: When they were read (seconds since the epoch).
    at: float
    #: Every answered API request.
    requests: int
    #: Students' selects, drops and offering lists, whatever their answer.
    selects: int
    drops: int
    browses: int
    #: Refusals by the contract's code, and ``rate_limited`` for the rate limit's.
    refusals: dict[str, int]
    #: Group commits, their total time in seconds, and the histogram's cumulative buckets
    #: (upper bound in seconds, count), ``+Inf`` left out (it is ``commits``).
    commits: int
    commit_seconds: float
    commit_buckets: list[tuple[float, int]]


def default_registry() -> Any:
    """What ``/metrics`` reads (Litestar's ``PrometheusController`` decides the same way)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


class ServiceMetrics:
    """Reads the counters; ``registry`` makes the registry to read (a test may give its own)."""

    def __init__(self, registry: Callable[[], Any] = default_registry, max_age: float = 1.0) -> None:
        self._registry = registry
        self._max_age = max_age
        self._last: tuple[float, ServiceCounters] | None = None

    def read(self) -> ServiceCounters:
        """The totals, read at most ``max_age`` seconds ago: however many dashboards are open, a
        process reads the files about once a second (each reading carries its own ``at``)."""
        last = self._last
        now = time.monotonic()
        if last is not None and now - last[0] < self._max_age:
            return last[1]
        counters = self._read()
        self._last = (now, counters)
        return counters

    def _read(self) -> ServiceCounters:
        requests = selects = drops = browses = commits = 0
        commit_seconds = 0.0
        refusals: dict[str, int] = {}
        buckets: dict[float, float] = {}
        families: Iterable[Any] = self._registry().collect()
        for family in families:
            name = family.name
            if name == "selection_requests":
                for s in family.samples:
                    path = s.labels.get("path", "").replace(":str}", "}")
                    if not s.name.endswith("_total") or not (
                        path.startswith((API_PREFIX, STUDENT_PAGE_PREFIX)) or path == "/"
                    ):
                        continue
                    requests += int(s.value)
                    route = (s.labels.get("method"), path)
                    if route in SELECT_ROUTES:
                        selects += int(s.value)
                    elif route in DROP_ROUTES:
                        drops += int(s.value)
                    elif route == BROWSE_ROUTE:
                        browses += int(s.value)
            elif name == "selection_refusals":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        code = s.labels.get("code", "?")
                        refusals[code] = refusals.get(code, 0) + int(s.value)
            elif name == "selection_rate_limited":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        refusals["rate_limited"] = refusals.get("rate_limited", 0) + int(s.value)
            elif name == "selection_commit_seconds":
                for s in family.samples:
                    if s.name.endswith("_count"):
                        commits += int(s.value)
                    elif s.name.endswith("_sum"):
                        commit_seconds += float(s.value)
                    elif s.name.endswith("_bucket") and s.labels.get("le") != "+Inf":
                        bound = float(s.labels["le"])
                        buckets[bound] = buckets.get(bound, 0.0) + s.value
        return ServiceCounters(
            at=time.time(),
            requests=requests,
            selects=selects,
            drops=drops,
            browses=browses,
            refusals=dict(sorted(refusals.items())),
            commits=commits,
            commit_seconds=commit_seconds,
            commit_buckets=[(bound, int(count)) for bound, count in sorted(buckets.items())],
        )
