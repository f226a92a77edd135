"""The students' routes: rounds, offerings with live seats, own selections, select, drop."""

from __future__ import annotations

from typing import Annotated, Any, cast

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from courses.models import Body, Category, Id, Round, Selection
from lib import errors
from quota.intents import DropIntent, SelectIntent
from selection.browse import Browse, OfferingView
from selection.enrollment import Enrollment
from selection.idempotency import HEADER, RecordedAnswer, claim_from
from selection.rate_limit import StudentRateLimit
from selection.refusals import SELECT_REFUSALS
from selection.roster import Roster
from selection.web.auth import registered_student
from selection.web.problems import BODY, answer, problems
from selection.web.request_shape import PathId, require_json
from selection.web.wish_routes import WISH_HANDLERS

_encode = msgspec.json.Encoder().encode

IdempotencyKey = Annotated[str | None, HeaderParameter(name=HEADER, required=False)]
STUDENT_BODY_LIMIT = 64 * 1024


class SelectBody(Body):
    offering_id: Id
    waitlist: bool = False


#: The route's ``opt`` marker: its rate limit is counted by the gate, in the script that decides.
RATE_COUNTED_BY_GATE = "rate_counted_by_gate"


def replayed(answer: RecordedAnswer) -> Response[Any]:
    """A recorded answer sent again, status and body as they were first."""
    media_type = "application/problem+json" if answer.status >= 400 else "application/json"
    return Response(
        answer.body, status_code=answer.status, media_type=media_type, headers={"Idempotent-Replayed": "true"}
    )


async def _before(request: Request[Any, Any, Any]) -> None:
    """A registered student (403), the rate limit (429), then the request's shape (415): all
    after authentication (401), before anything is read or decided."""
    student = registered_student(request)
    if not request.route_handler.opt.get(RATE_COUNTED_BY_GATE):
        rate_limit: StudentRateLimit = request.app.state.worker.rate_limit
        # One budget per student for every route but the select, whatever the path names: a
        # client that invents round ids gets no fresh bucket, and no free query, for each one.
        await rate_limit.check(student.id, None)
    require_json(request)


@get("/rounds", summary="Rounds you are eligible for (not drafts)", responses=problems(errors.RateLimited))
async def list_rounds(request: Request[Any, Any, Any], browse: NamedDependency[Browse]) -> list[Round]:
    return await browse.rounds_for(registered_student(request))


@get(
    "/rounds/{round_id:str}/offerings",
    summary="Every offering of a round, with live seats",
    # The page is sent as pre-encoded bytes, so the framework cannot see its type.
    responses={
        200: answer(list[OfferingView], "Every offering of the round, with live seats"),
        **problems(
            errors.ValidationFailed, errors.NotFound, errors.RoundNotOpen, errors.RateLimited, errors.Unavailable
        ),
    },
)
async def list_offerings(
    request: Request[Any, Any, Any],
    browse: NamedDependency[Browse],
    round_id: PathId,
    category: Annotated[Category | None, QueryParameter()] = None,
    available: Annotated[bool | None, QueryParameter()] = None,
    q: Annotated[str | None, QueryParameter(max_length=200)] = None,
) -> Response[bytes]:
    body = await browse.offerings_page(round_id, registered_student(request), category, available, q)
    return Response(body, media_type="application/json")


@get(
    "/rounds/{round_id:str}/selections",
    summary="Your selections in a round",
    responses=problems(errors.ValidationFailed, errors.NotFound, errors.RateLimited),
)
async def my_selections(
    request: Request[Any, Any, Any], roster: NamedDependency[Roster], round_id: PathId
) -> list[Selection]:
    return await roster.of_student(round_id, registered_student(request).id)


@post(
    "/rounds/{round_id:str}/selections",
    opt={RATE_COUNTED_BY_GATE: True},
    status_code=HTTP_201_CREATED,
    summary="Select an offering (201 enrolled, 202 waitlisted)",
    # The answer is sent as pre-encoded bytes with one of two statuses: both are described here.
    responses={
        201: answer(Selection, "Enrolled"),
        202: answer(Selection, "Waitlisted, with the place in the queue (`position`)"),
        **problems(
            *BODY,
            errors.NotFound,
            *SELECT_REFUSALS,
            errors.IdempotencyConflict,
            errors.RateLimited,
            errors.Unavailable,
        ),
    },
)
async def select(
    request: Request[Any, Any, Any],
    enrollment: NamedDependency[Enrollment],
    round_id: PathId,
    data: JSONBody[SelectBody],
    idempotency_key: IdempotencyKey = None,
) -> Response[Any]:
    student = registered_student(request)
    claim = (
        claim_from(idempotency_key, "POST", request.url.path, _encode(data)) if idempotency_key is not None else None
    )
    await enrollment.require(round_id, data.offering_id, counting_for=student.id)
    outcome = await enrollment.select(
        SelectIntent(
            round_id=round_id,
            student=student,
            offering_id=data.offering_id,
            waitlist=data.waitlist,
            mode="student",
            actor=student.id,
            role="student",
            claim=claim,
            rate=enrollment.student_rate,
        )
    )
    if isinstance(outcome, RecordedAnswer):
        return replayed(outcome)
    status = HTTP_202_ACCEPTED if outcome.status == "waitlisted" else HTTP_201_CREATED
    return Response(_encode(outcome), status_code=status, media_type="application/json")


@delete(
    "/rounds/{round_id:str}/selections/{offering_id:str}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Drop a selection or a waitlist place",
    # No body; the framework would describe the handler's Response[None] as a JSON null.
    responses={
        204: answer(None, "Dropped"),
        **problems(
            errors.ValidationFailed,
            errors.NotFound,
            errors.RoundNotOpen,
            errors.WrongMode,
            errors.DropNotAllowed,
            errors.IdempotencyConflict,
            errors.RateLimited,
            errors.Unavailable,
        ),
    },
)
async def drop(
    request: Request[Any, Any, Any],
    enrollment: NamedDependency[Enrollment],
    round_id: PathId,
    offering_id: PathId,
    idempotency_key: IdempotencyKey = None,
) -> Response[None]:
    student = registered_student(request)
    claim = claim_from(idempotency_key, "DELETE", request.url.path, b"")
    await enrollment.require(round_id, offering_id)
    outcome = await enrollment.drop(
        DropIntent(
            round_id=round_id,
            student_id=student.id,
            offering_id=offering_id,
            mode="student",
            actor=student.id,
            role="student",
            claim=claim,
        )
    )
    if isinstance(outcome, RecordedAnswer):
        # A replay: the first answer, whatever its status (a 204 or the refusal it got).
        return cast("Response[None]", replayed(outcome))
    return Response(None, status_code=HTTP_204_NO_CONTENT)


STUDENT_ROUTER = Router(
    path="/api/v1",
    route_handlers=[list_rounds, list_offerings, my_selections, select, drop, *WISH_HANDLERS],
    before_request=_before,
    request_max_body_size=STUDENT_BODY_LIMIT,
    tags=["student"],
)
