"""Administrators create, list and read rounds, and move them through their states."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from courses.models import AdminRound, RoundCreate
from courses.rounds import RoundRegistry
from lib import errors
from selection.web.auth import principal_of
from selection.web.problems import BODY, problems
from selection.web.request_shape import PathId, json_body

Rounds = NamedDependency[RoundRegistry]


@post(
    "/rounds",
    summary="Create a round",
    description="A new round, always a draft. Its offerings must exist; `closes_at` must be after `opens_at`.",
    status_code=HTTP_201_CREATED,
    opt=json_body(RoundCreate),
    responses=problems(*BODY, errors.AlreadyExists),
)
async def create_round(request: Request[Any, Any, Any], rounds: Rounds, data: JSONBody[RoundCreate]) -> AdminRound:
    return await rounds.create(data, principal_of(request).sub)


@get("/rounds", summary="Every round", responses=problems())
async def list_rounds(rounds: Rounds) -> list[AdminRound]:
    return await rounds.every()


@get("/rounds/{round_id:str}", summary="One round", responses=problems(errors.ValidationFailed, errors.NotFound))
async def get_round(rounds: Rounds, round_id: PathId) -> AdminRound:
    return await rounds.get(round_id)


_MOVE_PROBLEMS = problems(errors.ValidationFailed, errors.NotFound, errors.InvalidTransition)


@post(
    "/rounds/{round_id:str}/open",
    summary="Open a draft or paused round",
    status_code=HTTP_200_OK,
    responses=_MOVE_PROBLEMS,
)
async def open_round(request: Request[Any, Any, Any], rounds: Rounds, round_id: PathId) -> AdminRound:
    return await rounds.move(round_id, "open", principal_of(request).sub)


@post("/rounds/{round_id:str}/pause", summary="Pause an open round", status_code=HTTP_200_OK, responses=_MOVE_PROBLEMS)
async def pause_round(request: Request[Any, Any, Any], rounds: Rounds, round_id: PathId) -> AdminRound:
    return await rounds.move(round_id, "pause", principal_of(request).sub)


@post(
    "/rounds/{round_id:str}/close",
    summary="Close an open or paused round, for good",
    status_code=HTTP_200_OK,
    responses=_MOVE_PROBLEMS,
)
async def close_round(request: Request[Any, Any, Any], rounds: Rounds, round_id: PathId) -> AdminRound:
    return await rounds.move(round_id, "close", principal_of(request).sub)


ADMIN_ROUND_HANDLERS = [create_round, list_rounds, get_round, open_round, pause_round, close_round]
