"""Administrators' selection routes: live stats, the enrollments export, forced changes, audit."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from courses.models import ID_PATTERN, Body, Id, Selection
from courses.problem_docs import BODY, problems
from courses.queries import NamedQueries
from courses.students import StudentProfile
from selection import errors
from selection.auth import admin_only, principal_of
from selection.idempotency import RecordedAnswer
from selection.refusals import SELECT_REFUSALS
from selection.runtime import Runtime
from selection.shape import json_only

_queries = NamedQueries("selection", "queries.sql")
_encode = msgspec.json.Encoder().encode

PathId = Annotated[str, PathParameter(pattern=ID_PATTERN, max_length=64)]
_SELECTION_FIELDS = ("round_id", "offering_id", "student_id", "status", "position", "created_at")


class ForceSelect(Body):
    student_id: Id
    offering_id: Id
    override: bool = False


class OfferingStats(msgspec.Struct):
    offering_id: str
    capacity: int
    enrolled: int
    waitlisted: int


class RoundStats(msgspec.Struct):
    selections: int
    students: int
    offerings: list[OfferingStats]


class AuditEvent(msgspec.Struct):
    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    round_id: str | None
    student_id: str | None
    offering_id: str | None
    outcome: str
    detail: str | None


async def _require_student(runtime: Runtime, student_id: str) -> StudentProfile:
    profile = await runtime.students.get(student_id)
    if profile is None:
        raise errors.NotFound(f"No student {student_id}")
    return profile


@get(
    "/rounds/{round_id:str}/stats",
    summary="Live fill of a round",
    responses=problems(errors.ValidationFailed, errors.NotFound),
)
async def round_stats(runtime: NamedDependency[Runtime], round_id: PathId) -> RoundStats:
    await runtime.catalog.require_round(round_id)
    async with runtime.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        totals = await conn.fetchrow(_queries("round_totals"), round_id)
        rows = await conn.fetch(_queries("round_stats"), round_id)
    assert totals is not None
    return RoundStats(
        selections=totals["selections"],
        students=totals["students"],
        offerings=[OfferingStats(r["offering_id"], r["capacity"], r["enrolled"], r["waitlisted"]) for r in rows],
    )


async def _enrollment_rows(runtime: Runtime, round_id: str) -> AsyncIterator[Selection]:
    """Every current selection, read through a server-side cursor in one consistent snapshot."""
    async with runtime.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(_queries("round_enrollments"), round_id, prefetch=2000):
            yield Selection(
                round_id=row["round_id"],
                offering_id=row["offering_id"],
                student_id=row["student_id"],
                status=row["status"],
                position=row["position"],
                created_at=row["created_at"],
            )


async def _json_stream(rows: AsyncIterator[Selection]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for selection in rows:
        yield (b"" if first else b",") + _encode(selection)
        first = False
    yield b"]"


async def _csv_stream(rows: AsyncIterator[Selection]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_SELECTION_FIELDS)
    count = 0
    async for s in rows:
        created = s.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        writer.writerow([s.round_id, s.offering_id, s.student_id, s.status, s.position or "", created])
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


@get(
    "/rounds/{round_id:str}/enrollments",
    summary="Every current selection, streamed (CSV or JSON)",
    responses=problems(errors.ValidationFailed, errors.NotFound),
)
async def enrollments(
    runtime: NamedDependency[Runtime],
    round_id: PathId,
    format: Annotated[Literal["csv", "json"], QueryParameter()] = "json",
) -> Stream:
    await runtime.catalog.require_round(round_id)
    rows = _enrollment_rows(runtime, round_id)
    if format == "csv":
        return Stream(
            _csv_stream(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{round_id}-enrollments.csv"'},
        )
    return Stream(_json_stream(rows), media_type="application/json")


@post(
    "/rounds/{round_id:str}/selections",
    status_code=HTTP_201_CREATED,
    summary="Enroll a student (force); override skips every rule, capacity included",
    responses=problems(
        *BODY,
        errors.NotFound,
        *SELECT_REFUSALS[2:],
        errors.Unavailable,
    ),
)
async def force_enroll(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime], round_id: PathId, data: JSONBody[ForceSelect]
) -> Response[bytes]:
    await runtime.catalog.require_round(round_id)
    student = await _require_student(runtime, data.student_id)
    await runtime.catalog.require_offering(data.offering_id)
    outcome = await runtime.path.select(
        round_id,
        student,
        data.offering_id,
        waitlist=False,
        mode="override" if data.override else "admin",
        actor=principal_of(request).sub,
        role="admin",
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
    runtime: NamedDependency[Runtime],
    round_id: PathId,
    student_id: PathId,
    offering_id: PathId,
) -> None:
    await runtime.catalog.require_round(round_id)
    await _require_student(runtime, student_id)
    await runtime.catalog.require_offering(offering_id)
    await runtime.path.drop(
        round_id, student_id, offering_id, mode="admin", actor=principal_of(request).sub, role="admin"
    )


@get("/audit", summary="Audit events, newest first", responses=problems(errors.ValidationFailed))
async def audit(
    runtime: NamedDependency[Runtime],
    round_id: Annotated[str | None, QueryParameter(pattern=ID_PATTERN)] = None,
    student_id: Annotated[str | None, QueryParameter(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    before: Annotated[int | None, QueryParameter(ge=1)] = None,
) -> list[AuditEvent]:
    rows = await runtime.pool.fetch(_queries("audit_page"), round_id, student_id, before, limit)
    return [AuditEvent(**dict(r.items())) for r in rows]


ADMIN_SELECTION_ROUTER = Router(
    path="/api/v1/admin",
    route_handlers=[round_stats, enrollments, force_enroll, force_drop, audit],
    guards=[admin_only],
    before_request=json_only,
    tags=["admin"],
)
