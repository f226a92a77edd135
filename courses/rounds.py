"""Rounds: creation under the catalog's rules, and the state machine draft → open ⇄ paused → closed."""

from __future__ import annotations

import secrets
from typing import Literal

import asyncpg
import msgspec

from courses import audit
from courses.models import AdminRound, Eligibility, Round, RoundCreate, RoundState, refuse_repeats
from courses.ports import GateSync
from courses.wishes import wish_summary
from lib import errors
from lib.database import connection, transaction
from lib.sql import Connection, NamedQueries

_sql = NamedQueries("courses", "queries.sql")

Action = Literal["open", "pause", "close"]

#: Each action's target state and the states it may leave; nothing leaves ``closed``.
MOVES: dict[Action, tuple[RoundState, tuple[RoundState, ...]]] = {
    "open": ("open", ("draft", "paused")),
    "pause": ("paused", ("open",)),
    "close": ("closed", ("open", "paused")),
}

_encode = msgspec.json.Encoder().encode


def round_of(row: asyncpg.Record) -> AdminRound:
    return AdminRound(
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
        fair_start_seconds=row["fair_start_seconds"],
        continues=row["continues"],
        seed_sha256=row["seed_sha256"],
        fair_start_seed=row["fair_start_seed"],
        drawn_seed=row["drawn_seed"],
    )


_PUBLIC_FIELDS = Round.__struct_fields__


def student_view(round_: AdminRound) -> Round:
    """The round without what only administrators see (the seeds)."""
    return Round(**{name: getattr(round_, name) for name in _PUBLIC_FIELDS})


def _check_shape(body: RoundCreate) -> None:
    refuse_repeats(body.offering_ids)
    if body.opens_at is not None and body.closes_at is not None and body.closes_at <= body.opens_at:
        raise errors.ValidationFailed("closes_at must be after opens_at", field="closes_at")
    if body.mode == "lottery" and body.fair_start_seconds:
        raise errors.ValidationFailed(
            "fair_start_seconds applies to fcfs rounds: a lottery round has no race to even out",
            field="fair_start_seconds",
        )
    if body.mode == "fcfs" and body.seed_sha256 is not None:
        raise errors.ValidationFailed(
            "seed_sha256 commits to a lottery draw's seed: an fcfs round has no draw", field="seed_sha256"
        )


def _invalid(round_id: str, state: str, action: Action) -> errors.DomainError:
    _target, sources = MOVES[action]
    return errors.InvalidTransition(
        f"Round {round_id} is {state}: {action} applies only to a round that is {' or '.join(sources)}",
        state=state,
        action=action,
    )


async def _check_continues(conn: Connection, body: RoundCreate) -> None:
    """A round may continue only an existing round whose every offering it offers too: a seat
    carried over needs its offering here, and no student's placement is left behind."""
    row = await conn.fetchrow(_sql("continued_round"), body.continues, body.offering_ids)
    if row is None:
        raise errors.ValidationFailed(f"continues: there is no round {body.continues}", field="continues")
    if row["missing"]:
        missing = list(row["missing"])
        raise errors.ValidationFailed(
            f"continues: round {body.continues} offers {', '.join(missing[:20])}, which this round does not;"
            " a round that continues another offers all of its offerings",
            field="continues",
            missing=missing,
        )


async def _check_continued_is_done(conn: Connection, continued: str) -> None:
    """The outcome copied in must be final: the continued round closed and, if a lottery, drawn."""
    row = await conn.fetchrow(_sql("continued_round"), continued, [])
    assert row is not None  # a foreign key
    if row["state"] != "closed":
        raise errors.InvalidTransition(
            f"This round continues round {continued}, which is {row['state']}: close it first",
            state=row["state"],
            action="open",
            continues=continued,
        )
    if row["mode"] == "lottery" and row["drawn_at"] is None:
        raise errors.InvalidTransition(
            f"This round continues lottery round {continued}, which has not been drawn: draw it first",
            state=row["state"],
            action="open",
            continues=continued,
        )


