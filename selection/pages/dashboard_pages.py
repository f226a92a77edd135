"""A round's live dashboard: ``/admin/rounds/{round_id}/dashboard`` and the numbers it polls,
``/admin/rounds/{round_id}/dashboard/data``.

Where the numbers come from, and what they cost:

- the round's fill (capacity, enrolled, waitlisted per offering) is the admission gate's, the
  counts the students' lists show (``Browse.seat_counts``: one Redis round trip, shared by every
  reader of the process for ``BROWSE_SECONDS``); when the gate has no state of the round loaded,
  the admin API's stats from PostgreSQL (``Roster.stats``, about 50 ms for a round of 51,000
  selections, against well under a millisecond from the gate);
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
from selection.browse import Browse
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
    #: ``gate`` (Redis: the counts students see) or ``postgres`` (the record, when the gate has
    #: no state of the round loaded).
    source: str
    enrolled: int
    waitlisted: int
    offerings: list[RoundFill]
    service: ServiceCounters


async def round_fill(
    browse: Browse, catalog: CachedCatalog, roster: Roster, round_id: str
) -> tuple[str, list[RoundFill]]:
    """Each offering's fill, in the round's order: from the gate, else from PostgreSQL."""
    stats = None
    try:
        capacity, enrolled, waiting = await browse.seat_counts(round_id)
    except errors.Unavailable:
        stats = await roster.stats(round_id)
    if stats is not None:
        return "postgres", [RoundFill(o.offering_id, o.enrolled, o.capacity, o.waitlisted) for o in stats.offerings]
    order = [o.id for o in await catalog.offerings(round_id)]
    return "gate", [RoundFill(o, enrolled.get(o, 0), capacity.get(o, 0), waiting.get(o, 0)) for o in order]


_encode = msgspec.json.Encoder().encode


def dashboard_handlers(pages: Pages, metrics: ServiceMetrics | None = None) -> list[Any]:
    """The page and its data. ``metrics`` reads the counters (a test may give its own)."""
    service = metrics or ServiceMetrics()

    @get("/admin/rounds/{round_id:str}/dashboard", name="dashboard_page")
    async def dashboard_page(
        request: Request[Any, Any, Any],
        rounds: NamedDependency[RoundRegistry],
        browse: NamedDependency[Browse],
        catalog: NamedDependency[CachedCatalog],
        roster: NamedDependency[Roster],
        round_id: RoundPath,
    ) -> Template:
        admin_of(pages, request)
        try:
            the_round = await rounds.get(round_id)
        except errors.NotFound:
            raise PageError(404, "not_found") from None
        source, fill = await round_fill(browse, catalog, roster, round_id)
        return pages.render(
            request,
            "dashboard.html",
            round=the_round,
            source=source,
            fill=fill,
            enrolled=sum(o.enrolled for o in fill),
            waitlisted=sum(o.waitlisted for o in fill),
            offerings={o.id: o for o in await catalog.offerings(round_id)},
            poll_seconds=POLL_SECONDS,
            window_seconds=WINDOW_SECONDS,
        )

    @get("/admin/rounds/{round_id:str}/dashboard/data", name="dashboard_data")
    async def dashboard_data(
        request: Request[Any, Any, Any],
        browse: NamedDependency[Browse],
        catalog: NamedDependency[CachedCatalog],
        roster: NamedDependency[Roster],
        round_id: RoundPath,
    ) -> Response[bytes]:
        admin_of(pages, request)
        header = await catalog.round(round_id)
        if header is None:
            raise PageError(404, "not_found")
        source, fill = await round_fill(browse, catalog, roster, round_id)
        # Reading every worker's files is file I/O: off the event loop.
        counters = await anyio.to_thread.run_sync(service.read)
        data = DashboardData(
            round_id=round_id,
            state=header.state,
            source=source,
            enrolled=sum(o.enrolled for o in fill),
            waitlisted=sum(o.waitlisted for o in fill),
            offerings=fill,
            service=counters,
        )
        return Response(_encode(data), media_type="application/json", headers={"Cache-Control": "no-store"})

    return [dashboard_page, dashboard_data]
