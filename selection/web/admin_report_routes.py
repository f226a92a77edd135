"""Administrators' reports on a round's outcome."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from lib import errors
from selection.fairness import Fairness, FairnessGroup, FairnessReport
from selection.web.problems import problems
from selection.web.request_shape import PathId


def _example_group(group: str, students: int, first: int, any_: int) -> FairnessGroup:
    return FairnessGroup(
        group=group,
        students=students,
        first_wish=first,
        any_wish=any_,
        nothing=students - any_,
        first_wish_share=round(first / students, 4),
        any_wish_share=round(any_ / students, 4),
        nothing_share=round((students - any_) / students, 4),
    )


_EXAMPLE = FairnessReport(
    round_id="2026-autumn-pe",
    mode="fcfs",
    state="closed",
    basis="Students who tried to select an offering of this round while it was open; ...",
    as_of=dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC),
    students=200,
    overall=_example_group("all", 200, 120, 170),
    by_cohort=[_example_group("2025", 110, 70, 95), _example_group("2026", 90, 50, 75)],
    by_degree=[_example_group("master", 160, 100, 140), _example_group("phd", 40, 20, 30)],
    by_campus=[_example_group("north", 200, 120, 170)],
    by_arrival_decile=[_example_group(str(d), 20, 18 - d, 20 - d // 2) for d in range(1, 11)],
)

_RESPONSES: dict[int, ResponseSpec] = {
    200: ResponseSpec(
        data_container=FairnessReport,
        description="How the round's outcome fell; `basis` says what the counts rest on",
        # As it is sent (plain JSON values), so that the document describes it the same everywhere.
        examples=[Example(summary="A closed first-come round", value=msgspec.to_builtins(_EXAMPLE))],
        generate_examples=False,
    ),
    **problems(errors.ValidationFailed, errors.NotFound),
}


@get(
    "/rounds/{round_id:str}/fairness",
    summary="How a round's outcome fell across students",
    description=(
        "Students counted, and the shares who got their first wish, any wish, or nothing: overall, by cohort, "
        "degree and campus, and in first-come rounds by arrival-time decile. A lottery round's wishes are its "
        "wish lists; a first-come round's are the offerings each student tried to select, the first wish the "
        "one of their first attempt. Got means enrolled in the round now."
    ),
    responses=_RESPONSES,
)
async def fairness_report(fairness: NamedDependency[Fairness], round_id: PathId) -> FairnessReport:
    return await fairness.report(round_id)


ADMIN_REPORT_HANDLERS = [fairness_report]
