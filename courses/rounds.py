"""Rounds: creation under the catalog's rules, and the state machine draft → open ⇄ paused → closed."""

from __future__ import annotations

import secrets
from typing import Literal

import asyncpg
import msgspec

from courses import audit
from courses.models import AdminRound, Eligibility, Round, RoundCreate, RoundPatch, RoundState, refuse_repeats
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

#: What an edit may change in each state. A draft has decided nothing: everything but its id. Once
#: a round has opened, students have acted on its offerings, rules and eligibility, and the gate
#: decides with them (a fair-start window has run from its opening time): only the name and the
#: closing time, which the gate takes with the round's state. A closed round is over: its name.
EDITABLE: dict[RoundState, tuple[str, ...]] = {
    "draft": tuple(name for name in RoundPatch.__struct_fields__),
    "open": ("name", "closes_at"),
    "paused": ("name", "closes_at"),
    "closed": ("name",),
}


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


def _same(name: str, before: object, after: object) -> bool:
    if name == "seed_sha256" and isinstance(before, str) and isinstance(after, str):
        return before.lower() == after.lower()
    if name == "limits" and isinstance(before, dict) and isinstance(after, dict):
        return {str(k): v for k, v in before.items()} == {str(k): v for k, v in after.items()}
    return before == after


def _changes(before: AdminRound, patch: RoundPatch) -> list[str]:
    """The fields the patch sends with a value other than the round's, in the body's order."""
    return [
        name
        for name in RoundPatch.__struct_fields__
        if (value := getattr(patch, name)) is not msgspec.UNSET and not _same(name, getattr(before, name), value)
    ]


async def _check_draft_edit(conn: Connection, after: RoundCreate, changed: list[str]) -> None:
    """A draft's new offerings must exist, keep every offering a selection row names (an
    administrator may have enrolled someone in the draft), and include every offering of the
    rounds that continue it; its new ``continues`` must pass a create's rule and make no loop."""
    if "offering_ids" in changed:
        unknown = [row["id"] for row in await conn.fetch(_sql("unknown_offerings"), after.offering_ids)]
        if unknown:
            raise errors.ValidationFailed(
                f"Unknown offering(s) in offering_ids: {', '.join(unknown[:20])}", field="offering_ids", unknown=unknown
            )
        held = [
            row["offering_id"]
            for row in await conn.fetch(_sql("offerings_held_in_round"), after.id, after.offering_ids)
        ]
        if held:
            raise errors.ValidationFailed(
                f"offering_ids: students hold or held selections of {', '.join(held[:20])} in this round;"
                " drop them before the offering leaves the round",
                field="offering_ids",
                held=held,
            )
        for row in await conn.fetch(_sql("rounds_continuing"), after.id, after.offering_ids):
            if row["missing"]:
                missing = list(row["missing"])
                raise errors.ValidationFailed(
                    f"offering_ids: round {row['id']} continues this round and does not offer"
                    f" {', '.join(missing[:20])}; a round that continues another offers all of its offerings",
                    field="offering_ids",
                    missing=missing,
                    round_id=row["id"],
                )
    if after.continues is not None and ("continues" in changed or "offering_ids" in changed):
        if after.continues == after.id:
            raise errors.ValidationFailed("continues: a round cannot continue itself", field="continues")
        await _check_continues(conn, after)
        chain = [row["id"] for row in await conn.fetch(_sql("continues_chain"), after.continues)]
        if after.id in chain:
            raise errors.ValidationFailed(
                f"continues: round {after.continues} already continues this round (through {', '.join(chain)})",
                field="continues",
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

    async def edit(self, round_id: str, patch: RoundPatch, actor: str) -> AdminRound:
        """Change a round's fields, as ``EDITABLE`` allows in its state (``round_not_draft``
        otherwise); the result passes every rule of a create. A field sent with the value it has
        is no change, so a whole round may be sent back.

        The gate sees the change: a draft's state is retired and rebuilt from PostgreSQL (its
        offerings, rules or eligibility may have changed); an opened round's new closing time
        comes with a new version of its state, which the gate takes as it takes an opening.
        """
        async with transaction(self._pool) as conn:
            state = await conn.fetchval(_sql("lock_round_for_edit"), round_id)
            if state is None:
                raise errors.NotFound(f"No round {round_id}")
            row = await conn.fetchrow(_sql("rounds"), round_id)
            assert row is not None  # locked above
            before = round_of(row)
            changed = _changes(before, patch)
            refused = [name for name in changed if name not in EDITABLE[state]]
            if refused:
                editable = list(EDITABLE[state])
                raise errors.RoundNotDraft(
                    f"Round {round_id} is {state}: {', '.join(refused)} cannot change any more;"
                    f" only {' and '.join(editable)} may",
                    state=state,
                    fields=refused,
                    editable=editable,
                )
            if not changed:
                return before
            after = RoundCreate(
                id=round_id,
                **{name: getattr(before, name) for name in RoundPatch.__struct_fields__},
            )
            after = msgspec.structs.replace(after, **{name: getattr(patch, name) for name in changed})
            _check_shape(after)
            if state == "draft":
                await _check_draft_edit(conn, after, changed)
            await conn.execute(
                _sql("update_round"),
                round_id,
                after.name,
                after.mode,
                after.opens_at,
                after.closes_at,
                _encode(after.eligibility).decode(),
                _encode(after.limits).decode(),
                after.allow_drop,
                after.waitlist,
                after.fair_start_seconds,
                after.continues,
                None if after.seed_sha256 is None else after.seed_sha256.lower(),
            )
            if "offering_ids" in changed:
                await conn.execute(_sql("remove_round_offerings"), round_id, after.offering_ids)
                await conn.execute(_sql("place_round_offerings"), round_id, after.offering_ids)
            if state == "draft":
                # Whatever the gate holds for the draft is now of an older generation: nothing it
                # decided (an administrator's enrolment) is committed until it is rebuilt.
                await conn.execute(_sql("lock_round_changes"), round_id)
                await conn.execute(_sql("retire_gate_state"), round_id)
            await audit.record(conn, actor, "round.edit", f"changed {', '.join(changed)}", round_id=round_id)
        if state == "draft":
            await self._sync.round_reloaded(round_id)
        else:
            await self._sync.round_changed(round_id)
        return await self.get(round_id)

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
