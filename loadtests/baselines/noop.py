"""The floor of the stack: a select-shaped route that authenticates, decodes and does nothing else."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.params import JSONBody, PathParameter

from courses.models import ID_PATTERN
from loadtests.baselines.naive import NaiveSelect
from selection.web.auth import principal_of, registered_student

PathId = Annotated[str, PathParameter(pattern=ID_PATTERN, max_length=64)]


async def _before(request: Request[Any, Any, Any]) -> None:
    """The product's student routes check the student here (not in a guard); so does this."""
    registered_student(request)


@post(
    "/bench/noop/rounds/{round_id:str}/selections",
    before_request=_before,
    include_in_schema=False,
    status_code=201,
)
async def noop_select(
    request: Request[Any, Any, Any], round_id: PathId, data: JSONBody[NaiveSelect]
) -> Response[bytes]:
    who = principal_of(request).sub
    body = b'{"round_id":"%s","offering_id":"%s","student_id":"%s"}' % (
        round_id.encode(),
        data.offering_id.encode(),
        who.encode(),
    )
    return Response(body, status_code=201, media_type="application/json")
