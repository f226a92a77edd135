"""Enrollment: the path of a select or a drop from request to commit — the gate's decision, the
group commit, the answer.

Shared by the students' and the administrators' routes; nothing here knows HTTP beyond the
status codes of the answers it records.
"""

from __future__ import annotations

import contextlib
import time
from typing import NoReturn

import asyncpg

from courses.cached import CachedCatalog
from courses.models import Selection
from lib import errors
from quota.gate import SeatGate
from quota.intents import DropIntent, IdempotencyClaim, Rate, SelectIntent
from quota.outcomes import Decision, GateUnavailable, Held, OverRate, Refused, Seen
from selection import metrics
from selection.fair_start import FairStart
from selection.group_commit import Admission, Fenced, NotCommitted, Poisoned, RedoWriter
from selection.idempotency import RecordedAnswer, refusal_answer, replay, selection_of
from selection.rate_limit import StudentRateLimit, over_rate_error
from selection.refusal_log import Refusal, RefusalLog
from selection.refusals import refusal_error

#: How long a repeat of a held request's Idempotency-Key waits for the window to be decided.
FAIR_START_REPEAT_WAIT = 660.0


class Enrollment:
    def __init__(
        self,
        pool: asyncpg.Pool,
        gate: SeatGate,
        writer: RedoWriter,
        catalog: CachedCatalog,
        rate_limit: StudentRateLimit,
        fair_start: FairStart,
        refusals: RefusalLog | None = None,
    ) -> None:
        self._pool = pool
        self._gate = gate
        self._writer = writer
        self._catalog = catalog
        self._rate_limit = rate_limit
        self._fair_start = fair_start
        #: Set when operators asked for every refusal in the audit trail.
        self._refusals = refusals

    @property
    def student_rate(self) -> Rate:
        """The per-student rate a student's select counts against, in the gate's script."""
        return self._rate_limit.rate

    async def require(self, round_id: str, offering_id: str, *, counting_for: str | None = None) -> None:
        """404 unless the round and the offering exist. A student's select that names an unknown
        one never reaches the gate, where selects are counted: with ``counting_for`` it counts in
        that student's budget for everything else first."""
        try:
            await self._catalog.require_round(round_id)
            await self._catalog.require_offering(offering_id)
        except errors.NotFound:
            if counting_for is not None:
                await self._rate_limit.check(counting_for, None)
            raise

    async def select(self, intent: SelectIntent, *, repeat: bool = False) -> Selection | RecordedAnswer:
        """Decide and commit a selection; with ``intent.rate``, the student's rate limit is counted
        in the same round trip to the gate. A repeat of an Idempotency-Key gets its first answer.
        A select held by a fair-start window waits for the window's decision of it."""
        with self._admit():
            try:
                decision = await self._gate.select(intent)
            except OverRate as over:
                assert intent.rate is not None
                raise over_rate_error(over, intent.rate) from None
            except Seen as seen:
                assert intent.claim is not None
                if not repeat and seen.refusal is None and seen.fingerprint == intent.claim.fingerprint:
                    # The first request may be held in the round's window: once the window is
                    # decided, its claim says how it ended (a refusal) or its answer is recorded.
                    if not await self._fair_start.wait_settled(intent.round_id, FAIR_START_REPEAT_WAIT):
                        raise errors.Unavailable(
                            "The first request with this key is still held; repeat it shortly"
                        ) from None
                    return await self.select(intent, repeat=True)
                return await self._replay(intent.round_id, intent.student.id, intent.offering_id, intent.claim, seen)
            except Held as held:
                waiting = held
            except (Refused, GateUnavailable) as outcome:
                await self._refuse(intent, intent.student.id, outcome)
            else:
                await self._commit(decision)
                return selection_of(intent.round_id, decision.changes[0].entry)
        # Held: no place among the writer's while the window runs (thousands may wait at once).
        return await self._held(intent, waiting)

    async def _held(self, intent: SelectIntent, held: Held) -> Selection:
        """Wait for the window's decision of a held select, then answer it as any other: the
        change committed (or the refusal recorded) first."""
        try:
            reply = await self._fair_start.outcome(intent.round_id, held)
        except GateUnavailable as lost:
            metrics.UNAVAILABLE.labels("redis").inc()
            raise errors.Unavailable(
                "The request was held for the round's fair start and its decision is not known; repeat the "
                "request (with the same Idempotency-Key)"
            ) from lost
        with self._admit():
            try:
                decision = self._gate.outcome(intent.round_id, reply)
            except (Refused, GateUnavailable) as outcome:
                await self._refuse(intent, intent.student.id, outcome)
            await self._commit(decision)
            return selection_of(intent.round_id, decision.changes[0].entry)

    async def drop(self, intent: DropIntent) -> RecordedAnswer | None:
        """Decide and commit a drop (and the promotions it makes); None once committed."""
        with self._admit():
            try:
                decision = await self._gate.drop(intent)
            except Seen as seen:
                assert intent.claim is not None
                return await self._replay(intent.round_id, intent.student_id, intent.offering_id, intent.claim, seen)
            except (Refused, GateUnavailable) as outcome:
                await self._refuse(intent, intent.student_id, outcome)
            await self._commit(decision)
            return None

    def _admit(self) -> Admission:
        """The writer's place for this request, taken before the gate decides: 503 at once when it
        would not record the change now (group commits failing, too many waiting, the process
        stopping), so the gate takes no seat it cannot record."""
        try:
            return self._writer.admit()
        except NotCommitted as exc:
            metrics.UNAVAILABLE.labels("postgres").inc()
            raise errors.Unavailable(
                "Selections cannot be recorded at the moment; nothing was changed. Repeat the request shortly"
            ) from exc

    async def _replay(
        self, round_id: str, student_id: str, offering_id: str, claim: IdempotencyClaim, seen: Seen
    ) -> RecordedAnswer:
        """The first answer to the claim's key."""
        metrics.REPLAYS.inc()
        if seen.refusal is None or seen.fingerprint != claim.fingerprint:
            return await replay(self._pool, round_id, student_id, claim, seen.fingerprint)
        # The gate kept the refusal with the claim: the answer is the same as the first request's,
        # recorded again in case that request died before it could.
        answer = refusal_answer(student_id, round_id, claim, refusal_error(*seen.refusal, offering_id))
        try:
            await self._writer.commit([], [answer])
        except NotCommitted as exc:
            raise errors.Unavailable("The answer could not be recorded; repeat the request") from exc
        return RecordedAnswer(answer.status, answer.body)

    async def _commit(self, decision: Decision) -> None:
        try:
            await self._writer.commit(decision.changes)
        except Poisoned as exc:
            # A fault of the service, not of the request: its change is set aside for an operator
            # and the round rebuilt (until then it decides nothing: it counts a change PostgreSQL
            # does not); a repeat is decided afresh.
            with contextlib.suppress(GateUnavailable):
                for round_id in {change.round_id for change in decision.changes}:
                    await self._gate.stop_decisions(round_id)
                await self._gate.release_claims(decision.changes)
            raise errors.DomainError("The change could not be recorded; the fault is logged") from exc
        except Fenced as exc:
            # Nothing was recorded, nor will be: a repeat under the same key is decided afresh.
            with contextlib.suppress(GateUnavailable):
                await self._gate.release_claims(decision.changes)
            metrics.UNAVAILABLE.labels("fenced").inc()
            raise errors.Unavailable(
                "The change was decided on a state that is being rebuilt and is not acknowledged; repeat the request"
            ) from exc
        except NotCommitted as exc:
            metrics.UNAVAILABLE.labels("postgres").inc()
            raise errors.Unavailable(
                "The change could not be recorded and is not acknowledged; repeat the request with the same "
                "Idempotency-Key"
            ) from exc
        for change in decision.changes:
            metrics.CHANGES.labels(change.entry.action).inc()

    async def _refuse(
        self, intent: SelectIntent | DropIntent, student_id: str, outcome: Refused | GateUnavailable
    ) -> NoReturn:
        """Raise the refusal (or 503 for a gate that did not decide); under an Idempotency-Key,
        first record a refusal as the key's answer."""
        if isinstance(outcome, GateUnavailable):
            metrics.UNAVAILABLE.labels("redis").inc()
            raise errors.Unavailable("Selections are paused for a moment; repeat the request") from outcome
        round_id, claim = intent.round_id, intent.claim
        error = refusal_error(outcome.code, outcome.facts, intent.offering_id)
        metrics.REFUSALS.labels(outcome.code).inc()
        if self._refusals is not None:
            selecting = isinstance(intent, SelectIntent)
            if intent.mode == "student":
                action = "select" if selecting else "drop"
            else:
                action = "force_enroll" if selecting else "force_drop"
            self._refusals.record(
                Refusal(
                    at=time.time(),
                    actor=intent.actor,
                    role=intent.role,
                    action=action,
                    round_id=round_id,
                    student_id=student_id,
                    offering_id=intent.offering_id,
                    code=outcome.code,
                    facts=outcome.facts,
                )
            )
        if claim is not None:
            try:
                await self._writer.commit([], [refusal_answer(student_id, round_id, claim, error)])
            except NotCommitted as exc:
                # The claim keeps the refusal (the gate's settle()), and it stays: the answer may
                # have been committed with only PostgreSQL's reply lost, so a repeat must get this
                # same refusal (replayed and recorded again), never a decision made afresh.
                raise errors.Unavailable("The answer could not be recorded; repeat the request") from exc
        raise error
