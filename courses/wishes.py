"""Wish lists: a student's ranked wishes in an open lottery round, kept in PostgreSQL.

Each hand-in replaces the list and is counted on its row; the audit trail gets the sum when the
round closes and when it is drawn (``wish_summary``), not one event per edit."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from courses.models import Eligibility, Wishes, WishList, refuse_repeats
from courses.students import StudentProfile
from lib import errors
from lib.database import connection, transaction
from lib.sql import Connection, NamedQueries

_sql = NamedQueries("courses", "queries.sql")


def _in_window(row: asyncpg.Record, now: dt.datetime) -> bool:
    opens, closes = row["opens_at"], row["closes_at"]
    return (opens is None or now >= opens) and (closes is None or now < closes)


def _eligibility(raw: object) -> Eligibility:
    return msgspec.convert(raw or {}, Eligibility)


async def wish_summary(conn: Connection, round_id: str) -> str | None:
    """The round's wish lists in words, for the audit trail; None for a round that is not a lottery."""
    row = await conn.fetchrow(_sql("wish_summary"), round_id)
    if row is None:
        return None
    return f"{row['non_empty']} wish list(s) ({row['lists']} handed in, {row['edits']} edit(s))"


class WishBook:
    """The students' wish lists, and the rules of handing one in."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _lottery_round(self, conn: Connection, round_id: str, *, writing: bool) -> asyncpg.Record:
        if writing:
            row = await conn.fetchrow(_sql("wish_round_locked"), round_id)
        else:
            row = await conn.fetchrow(_sql("wish_round"), round_id)
        if row is None:
            raise errors.NotFound(f"No round {round_id}")
        if writing:
            if row["state"] != "open" or not _in_window(row, dt.datetime.now(dt.UTC)):
                raise errors.RoundNotOpen(f"Round {round_id} takes no wish lists now", state=row["state"])
        elif row["state"] == "draft":
            raise errors.RoundNotOpen(f"Round {round_id} is not open yet", state=row["state"])
        if row["mode"] != "lottery":
            raise errors.WrongMode(
                f"Round {round_id} is first-come, first-served: select offerings instead", mode=row["mode"]
            )
        return row

    async def get(self, round_id: str, student_id: str) -> Wishes:
        async with connection(self._pool) as conn:
            await self._lottery_round(conn, round_id, writing=False)
            row = await conn.fetchrow(_sql("wishes_of"), round_id, student_id)
        if row is None:
            return Wishes(round_id=round_id, offering_ids=[], updated_at=None)
        return Wishes(round_id=round_id, offering_ids=list(row["offering_ids"]), updated_at=row["updated_at"])

    async def put(self, round_id: str, student: StudentProfile, body: WishList) -> Wishes:
        """Replace the student's list (an empty one withdraws) after the rules, in the contract's order."""
        refuse_repeats(body.offering_ids)
        async with transaction(self._pool) as conn:
            round_row = await self._lottery_round(conn, round_id, writing=True)
            found = {
                row["id"]: _eligibility(row["eligibility"])
                for row in await conn.fetch(_sql("wish_offerings"), round_id, body.offering_ids)
            }
            missing = [o for o in body.offering_ids if o not in found]
            if missing:
                raise errors.OfferingNotInRound(
                    f"Round {round_id} does not offer {', '.join(missing[:20])}", offering_ids=missing
                )
            if not _eligibility(round_row["eligibility"]).admits(student.cohort, student.degree, student.campus):
                raise errors.NotEligible(f"You are not eligible for round {round_id}")
            barred = [
                o for o in body.offering_ids if not found[o].admits(student.cohort, student.degree, student.campus)
            ]
            if barred:
                raise errors.NotEligible(f"You are not eligible for {', '.join(barred[:20])}", offering_ids=barred)
            row = await conn.fetchrow(_sql("put_wishes"), round_id, student.id, body.offering_ids)
        assert row is not None
        return Wishes(round_id=round_id, offering_ids=list(row["offering_ids"]), updated_at=row["updated_at"])
