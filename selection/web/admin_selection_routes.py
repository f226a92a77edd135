"""Administrators' selection routes: live stats, the enrollments export, forced changes, audit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, Reference, Schema
from litestar.params import JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from courses.audit import ACTION_PATTERN, AuditEvent, AuditFilter, AuditTrail
from courses.cached import CachedCatalog
from courses.models import ID_PATTERN, Body, Id, Selection
from courses.students import StudentDirectory
from lib import errors
from quota.intents import DropIntent, SelectIntent
from selection.dead_letters import DeadLetter, DeadLetters
from selection.enrollment import Enrollment
from selection.idempotency import RecordedAnswer
from selection.refusals import SELECT_REFUSALS
from selection.roster import Roster, RoundStats, enrollments_csv, enrollments_json
from selection.web.auth import admin_only, principal_of
from selection.web.problems import BODY, answer, problems
from selection.web.request_shape import PathId, json_only

_encode = msgspec.json.Encoder().encode


class ForceSelect(Body):
    student_id: Id
    offering_id: Id
    override: bool = False


@get(
    "/rounds/{round_id:str}/stats",
    summary="Live fill of a round",
    responses=problems(errors.ValidationFailed, errors.NotFound),
)
async def round_stats(roster: NamedDependency[Roster], round_id: PathId) -> RoundStats:
    return await roster.stats(round_id)


@dataclass
class EnrollmentsExport(Operation):
    """The export's operation: its 200 is JSON or CSV by ``format``, two types the framework cannot
    describe for one stream; the JSON one is given in ``responses=``, the CSV one added here."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if ok is not None and not isinstance(ok, Reference) and ok.content is not None:
            ok.content["text/csv"] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))


@get(
    "/rounds/{round_id:str}/enrollments",
    summary="Every current selection, streamed (CSV or JSON)",
    operation_class=EnrollmentsExport,
    responses={
        200: answer(list[Selection], "Every current selection: a JSON array, or CSV with a header row"),
        **problems(errors.ValidationFailed, errors.NotFound),
    },
)
async def enrollments(
    roster: NamedDependency[Roster],
    round_id: PathId,
    format: Annotated[Literal["csv", "json"], QueryParameter()] = "json",
) -> Stream:
    await roster.require_round(round_id)
    rows = roster.enrollments(round_id)
    if format == "csv":
        return Stream(
            enrollments_csv(rows),
            # The framework adds the charset to a text/* type itself.
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{round_id}-enrollments.csv"'},
        )
    return Stream(enrollments_json(rows), media_type="application/json")


@post(
    "/rounds/{round_id:str}/selections",
    status_code=HTTP_201_CREATED,
    summary="Enroll a student (force); override skips every rule, capacity included",
    # The answer is sent as pre-encoded bytes, so the framework cannot see its type.
    responses={
        201: answer(Selection, "Enrolled"),
        **problems(
            *BODY,
            errors.NotFound,
            *SELECT_REFUSALS[2:],
            errors.Unavailable,
        ),
    },
)
async def force_enroll(
    request: Request[Any, Any, Any],
    catalog: NamedDependency[CachedCatalog],
    students: NamedDependency[StudentDirectory],
    enrollment: NamedDependency[Enrollment],
    round_id: PathId,
    data: JSONBody[ForceSelect],
) -> Response[bytes]:
    await catalog.require_round(round_id)
    student = await students.require(data.student_id)
    await catalog.require_offering(data.offering_id)
    outcome = await enrollment.select(
        SelectIntent(
            round_id=round_id,
            student=student,
            offering_id=data.offering_id,
            waitlist=False,
            mode="override" if data.override else "admin",
            actor=principal_of(request).sub,
            role="admin",
        )
    )
    assert not isinstance(outcome, RecordedAnswer)  # no Idempotency-Key on this route
    return Response(_encode(outcome), status_code=HTTP_201_CREATED, media_type="application/json")


@delete(
    "/rounds/{round_id:str}/selections/{student_id:str}/{offering_id:str}",
    status_code=HTTP_204_NO_CONTENT,
    summary="Drop a student's selection (force)",
    responses=problems(errors.ValidationFailed, errors.NotFound, errors.Unavailable),
)
async def force_drop(
    request: Request[Any, Any, Any],
    catalog: NamedDependency[CachedCatalog],
    students: NamedDependency[StudentDirectory],
    enrollment: NamedDependency[Enrollment],
    round_id: PathId,
    student_id: PathId,
    offering_id: PathId,
) -> None:
    await catalog.require_round(round_id)
    await students.require(student_id)
    await catalog.require_offering(offering_id)
    await enrollment.drop(
        DropIntent(
            round_id=round_id,
            student_id=student_id,
            offering_id=offering_id,
            mode="admin",
            actor=principal_of(request).sub,
            role="admin",
        )
    )


@get(
    "/audit",
    summary="Audit events, newest first",
    description="Each filter narrows the page: a round, a student, an offering, an action, an actor (who made "
    "the change: a student's id, an administrator's subject, `system`), and a time range (`since` inclusive, "
    "`until` exclusive, RFC 3339 with an offset). `before` pages back: the smallest `id` of the page before.",
    responses=problems(errors.ValidationFailed),
)
async def audit(
    audit: NamedDependency[AuditTrail],
    round_id: Annotated[str | None, QueryParameter(pattern=ID_PATTERN)] = None,
    student_id: Annotated[str | None, QueryParameter(pattern=ID_PATTERN)] = None,
    offering_id: Annotated[str | None, QueryParameter(pattern=ID_PATTERN)] = None,
    action: Annotated[str | None, QueryParameter(pattern=ACTION_PATTERN)] = None,
    actor: Annotated[str | None, QueryParameter(min_length=1, max_length=255)] = None,
    since: Annotated[dt.datetime | None, QueryParameter()] = None,
    until: Annotated[dt.datetime | None, QueryParameter()] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    before: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
) -> list[AuditEvent]:
    for name, instant in (("since", since), ("until", until)):
        if instant is not None and instant.tzinfo is None:
            raise errors.ValidationFailed(f"{name} needs a UTC offset (2026-09-01T08:30:00+08:00)", field=name)
    where = AuditFilter(
        round_id=round_id,
        student_id=student_id,
        offering_id=offering_id,
        action=action,
        actor=actor,
        since=since,
        until=until,
    )
    return await audit.page(before=before, limit=limit, where=where)


@get(
    "/dead-letters",
    summary="Changes PostgreSQL refused for what they hold, set aside, newest first",
    description="A change the gate decided but PostgreSQL refused (the service's fault, answered 500) is set aside "
    "here and its round rebuilt, so that it blocks nothing else. Empty on a healthy service.",
    responses=problems(errors.ValidationFailed),
)
async def dead_letters(
    dead_letters: NamedDependency[DeadLetters],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> list[DeadLetter]:
    return await dead_letters.newest(limit)


ADMIN_SELECTION_ROUTER = Router(
    path="/api/v1/admin",
    route_handlers=[round_stats, enrollments, force_enroll, force_drop, audit, dead_letters],
    guards=[admin_only],
    before_request=json_only,
    tags=["admin"],
)
