"""The lottery's draw against PostgreSQL: the draw input read, the draw committed in one
transaction, the gate reloaded after; the draw input exported; a drawn round verified."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import asyncpg
import msgspec

from courses import audit
from courses.draw import draw, order_key
from courses.draw_input import (
    DEFINITION,
    DrawExplanation,
    DrawInput,
    DrawOffering,
    DrawRound,
    HeldSeat,
    Placement,
    Wisher,
    WishOutcome,
)
from courses.models import DrawResult, Eligibility, ScheduleEntry
from courses.ports import GateSync
from courses.wishes import wish_summary
from lib import errors
from lib.database import connection, transaction
from lib.sql import Connection, NamedQueries

_sql = NamedQueries("courses", "queries.sql")
log = logging.getLogger("courses.lottery")
_encode = msgspec.json.Encoder(order="deterministic").encode


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Verification(msgspec.Struct, kw_only=True):
    round_id: str
    seed: str
    stored: int
    recomputed: int
    #: Each difference in words; empty when the stored placements are the recomputed ones.
    differences: list[str]


def _lottery(row: asyncpg.Record | None, round_id: str) -> asyncpg.Record:
    if row is None:
        raise errors.NotFound(f"No round {round_id}")
    if row["mode"] != "lottery":
        raise errors.WrongMode(f"Round {round_id} is first-come, first-served: it has no draw", mode=row["mode"])
    return row


async def read_input(conn: Connection, row: asyncpg.Record) -> DrawInput:
    """The draw input as PostgreSQL holds it now (before the draw: what a draw would use)."""
    round_id = row["id"]
    offerings = [
        DrawOffering(
            id=o["id"],
            capacity=o["capacity"],
            category=o["category"],
            schedule=msgspec.convert(o["schedule"] or [], list[ScheduleEntry]),
            eligibility=msgspec.convert(o["eligibility"] or {}, Eligibility),
        )
        for o in await conn.fetch(_sql("draw_offerings"), round_id)
    ]
    held = [
        HeldSeat(student_id=h["student_id"], offering_id=h["offering_id"])
        for h in await conn.fetch(_sql("held_seats"), round_id)
    ]
    wishers = [
        Wisher(
            id=w["id"], cohort=w["cohort"], degree=w["degree"], campus=w["campus"], offering_ids=list(w["offering_ids"])
        )
        for w in await conn.fetch(_sql("wishers"), round_id)
    ]
    return DrawInput(
        definition=DEFINITION,
        round=DrawRound(
            id=round_id,
            mode=row["mode"],
            limits=dict(row["limits"] or {}),
            eligibility=msgspec.convert(row["eligibility"] or {}, Eligibility),
        ),
        offerings=offerings,
        held_seats=held,
        students=wishers,
        seed=None,
        seed_sha256=row["seed_sha256"],
        drawn_at=None,
        placements=None,
    )


async def _stored_placements(conn: Connection, round_id: str) -> list[Placement]:
    return [
        Placement(student_id=p["student_id"], offering_id=p["offering_id"], pass_=p["pass"], rank=p["rank"])
        for p in await conn.fetch(_sql("draw_placements"), round_id)
    ]


async def _drawn_input(conn: Connection, row: asyncpg.Record) -> DrawInput:
    """A drawn round's input as it stood at the draw, with the seed and the placements as drawn."""
    document = msgspec.convert(row["draw_input"], DrawInput)
    document.seed = row["drawn_seed"]
    document.seed_sha256 = sha256_hex(row["drawn_seed"])
    document.drawn_at = row["drawn_at"]
    document.placements = await _stored_placements(conn, row["id"])
    return document


def _words(p: Placement) -> str:
    return f"{p.student_id} -> {p.offering_id} (pass {p.pass_}, wish {p.rank})"


def compare(expected: list[Placement], stored: list[Placement]) -> list[str]:
    """The differences between two lists of placements, in words (order included)."""
    stored_set, expected_set = set(stored), set(expected)
    differences = [f"recomputed, not stored: {_words(p)}" for p in expected if p not in stored_set]
    differences += [f"stored, not recomputed: {_words(p)}" for p in stored if p not in expected_set]
    if not differences and expected != stored:
        differences.append("the same placements, in another order")
    return differences


class DrawTimings(msgspec.Struct, kw_only=True):
    """Seconds spent by the last draw: reading its input, computing, writing and committing, and
    reloading the gate (logged, and read by loadtests/draw_bench.py)."""

    read: float = 0.0
    compute: float = 0.0
    commit: float = 0.0
    gate: float = 0.0


class _Explained(msgspec.Struct, kw_only=True):
    """One drawn round's draw, replayed once with every wish's fate kept."""

    document: DrawInput
    places: dict[str, int]
    outcomes: dict[str, list[WishOutcome]]


