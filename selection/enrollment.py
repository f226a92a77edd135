"""Enrollment: the path of a select or a drop from request to commit — the gate's decision, the
group commit, the answer.

Shared by the students' and the administrators' routes; nothing here knows HTTP beyond the
status codes of the answers it records.
"""

from __future__ import annotations

from typing import NoReturn

import asyncpg

from courses.models import Selection
from lib import errors
from quota.gate import SeatGate
from quota.intents import DropIntent, IdempotencyClaim, SelectIntent
from quota.outcomes import Decision, GateUnavailable, OverRate, Refused, Seen
from selection import metrics
from selection.group_commit import Admission, NotCommitted, RedoWriter
from selection.idempotency import RecordedAnswer, refusal_answer, replay, selection_of
from selection.rate_limit import over_rate_error
from selection.refusals import refusal_error


class Enrollment:
    def __init__(self, pool: asyncpg.Pool, gate: SeatGate, writer: RedoWriter) -> None:
        self._pool = pool
        self._gate = gate
        self._writer = writer

    async def select(self, intent: SelectIntent) -> Selection | RecordedAnswer:
        """Decide and commit a selection; with ``intent.rate``, the student's rate limit is counted
        in the same round trip to the gate. A repeat of an Idempotency-Key gets its first answer."""
        with self._admit():
            try:
                decision = await self._gate.select(intent)
            except OverRate as over:
                assert intent.rate is not None
                raise over_rate_error(over, intent.rate) from None
            except Seen as seen:
                assert intent.claim is not None
                return await self._replay(intent.round_id, intent.student.id, intent.offering_id, intent.claim, seen)
            except (Refused, GateUnavailable) as outcome:
                await self._refuse(intent.round_id, intent.student.id, intent.offering_id, outcome, intent.claim)
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
                await self._refuse(intent.round_id, intent.student_id, intent.offering_id, outcome, intent.claim)
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
        except NotCommitted as exc:
            metrics.UNAVAILABLE.labels("postgres").inc()
            raise errors.Unavailable(
                "The change could not be recorded and is not acknowledged; repeat the request with the same "
                "Idempotency-Key"
            ) from exc
        for change in decision.changes:
            metrics.CHANGES.labels(change.entry.action).inc()

    async def _refuse(
        self,
        round_id: str,
        student_id: str,
        offering_id: str,
        outcome: Refused | GateUnavailable,
        claim: IdempotencyClaim | None,
    ) -> NoReturn:
        """Raise the refusal (or 503 for a gate that did not decide); under an Idempotency-Key,
        first record a refusal as the key's answer."""
        if isinstance(outcome, GateUnavailable):
            metrics.UNAVAILABLE.labels("redis").inc()
            raise errors.Unavailable("Selections are paused for a moment; repeat the request") from outcome
        error = refusal_error(outcome.code, outcome.facts, offering_id)
        metrics.REFUSALS.labels(outcome.code).inc()
        if claim is not None:
            try:
                await self._writer.commit([], [refusal_answer(student_id, round_id, claim, error)])
            except NotCommitted as exc:
                # The claim keeps the refusal (the gate's settle()), and it stays: the answer may
                # have been committed with only PostgreSQL's reply lost, so a repeat must get this
                # same refusal (replayed and recorded again), never a decision made afresh.
                raise errors.Unavailable("The answer could not be recorded; repeat the request") from exc
        raise error
