"""Administrators' bulk upserts and CSV imports of students and offerings, and an offering's PATCH."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Request, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Body, JSONBody

from courses import csv_import
from courses.models import Offering, OfferingPatch, Student, Upserted
from courses.offerings import OfferingCatalog
from courses.students import StudentDirectory
from lib import errors
from selection.web.auth import principal_of
from selection.web.problems import BODY, problems
from selection.web.request_shape import CSV_BODY, PathId, json_body

#: The most students one JSON upsert takes (a whole university's graduate schools, with room).
MAX_STUDENTS = 20_000
StudentList = Annotated[list[Student], msgspec.Meta(max_length=MAX_STUDENTS)]


@dataclass
class CsvUpload(Operation):
    """The operation of a CSV import: its body is read raw, so Litestar cannot describe it."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
            description="RFC 4180, UTF-8 (a BOM is accepted); a header row of the type's field names; "
            "list fields `;`-separated.",
            required=True,
        )


async def _rows_of(request: Request[Any, Any, Any], shape: csv_import.CsvShape[csv_import.T]) -> list[csv_import.T]:
    body = await request.body()
    # Parsing megabytes would hold the event loop that serves the students' requests too.
    return await anyio.to_thread.run_sync(csv_import.parse, body, shape)


@put(
    "/students",
    summary="Upsert students",
    description=f"Insert or replace each student by id; at most {MAX_STUDENTS:,} per call.",
    opt=json_body(StudentList),
    responses=problems(*BODY),
)
async def upsert_students(
    request: Request[Any, Any, Any],
    students: NamedDependency[StudentDirectory],
    data: Annotated[list[Student], Body(max_items=MAX_STUDENTS)],
) -> Upserted:
    return Upserted(await students.upsert(data, principal_of(request).sub, "students.upsert"))


@post(
    "/students/import",
    summary="Import students from CSV",
    description="Columns: id, name, cohort, degree, campus, college. A bad row: 400 naming `row` and `field`; "
    "nothing is written.",
    status_code=200,
    opt=CSV_BODY,
    operation_class=CsvUpload,
    responses=problems(*BODY),
)
async def import_students(request: Request[Any, Any, Any], students: NamedDependency[StudentDirectory]) -> Upserted:
    rows = await _rows_of(request, csv_import.STUDENTS)
    return Upserted(await students.upsert(rows, principal_of(request).sub, "students.import"))


@put(
    "/offerings",
    summary="Upsert offerings",
    description="Insert or replace each offering by id. A capacity change of an offering in a round goes "
    "through the admission gate; its category, schedule and eligibility cannot change while a round that "
    "offers it is open or paused.",
    opt=json_body(list[Offering]),
    responses=problems(*BODY, errors.OfferingInUse, errors.CapacityBelowEnrolled),
)
async def upsert_offerings(
    request: Request[Any, Any, Any], offerings: NamedDependency[OfferingCatalog], data: JSONBody[list[Offering]]
) -> Upserted:
    return Upserted(await offerings.upsert(data, principal_of(request).sub, "offerings.upsert"))


@post(
    "/offerings/import",
    summary="Import offerings from CSV",
    description="Columns: id, title, category, kind, capacity, title_zh, teacher, campus, schedule "
    "(`mon 14:00-15:40;2026-12-05 09:00-11:00`), cohorts, degrees, campuses (`;`-separated), description. "
    "A bad row: 400 naming `row` and `field`; nothing is written.",
    status_code=200,
    opt=CSV_BODY,
    operation_class=CsvUpload,
    responses=problems(*BODY, errors.OfferingInUse, errors.CapacityBelowEnrolled),
)
async def import_offerings(request: Request[Any, Any, Any], offerings: NamedDependency[OfferingCatalog]) -> Upserted:
    rows = await _rows_of(request, csv_import.OFFERINGS)
    return Upserted(await offerings.upsert(rows, principal_of(request).sub, "offerings.import"))


@patch(
    "/offerings/{offering_id:str}",
    summary="Change an offering",
    description="Any of capacity, title, title_zh, teacher, campus, description, schedule, category, eligibility. "
    "A capacity raise promotes waiting students at once.",
    opt=json_body(OfferingPatch),
    responses=problems(*BODY, errors.NotFound, errors.OfferingInUse, errors.CapacityBelowEnrolled),
)
async def patch_offering(
    request: Request[Any, Any, Any],
    offerings: NamedDependency[OfferingCatalog],
    offering_id: PathId,
    data: JSONBody[OfferingPatch],
) -> Offering:
    return await offerings.patch(offering_id, data, principal_of(request).sub)


ADMIN_CATALOG_HANDLERS = [upsert_students, import_students, upsert_offerings, import_offerings, patch_offering]