class RoundRegistry:
    """Rounds in PostgreSQL; the gate is told of every new round and every state change."""

    def __init__(self, pool: asyncpg.Pool, sync: GateSync) -> None:
        self._pool = pool
        self._sync = sync

    async def every(self) -> list[AdminRound]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("rounds"), None)
        return [round_of(row) for row in rows]

    async def get(self, round_id: str) -> AdminRound:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(_sql("rounds"), round_id)
        if row is None:
            raise errors.NotFound(f"No round {round_id}")
        return round_of(row)

    async def create(self, body: RoundCreate, actor: str) -> AdminRound:
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
            if body.continues is not None:
                await _check_continues(conn, body)
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
                body.fair_start_seconds,
                body.continues,
                None if body.seed_sha256 is None else body.seed_sha256.lower(),
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

    async def move(self, round_id: str, action: Action, actor: str) -> AdminRound:
        """One state change; of concurrent calls, only those that find an allowed state succeed."""
        if action == "open":
            return await self._open(round_id, actor)
        target, sources = MOVES[action]
        async with transaction(self._pool) as conn:
            moved = await conn.fetchval(_sql("move_round"), round_id, target, list(sources))
            if moved is None:
                state = await conn.fetchval(_sql("round_state"), round_id)
                if state is None:
                    raise errors.NotFound(f"No round {round_id}")
                raise _invalid(round_id, state, action)
            await audit.record(conn, actor, f"round.{action}", f"round is now {target}", round_id=round_id)
            if action == "close" and (summary := await wish_summary(conn, round_id)) is not None:
                await audit.record(conn, actor, "round.wishes", summary, round_id=round_id)
        await self._sync.round_changed(round_id)
        return await self.get(round_id)

    async def _open(self, round_id: str, actor: str) -> AdminRound:
        """Open a draft or paused round. The first opening also stamps the fair-start window's
        start and seed, and copies in the outcome of the round this one continues."""
        carried = 0
        async with transaction(self._pool) as conn:
            row = await conn.fetchrow(_sql("round_for_open"), round_id)
            if row is None:
                raise errors.NotFound(f"No round {round_id}")
            _target, sources = MOVES["open"]
            if row["state"] not in sources:
                raise _invalid(round_id, row["state"], "open")
            first = row["opened_at"] is None
            if first and row["continues"] is not None:
                await _check_continued_is_done(conn, row["continues"])
            wants_seed = row["mode"] == "fcfs" and row["fair_start_seconds"] > 0
            opened = await conn.fetchrow(_sql("open_round"), round_id, secrets.token_hex(16) if wants_seed else None)
            assert opened is not None  # the row is locked above
            detail = "round is now open"
            if first and opened["fair_start_seed"] is not None:
                detail += (
                    f"; fair start: selects in the first {row['fair_start_seconds']} s are decided together,"
                    f" in the order of seed {opened['fair_start_seed']}"
                )
            await audit.record(conn, actor, "round.open", detail, round_id=round_id)
            if first and row["continues"] is not None:
                carried = len(await conn.fetch(_sql("carry_over"), round_id, row["continues"], actor))
                await conn.execute(_sql("retire_gate_state"), round_id)
                await audit.record(
                    conn,
                    actor,
                    "round.carry_over",
                    f"{carried} selection(s) carried over from round {row['continues']}",
                    round_id=round_id,
                )
        if carried:
            # The gate must count the copied seats before it decides anything in this round.
            await self._sync.round_reloaded(round_id)
        else:
            await self._sync.round_changed(round_id)
        return await self.get(round_id)

    async def visible_to(self, cohort: int, degree: str, campus: str) -> list[Round]:
        """The rounds a student may see: every round but drafts, that admits them."""
        async with connection(self._pool) as conn:
            rows = await conn.fetch(_sql("visible_rounds"))
        rounds = [round_of(row) for row in rows]
        return [student_view(r) for r in rounds if r.eligibility.admits(cohort, degree, campus)]
