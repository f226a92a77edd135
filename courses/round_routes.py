"""HTTP: administrators create, list and read rounds, and move them through their states."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from courses import rounds
from courses.models import Round, RoundCreate
from courses.problem_docs import BODY, problems
from courses.request_shape import PathId, json_body
from selection import errors
from selection.auth import principal_of
from selection.runtime import Runtime


@post(
    "/rounds",
    summary="Create a round",
    description="A new round, always a draft. Its offerings must exist; `closes_at` must be after `opens_at`.",
    status_code=HTTP_201_CREATED,
    opt=json_body(RoundCreate),
    responses=problems(*BODY, errors.AlreadyExists),
)
async def create_round(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime], data: JSONBody[RoundCreate]
) -> Round:
    return await rounds.create_round(runtime, data, principal_of(request).sub)


@get("/rounds", summary="Every round", responses=problems())
async def list_rounds(runtime: NamedDependency[Runtime]) -> list[Round]:
    return await rounds.list_rounds(runtime.pool)


@get("/rounds/{round_id:str}", summary="One round", responses=problems(errors.ValidationFailed, errors.NotFound))
async def get_round(runtime: NamedDependency[Runtime], round_id: PathId) -> Round:
    return await rounds.get_round(runtime.pool, round_id)


_MOVE_PROBLEMS = problems(errors.ValidationFailed, errors.NotFound, errors.InvalidTransition)


@post(
    "/rounds/{round_id:str}/open",
    summary="Open a draft or paused round",
    status_code=HTTP_200_OK,
    responses=_MOVE_PROBLEMS,
)
async def open_round(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime], round_id: PathId) -> Round:
    return await rounds.move_round(runtime, round_id, "open", principal_of(request).sub)


@post("/rounds/{round_id:str}/pause", summary="Pause an open round", status_code=HTTP_200_OK, responses=_MOVE_PROBLEMS)
async def pause_round(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime], round_id: PathId) -> Round:
    return await rounds.move_round(runtime, round_id, "pause", principal_of(request).sub)


@post(
    "/rounds/{round_id:str}/close",
    summary="Close an open or paused round, for good",
    status_code=HTTP_200_OK,
    responses=_MOVE_PROBLEMS,
)
async def close_round(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime], round_id: PathId) -> Round:
    return await rounds.move_round(runtime, round_id, "close", principal_of(request).sub)


ROUND_HANDLERS = [create_round, list_rounds, get_round, open_round, pause_round, close_round]
