"""The students' wish lists in lottery rounds: hand one in (replacing the last), read it back."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from courses.draw_input import DrawExplanation
from courses.lottery import Lottery
from courses.models import Wishes, WishList
from courses.wishes import WishBook
from lib import errors
from selection.metrics import WISH_LISTS
from selection.web.auth import registered_student
from selection.web.problems import BODY, problems
from selection.web.request_shape import PathId

_RULES = (errors.RoundNotOpen, errors.WrongMode, errors.OfferingNotInRound, errors.NotEligible)


@put(
    "/rounds/{round_id:str}/wishes",
    status_code=HTTP_200_OK,
    summary="Hand in your ranked wish list for a lottery round (replaces the last; empty withdraws)",
    description=(
        "Best wish first, at most 50 offerings of the round, no repeats. Only while the lottery round is open."
        " The draw, after the round closes, gives seats from these lists."
    ),
    responses=problems(*BODY, errors.NotFound, *_RULES, errors.RateLimited),
)
async def put_wishes(
    request: Request[Any, Any, Any], wishes: NamedDependency[WishBook], round_id: PathId, data: JSONBody[WishList]
) -> Wishes:
    stored = await wishes.put(round_id, registered_student(request), data)
    WISH_LISTS.inc()
    return stored


@get(
    "/rounds/{round_id:str}/wishes",
    summary="Your wish list in a lottery round (empty, `updated_at` null, before any)",
    responses=problems(
        errors.ValidationFailed, errors.NotFound, errors.RoundNotOpen, errors.WrongMode, errors.RateLimited
    ),
)
async def get_wishes(request: Request[Any, Any, Any], wishes: NamedDependency[WishBook], round_id: PathId) -> Wishes:
    return await wishes.get(round_id, registered_student(request).id)


@get(
    "/rounds/{round_id:str}/draw",
    summary="How the lottery's draw went for you: your place in the seeded order, and each wish's fate",
    description=(
        "After the draw of a lottery round: the seed, its sha256, your key sha256(seed + ':' + your id) and your"
        " place in pass 1's order (the passes alternate direction), and for every wish of your list, in its"
        " order, `placed` (with the pass) or why not when its turn came: `full`, `category_limit`,"
        " `total_limit`, `time_conflict` (`with`: the seat it clashed with), `already_held`; or never in the"
        " running: `not_in_round`, `not_eligible`. 404 before the draw."
    ),
    responses=problems(
        errors.ValidationFailed, errors.NotFound, errors.RoundNotOpen, errors.WrongMode, errors.RateLimited
    ),
)
async def get_draw(
    request: Request[Any, Any, Any], lottery: NamedDependency[Lottery], round_id: PathId
) -> DrawExplanation:
    return await lottery.explain(round_id, registered_student(request).id)


WISH_HANDLERS = [put_wishes, get_wishes, get_draw]
