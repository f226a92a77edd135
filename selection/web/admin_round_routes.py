"""Administrators create, list and read rounds, and move them through their states."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from courses.draw_input import EXAMPLE, DrawInput
from courses.lottery import Lottery
from courses.models import AdminRound, DrawRequest, DrawResult, RoundCreate, RoundPatch
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


@patch(
    "/rounds/{round_id:str}",
    summary="Change a round",
    description=(
        "Any field of a create but `id` and `state`; an absent field is left as it is, and one sent with its"
        " current value is no change. A draft may change everything (every rule of a create applies); an open"
        " or paused round only `name` and `closes_at`; a closed round only `name`. Another change is"
        " `409 round_not_draft`, naming the refused `fields` and the `editable` ones."
    ),
    opt=json_body(RoundPatch),
    responses=problems(*BODY, errors.NotFound, errors.RoundNotDraft, errors.Unavailable),
)
async def edit_round(
    request: Request[Any, Any, Any], rounds: Rounds, round_id: PathId, data: JSONBody[RoundPatch]
) -> AdminRound:
    return await rounds.edit(round_id, data, principal_of(request).sub)


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


@post(
    "/rounds/{round_id:str}/draw",
    summary="Draw a closed lottery round (once; the same seed again answers the same)",
    description=(
        "Gives seats from the students' wish lists in the seeded snake order (see the draw input's `definition`),"
        " all in one transaction. If the round was created with `seed_sha256`, the seed must hash to it."
    ),
    status_code=HTTP_200_OK,
    opt=json_body(DrawRequest),
    responses=problems(*BODY, errors.NotFound, errors.WrongMode, errors.InvalidTransition, errors.Unavailable),
)
async def draw_round(
    request: Request[Any, Any, Any], lottery: NamedDependency[Lottery], round_id: PathId, data: JSONBody[DrawRequest]
) -> DrawResult:
    return await lottery.draw(round_id, data.seed, principal_of(request).sub)


@get(
    "/rounds/{round_id:str}/draw-input",
    summary="Everything a lottery round's draw depends on, as one document",
    description=(
        "The round's limits and eligibility, its offerings, the seats held before the draw, the students with a"
        " non-empty wish list and their lists; after the draw also the seed and the placements, as drawn."
        " `docs/redraw.py` recomputes the draw from this document."
    ),
    responses={
        200: ResponseSpec(
            data_container=DrawInput,
            description="The draw input",
            generate_examples=False,
            examples=[Example(summary="A drawn round", value=msgspec.to_builtins(EXAMPLE))],
        ),
        **problems(errors.ValidationFailed, errors.NotFound, errors.WrongMode),
    },
)
async def draw_input(lottery: NamedDependency[Lottery], round_id: PathId) -> DrawInput:
    return await lottery.draw_input(round_id)


ADMIN_ROUND_HANDLERS = [
    create_round,
    list_rounds,
    get_round,
    edit_round,
    open_round,
    pause_round,
    close_round,
    draw_round,
    draw_input,
]
