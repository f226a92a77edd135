"""The students' routes: rounds, offerings with live seats, own selections, select, drop."""

from __future__ import annotations

from typing import Annotated, Any, cast

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from courses.models import ID_PATTERN, Body, Category, Id, Offering, Round, Selection
from courses.problem_docs import BODY, problems
from courses.queries import NamedQueries
from courses.students import StudentProfile
from quota.gate import GateUnavailable
from selection import errors
from selection.auth import registered_student
from selection.catalog_view import RoundHeader
from selection.idempotency import HEADER, RecordedAnswer, claim_from
from selection.refusals import SELECT_REFUSALS
from selection.runtime import Runtime
from selection.shape import require_json

_queries = NamedQueries("selection", "queries.sql")
_encode = msgspec.json.Encoder().encode

PathId = Annotated[str, PathParameter(pattern=ID_PATTERN, max_length=64)]
IdempotencyKey = Annotated[str | None, HeaderParameter(name=HEADER, required=False)]
STUDENT_BODY_LIMIT = 64 * 1024
#: How long a browse page, and the seat counts it is built from, stay fresh. Each may be served
#: as long again while its one refresh runs, so a browse shows seats at most four times this old: a
#: select is always decided on the live count.
BROWSE_SECONDS = 0.125


class SelectBody(Body):
    offering_id: Id
    waitlist: bool = False


class OfferingView(Offering, kw_only=True):
    """An offering of a round as a student sees it, with live seats."""

    remaining: int
    waitlisted: int
    eligible: bool


#: The route's ``opt`` marker: its rate limit is counted by the gate, in the script that decides.
RATE_COUNTED_BY_GATE = "rate_counted_by_gate"


async def _before(request: Request[Any, Any, Any]) -> None:
    """A registered student (403), the rate limit (429), then the request's shape (415): all
    after authentication (401), before anything is read or decided."""
    student = registered_student(request)
    if not request.route_handler.opt.get(RATE_COUNTED_BY_GATE):
        runtime: Runtime = request.app.state.runtime
        await runtime.rate_limit.check(student.id, request.path_params.get("round_id"))
    require_json(request)


@get("/rounds", summary="Rounds you are eligible for (not drafts)", responses=problems(errors.RateLimited))
async def list_rounds(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]) -> list[Round]:
    student = registered_student(request)
    rows = await runtime.pool.fetch(_queries("visible_rounds"))
    rounds = [msgspec.convert(dict(r.items()), Round) for r in rows]
    return [r for r in rounds if r.eligibility.admits(student.cohort, student.degree, student.campus)]


@get(
    "/rounds/{round_id:str}/offerings",
    summary="Every offering of a round, with live seats",
    responses=problems(
        errors.ValidationFailed, errors.NotFound, errors.RoundNotOpen, errors.RateLimited, errors.Unavailable
    ),
)
async def list_offerings(
    request: Request[Any, Any, Any],
    runtime: NamedDependency[Runtime],
    round_id: PathId,
    category: Annotated[Category | None, QueryParameter()] = None,
    available: Annotated[bool | None, QueryParameter()] = None,
    q: Annotated[str | None, QueryParameter(max_length=200)] = None,
) -> Response[bytes]:
    student = registered_student(request)
    header = await runtime.catalog.require_round(round_id)
    if header.state == "draft":
        raise errors.RoundNotOpen("The round is not open yet", state="draft")
    # Students of one cohort, degree and campus see the same page: at the opening burst it is
    # built once per BROWSE_SECONDS for each of them, not once per request.
    key = (round_id, student.cohort, student.degree, student.campus, category, available, q)
    body = await runtime.catalog.browse_page(
        key, BROWSE_SECONDS, lambda: _offerings_page(runtime, header, student, category, available, q)
    )
    return Response(body, media_type="application/json")


