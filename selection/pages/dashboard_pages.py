"""A round's live dashboard: ``/admin/rounds/{round_id}/dashboard`` and the numbers it polls,
``/admin/rounds/{round_id}/dashboard/data``.

Where the numbers come from, and what they cost:

- the round's fill (enrolled, capacity, waitlisted per offering) is the admin API's stats
  (``Roster.stats``: one read-only snapshot of PostgreSQL, the record, not the gate);
- requests, refusals by reason and the group commit's time are the service's Prometheus
  counters, read from the same registry ``/metrics`` serves (every worker's files under
  ``PROMETHEUS_MULTIPROC_DIR``), as totals. They are service-wide: every round, every worker.
  The browser turns successive totals into rates (``static/dashboard.js``).

Nothing is added to the selection path: the dashboard only reads what is counted anyway.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import PathParameter
from litestar.response import Template

from courses.cached import CachedCatalog
from courses.rounds import RoundRegistry
from lib import errors
from selection.live_metrics import ServiceCounters, ServiceMetrics
from selection.pages.site import PageError, Pages, admin_of
from selection.roster import Roster

#: A round's id in the path (anything else finds no round: a 404 page).
RoundPath = Annotated[str, PathParameter(max_length=64)]
#: How often an open dashboard asks, in seconds (while its tab is visible).
POLL_SECONDS = 2
#: How much history the lines keep, in seconds.
WINDOW_SECONDS = 300


class RoundFill(msgspec.Struct, array_like=True):
    """One offering's fill, as ``[id, enrolled, capacity, waitlisted]`` (the payload stays small)."""

    offering_id: str
    enrolled: int
    capacity: int
    waitlisted: int


class DashboardData(msgspec.Struct):
    round_id: str
    state: str
    selections: int
    students: int
    offerings: list[RoundFill]
    service: ServiceCounters


_encode = msgspec.json.Encoder().encode


def dashboard_handlers(pages: Pages, metrics: ServiceMetrics | None = None) -> list[Any]:
    """The page and its data. ``metrics`` reads the counters (a test may give its own)."""
    service = metrics or ServiceMetrics()

    @get("/admin/rounds/{round_id:str}/dashboard", name="dashboard_page")
    async def dashboard_page(
        request: Request[Any, Any, Any],
        rounds: NamedDependency[RoundRegistry],
        catalog: NamedDependency[CachedCatalog],
        roster: NamedDependency[Roster],
        round_id: RoundPath,
    ) -> Template:
        admin_of(pages, request)
        try:
            the_round = await rounds.get(round_id)
        except errors.NotFound:
            raise PageError(404, "not_found") from None
        stats = await roster.stats(round_id)
        titles = {o.id: o for o in await catalog.offerings(round_id)}
        return pages.render(
            request,
            "dashboard.html",
            round=the_round,
            stats=stats,
            offerings=titles,
            poll_seconds=POLL_SECONDS,
            window_seconds=WINDOW_SECONDS,
        )

    @get("/admin/rounds/{round_id:str}/dashboard/data", name="dashboard_data")
    async def dashboard_data(
        request: Request[Any, Any, Any],
        catalog: NamedDependency[CachedCatalog],
        roster: NamedDependency[Roster],
        round_id: RoundPath,
    ) -> Response[bytes]:
        admin_of(pages, request)
        header = await catalog.round(round_id)
        if header is None:
            raise PageError(404, "not_found")
        stats = await roster.stats(round_id)
        # Reading every worker's files is file I/O: off the event loop.
        counters = await anyio.to_thread.run_sync(service.read)
        data = DashboardData(
            round_id=round_id,
            state=header.state,
            selections=stats.selections,
            students=stats.students,
            offerings=[RoundFill(o.offering_id, o.enrolled, o.capacity, o.waitlisted) for o in stats.offerings],
            service=counters,
        )
        return Response(_encode(data), media_type="application/json", headers={"Cache-Control": "no-store"})

    return [dashboard_page, dashboard_data]
