"""The response a change answers with, the same whether sent now or replayed from its record."""

from __future__ import annotations

import datetime as dt

import msgspec

from courses.models import Selection
from quota.entries import RedoEntry

_encode = msgspec.json.Encoder().encode


def selection_of(round_id: str, entry: RedoEntry) -> Selection:
    return Selection(
        round_id=round_id,
        offering_id=entry.offering,
        student_id=entry.student,
        status="waitlisted" if entry.status == "waitlisted" else "enrolled",
        position=entry.position if entry.status == "waitlisted" else None,
        created_at=dt.datetime.fromtimestamp(entry.at / 1000, dt.UTC),
    )


def answer_for(round_id: str, entry: RedoEntry) -> tuple[int, bytes]:
    """(HTTP status, body) of the request that made this change."""
    if entry.status == "dropped":
        return 204, b""
    status = 202 if entry.status == "waitlisted" else 201
    return status, _encode(selection_of(round_id, entry))