class Lottery:
    """Draws lottery rounds, exports what a draw depends on, explains a draw to a student."""

    #: Drawn rounds replayed and kept per process: a replay is a whole draw (tenths of a second
    #: for a full cohort), after which each student's explanation is a lookup.
    EXPLAINED_ROUNDS = 4

    def __init__(self, pool: asyncpg.Pool, sync: GateSync) -> None:
        self._pool = pool
        self._sync = sync
        self.last_timings = DrawTimings()
        self._explained: dict[tuple[str, str], _Explained] = {}
        self._replaying = asyncio.Lock()

    async def draw(self, round_id: str, seed: str, actor: str) -> DrawResult:
        """Draw the round once: every placement, its audit and the round's mark in one transaction,
        then the gate's state reloaded from PostgreSQL. The same seed again answers the same."""
        async with transaction(self._pool) as conn:
            row = _lottery(await conn.fetchrow(_sql("draw_round_locked"), round_id), round_id)
            if row["state"] != "closed":
                raise errors.InvalidTransition(
                    f"Round {round_id} is {row['state']}: close it before the draw", state=row["state"], action="draw"
                )
            if row["seed_sha256"] is not None and sha256_hex(seed) != row["seed_sha256"]:
                raise errors.ValidationFailed(
                    "seed: its sha256 is not the round's seed_sha256", field="seed", seed_sha256=row["seed_sha256"]
                )
            if row["drawn_seed"] is not None:
                if row["drawn_seed"] == seed:
                    return msgspec.convert(row["draw_result"], DrawResult)
                raise errors.InvalidTransition(
                    f"Round {round_id} was drawn already, with another seed", state=row["state"], action="draw"
                )
            started = time.perf_counter()
            await conn.execute(_sql("lock_round_changes"), round_id)
            document = await read_input(conn, row)
            read = time.perf_counter()
            placements = draw(document, seed)
            computed = time.perf_counter()
            placed_students = {p.student_id for p in placements}
            result = DrawResult(
                round_id=round_id,
                seed=seed,
                seed_sha256=sha256_hex(seed),
                students=len(document.students),
                enrolled=len(placements),
                unplaced=sum(1 for s in document.students if s.id not in placed_students),
            )
            await conn.execute(
                _sql("insert_draw"),
                round_id,
                [p.student_id for p in placements],
                [p.offering_id for p in placements],
                [p.pass_ for p in placements],
                [p.rank for p in placements],
                actor,
            )
            stored_input = _encode(document).decode()
            await conn.execute(_sql("mark_drawn"), round_id, seed, _encode(result).decode(), stored_input)
            wishes = await wish_summary(conn, round_id)
            await audit.record(
                conn,
                actor,
                "round.draw",
                f"drawn with seed {seed!r} (sha256 {result.seed_sha256}): {result.enrolled} seat(s) to"
                f" {result.students - result.unplaced} of {result.students} student(s), {result.unplaced} unplaced;"
                f" {wishes}; draw input sha256 {sha256_hex(stored_input)}",
                round_id=round_id,
            )
        committed = time.perf_counter()
        # The seats were written outside the gate: it counts them before it decides again.
        await self._sync.round_reloaded(round_id)
        self.last_timings = DrawTimings(
            read=read - started,
            compute=computed - read,
            commit=committed - computed,
            gate=time.perf_counter() - committed,
        )
        log.info("lottery drawn", extra={"round_id": round_id, **msgspec.structs.asdict(self.last_timings)})
        return result

    async def draw_input(self, round_id: str) -> DrawInput:
        return await export(self._pool, round_id)

    async def explain(self, round_id: str, student_id: str) -> DrawExplanation:
        """The drawn round as the student sees it: their place in the order and each wish's fate,
        recomputed from the draw's stored input (so it is what ``selection draw --verify`` checks)."""
        async with connection(self._pool) as conn:
            row = _lottery(await conn.fetchrow(_sql("draw_round"), round_id), round_id)
            if row["state"] == "draft":
                raise errors.RoundNotOpen(f"Round {round_id} is not open yet", state="draft")
            if row["drawn_seed"] is None:
                raise errors.NotFound(f"Round {round_id} has not been drawn yet")
            explained = self._explained.get((round_id, row["drawn_seed"]))
            if explained is None:
                async with self._replaying:
                    explained = self._explained.get((round_id, row["drawn_seed"]))
                    if explained is None:
                        explained = await self._replay(conn, row)
        document = explained.document
        assert document.seed is not None
        assert document.drawn_at is not None
        return DrawExplanation(
            round_id=round_id,
            seed=document.seed,
            seed_sha256=sha256_hex(document.seed),
            drawn_at=document.drawn_at,
            students=len(explained.places),
            order_key=order_key(document.seed, student_id),
            place=explained.places.get(student_id),
            wishes=explained.outcomes.get(student_id, []),
        )

    async def _replay(self, conn: Connection, row: asyncpg.Record) -> _Explained:
        document = await _drawn_input(conn, row)
        seed = row["drawn_seed"]
        outcomes: dict[str, list[WishOutcome]] = {}
        # A whole draw: off the event loop, so that other requests go on meanwhile.
        await asyncio.to_thread(draw, document, seed, outcomes=outcomes)
        ordered = sorted((w.id for w in document.students), key=lambda sid: order_key(seed, sid))
        explained = _Explained(
            document=document, places={sid: i for i, sid in enumerate(ordered, start=1)}, outcomes=outcomes
        )
        while len(self._explained) >= self.EXPLAINED_ROUNDS:
            self._explained.pop(next(iter(self._explained)))
        self._explained[(row["id"], seed)] = explained
        return explained


async def export(pool: asyncpg.Pool, round_id: str) -> DrawInput:
    """The draw input: before the draw, what a draw would use now; after it, what it used."""
    async with connection(pool) as conn:
        row = _lottery(await conn.fetchrow(_sql("draw_round"), round_id), round_id)
        if row["drawn_seed"] is not None:
            return await _drawn_input(conn, row)
        return await read_input(conn, row)


async def verify(pool: asyncpg.Pool, round_id: str) -> Verification:
    """Recompute a drawn round from its stored draw input; compare with the stored placements."""
    document = await export(pool, round_id)
    if document.seed is None or document.placements is None:
        raise errors.InvalidTransition(f"Round {round_id} has not been drawn", action="verify")
    recomputed = draw(document, document.seed)
    return Verification(
        round_id=round_id,
        seed=document.seed,
        stored=len(document.placements),
        recomputed=len(recomputed),
        differences=compare(recomputed, document.placements),
    )
