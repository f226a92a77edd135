"""Rounds: creation under the catalog's rules, and the state machine draft → open ⇄ paused → closed."""

from __future__ import annotations

from typing import Literal

import asyncpg
import msgspec

from courses import audit
from courses.models import Eligibility, Round, RoundCreate, RoundState
from courses.ports import GateSync
from lib import errors
from lib.database import connection, transaction
from lib.sql import NamedQueries

_sql = NamedQueries("courses", "queries.sql")

Action = Literal["open", "pause", "close"]

#: Each action's target state and the states it may leave; nothing leaves ``closed``.
MOVES: dict[Action, tuple[RoundState, tuple[RoundState, ...]]] = {
    "open": ("open", ("draft", "paused")),
    "pause": ("paused", ("open",)),
    "close": ("closed", ("open", "paused")),
}

_encode = msgspec.json.Encoder().encode


def round_of(row: asyncpg.Record) -> Round:
    return Round(
        id=row["id"],
        name=row["name"],
        mode=row["mode"],
        state=row["state"],
        opens_at=row["opens_at"],
        closes_at=row["closes_at"],
        offering_ids=list(row["offering_ids"]),
        eligibility=msgspec.convert(row["eligibility"] or {}, Eligibility),
        limits=dict(row["limits"] or {}),
        allow_drop=row["allow_drop"],
        waitlist=row["waitlist"],
    )


def _check_shape(body: RoundCreate) -> None:
    seen: set[str] = set()
    for index, offering_id in enumerate(body.offering_ids):
        if offering_id in seen:
            raise errors.ValidationFailed(
                f"offering_ids[{index}] repeats {offering_id}", field="offering_ids", index=index
            )
        seen.add(offering_id)
    if body.opens_at is not None and body.closes_at is not None and body.closes_at <= body.opens_at:
        raise errors.ValidationFailed("closes_at must be after opens_at", field="closes_at")


class RoundRegistry:
    """Rounds in PostgreSQL; the gate is told of every new round and every state change."""

    def __init__(self, pool: asyncpg.Pool, sync: GateSync) -> None:
        self._pool = pool
        self._sync = sync

    async def every(self) -> list[Round]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("rounds"), None)
        return [round_of(row) for row in rows]

    async def get(self, round_id: str) -> Round:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(_sql("rounds"), round_id)
        if row is None:
            raise errors.NotFound(f"No round {round_id}")
        return round_of(row)

    async def create(self, body: RoundCreate, actor: str) -> Round:
        """A new draft round; its offerings must exist, and its id must be free."""
        _check_shape(body)
        async with transaction(self._pool) as conn:
            unknown = [row["id"] for row in await conn.fetch(_sql("unknown_offerings"), body.offering_ids)]
            if unknown:
                raise errors.ValidationFailed(
                    f"Unknown offering(s) in offering_ids: {', '.join(unknown[:20])}",
                    field="offering_ids",
                    unknown=unknown,
                )
            inserted = await conn.fetchval(
                _sql("insert_round"),
                body.id,
                body.name,
                body.mode,
                body.opens_at,
                body.closes_at,
                _encode(body.eligibility).decode(),
                _encode(body.limits).decode(),
                body.allow_drop,
                body.waitlist,
            )
            if inserted is None:
                raise errors.AlreadyExists(f"A round {body.id} exists already", round_id=body.id)
            await conn.execute(_sql("insert_round_offerings"), body.id, body.offering_ids)
            await audit.record(
                conn,
                actor,
                "round.create",
                f"{body.mode} round {body.name!r} with {len(body.offering_ids)} offerings",
                round_id=body.id,
            )
        await self._sync.round_changed(body.id)
        return await self.get(body.id)

    async def move(self, round_id: str, action: Action, actor: str) -> Round:
        """One state change; of concurrent calls, only those that find an allowed state succeed."""
        target, sources = MOVES[action]
        async with transaction(self._pool) as conn:
            moved = await conn.fetchval(_sql("move_round"), round_id, target, list(sources))
            if moved is None:
                state = await conn.fetchval(_sql("round_state"), round_id)
                if state is None:
                    raise errors.NotFound(f"No round {round_id}")
                raise errors.InvalidTransition(
                    f"Round {round_id} is {state}: {action} applies only to a round that is {' or '.join(sources)}",
                    state=state,
                    action=action,
                )
            await audit.record(conn, actor, f"round.{action}", f"round is now {target}", round_id=round_id)
        await self._sync.round_changed(round_id)
        return await self.get(round_id)

    async def visible_to(self, cohort: int, degree: str, campus: str) -> list[Round]:
        """The rounds a student may see: every round but drafts, that admits them."""
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("visible_rounds"))
        rounds = [round_of(row) for row in rows]
        return [r for r in rounds if r.eligibility.admits(cohort, degree, campus)]