async def _offerings_page(
    runtime: Runtime,
    header: RoundHeader,
    student: StudentProfile,
    category: str | None,
    available: bool | None,
    q: str | None,
) -> bytes:
    offerings = await runtime.catalog.offerings(header.id)
    try:
        capacity, enrolled, waiting = await runtime.seats.counts(header.id, BROWSE_SECONDS)
    except GateUnavailable as exc:
        raise errors.Unavailable("Live seats are loading; repeat the request") from exc
    in_round = header.eligibility.admits(student.cohort, student.degree, student.campus)
    needle = q.casefold() if q else None
    views = []
    for o in offerings:
        cap = capacity.get(o.id, o.capacity)
        remaining = max(0, cap - enrolled.get(o.id, 0))
        if category is not None and o.category != category:
            continue
        if available and remaining <= 0:
            continue
        if needle is not None and needle not in o.title.casefold():
            continue
        fields = msgspec.structs.asdict(o)
        fields["capacity"] = cap
        views.append(
            OfferingView(
                **fields,
                remaining=remaining,
                waitlisted=waiting.get(o.id, 0),
                eligible=in_round and o.eligibility.admits(student.cohort, student.degree, student.campus),
            )
        )
    return _encode(views)


@get(
    "/rounds/{round_id:str}/selections",
    summary="Your selections in a round",
    responses=problems(errors.ValidationFailed, errors.NotFound, errors.RateLimited),
)
async def my_selections(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime], round_id: PathId
) -> list[Selection]:
    student = registered_student(request)
    await runtime.catalog.require_round(round_id)
    rows = await runtime.pool.fetch(_queries("student_selections"), round_id, student.id)
    return [msgspec.convert(dict(r.items()), Selection) for r in rows]


@post(
    "/rounds/{round_id:str}/selections",
    opt={RATE_COUNTED_BY_GATE: True},
    status_code=HTTP_201_CREATED,
    summary="Select an offering (201 enrolled, 202 waitlisted)",
    responses=problems(
        *BODY,
        errors.NotFound,
        *SELECT_REFUSALS,
        errors.IdempotencyConflict,
        errors.RateLimited,
        errors.Unavailable,
    ),
)
async def select(
    request: Request[Any, Any, Any],
    runtime: NamedDependency[Runtime],
    round_id: PathId,
    data: JSONBody[SelectBody],
    idempotency_key: IdempotencyKey = None,
) -> Response[Any]:
    student = registered_student(request)
    claim = (
        claim_from(idempotency_key, "POST", request.url.path, _encode(data)) if idempotency_key is not None else None
    )
    try:
        await runtime.catalog.require_round(round_id)
        await runtime.catalog.require_offering(data.offering_id)
    except errors.NotFound:
        # The request does not reach the gate, where a select's rate limit is counted.
        await runtime.rate_limit.check(student.id, round_id)
        raise
    outcome = await runtime.path.select(
        round_id,
        student,
        data.offering_id,
        waitlist=data.waitlist,
        mode="student",
        actor=student.id,
        role="student",
        claim=claim,
        rate=runtime.rate_limit.rate,
    )
    if isinstance(outcome, RecordedAnswer):
        return outcome.response()
    status = HTTP_202_ACCEPTED if outcome.status == "waitlisted" else HTTP_201_CREATED
    return Response(_encode(outcome), status_code=status, media_type="application/json")


@delete(
    "/rounds/{round_id:str}/selections/{offering_id:str}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Drop a selection or a waitlist place",
    responses=problems(
        errors.ValidationFailed,
        errors.NotFound,
        errors.RoundNotOpen,
        errors.DropNotAllowed,
        errors.IdempotencyConflict,
        errors.RateLimited,
        errors.Unavailable,
    ),
)
async def drop(
    request: Request[Any, Any, Any],
    runtime: NamedDependency[Runtime],
    round_id: PathId,
    offering_id: PathId,
    idempotency_key: IdempotencyKey = None,
) -> Response[None]:
    student = registered_student(request)
    claim = claim_from(idempotency_key, "DELETE", request.url.path, b"")
    await runtime.catalog.require_round(round_id)
    await runtime.catalog.require_offering(offering_id)
    outcome = await runtime.path.drop(
        round_id, student.id, offering_id, mode="student", actor=student.id, role="student", claim=claim
    )
    if isinstance(outcome, RecordedAnswer):
        # A replay: the first answer, whatever its status (a 204 or the refusal it got).
        return cast("Response[None]", outcome.response())
    return Response(None, status_code=HTTP_204_NO_CONTENT)


STUDENT_ROUTER = Router(
    path="/api/v1",
    route_handlers=[list_rounds, list_offerings, my_selections, select, drop],
    before_request=_before,
    request_max_body_size=STUDENT_BODY_LIMIT,
    tags=["student"],
)
