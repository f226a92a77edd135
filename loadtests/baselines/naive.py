"""The naive design: one PostgreSQL transaction per select, the offering's row locked meanwhile.

What a team writes first: ``SELECT ... FOR UPDATE`` on the offering, count the seats taken and
the student's holdings, insert. Every select of a popular offering queues on one row lock, and
the lock is held for the whole transaction, commit included. It checks less than the product
(no eligibility, no time conflicts, no waitlist, no idempotency), which only flatters it.
Its selections live in its own table, created here; nothing of the product is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from courses.models import ID_PATTERN, Body, Id, Selection
from lib import errors
from selection.web.auth import registered_student
from selection.web.request_shape import require_json
from selection.worker import Worker

PathId = Annotated[str, PathParameter(pattern=ID_PATTERN, max_length=64)]
_encode = msgspec.json.Encoder().encode

CREATE = """
SELECT pg_advisory_xact_lock(hashtext('bench_naive_selections'));
CREATE TABLE IF NOT EXISTS bench_naive_selections (
    round_id     text NOT NULL,
    offering_id  text NOT NULL,
    student_id   text NOT NULL,
    category     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (round_id, student_id, offering_id)
);
CREATE INDEX IF NOT EXISTS bench_naive_by_offering ON bench_naive_selections (round_id, offering_id);
"""
LOCK_OFFERING = """
SELECT o.capacity, o.category, r.state, r.limits
FROM offerings o
JOIN round_offerings ro ON ro.offering_id = o.id
JOIN rounds r ON r.id = ro.round_id
WHERE ro.round_id = $1 AND o.id = $2
FOR UPDATE OF o
"""
COUNT_TAKEN = "SELECT count(*) FROM bench_naive_selections WHERE round_id = $1 AND offering_id = $2"
COUNT_MINE = """
SELECT count(*) AS total, count(*) FILTER (WHERE category = $3) AS in_category,
       bool_or(offering_id = $4) AS already
FROM bench_naive_selections WHERE round_id = $1 AND student_id = $2
"""
INSERT = """
INSERT INTO bench_naive_selections (round_id, offering_id, student_id, category)
VALUES ($1, $2, $3, $4) RETURNING created_at
"""


class NaiveSelect(Body):
    offering_id: Id
    waitlist: bool = False


async def create_table(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(CREATE)
    finally:
        await conn.close()


async def _before(request: Request[Any, Any, Any]) -> None:
    """The product's students' routes pay for the student check, the rate limit and the shape
    check, in this hook; so does this."""
    student = registered_student(request)
    worker: Worker = request.app.state.worker
    await worker.rate_limit.check(student.id, request.path_params.get("round_id"))
    require_json(request)


@post(
    "/bench/naive/rounds/{round_id:str}/selections",
    before_request=_before,
    include_in_schema=False,
    status_code=201,
)
async def naive_select(
    request: Request[Any, Any, Any], worker: NamedDependency[Worker], round_id: PathId, data: JSONBody[NaiveSelect]
) -> Response[bytes]:
    student = registered_student(request)
    async with worker.pool.acquire() as conn, conn.transaction():
        offering = await conn.fetchrow(LOCK_OFFERING, round_id, data.offering_id)
        if offering is None:
            raise errors.NotFound("No such offering in this round")
        if offering["state"] != "open":
            raise errors.RoundNotOpen("The round is not open")
        limits: dict[str, int] = offering["limits"] or {}
        mine = await conn.fetchrow(COUNT_MINE, round_id, student.id, offering["category"], data.offering_id)
        assert mine is not None  # an aggregate always answers one row
        if mine["already"]:
            raise errors.AlreadySelected("You hold this offering already")
        if mine["in_category"] >= limits.get(offering["category"], 1 << 30):
            raise errors.CategoryLimit("The category's limit is reached")
        if mine["total"] >= limits.get("total", 1 << 30):
            raise errors.TotalLimit("The round's limit is reached")
        if await conn.fetchval(COUNT_TAKEN, round_id, data.offering_id) >= offering["capacity"]:
            raise errors.CourseFull("No seat left")
        created_at: dt.datetime = await conn.fetchval(
            INSERT, round_id, data.offering_id, student.id, offering["category"]
        )
    selection = Selection(
        round_id=round_id,
        offering_id=data.offering_id,
        student_id=student.id,
        status="enrolled",
        position=None,
        created_at=created_at,
    )
    return Response(_encode(selection), status_code=201, media_type="application/json")
