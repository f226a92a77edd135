"""The path of a selection from request to commit: gate decision, group commit, answer.

Shared by the students' and the administrators' routes; nothing here knows HTTP beyond the
status codes of the answers it records.
"""

from __future__ import annotations

import asyncpg
import msgspec

from courses.models import Selection
from courses.students import StudentProfile
from quota.entries import Change
from quota.gate import DropMode, GateUnavailable, IdempotencyClaim, OverRate, Rate, Refused, SeatGate, Seen, SelectMode
from selection import errors, metrics
from selection.answers import answer_for, selection_of
from selection.idempotency import RecordedAnswer, replay
from selection.ratelimit import over_rate_error
from selection.refusals import refusal_error
from selection.writer import Answer, NotCommitted, RedoWriter

_encode = msgspec.json.Encoder().encode


class SelectionPath:
    def __init__(self, pool: asyncpg.Pool, gate: SeatGate, writer: RedoWriter) -> None:
        self._pool = pool
        self._gate = gate
        self._writer = writer

    async def select(
        self,
        round_id: str,
        student: StudentProfile,
        offering_id: str,
        *,
        waitlist: bool,
        mode: SelectMode,
        actor: str,
        role: str,
        claim: IdempotencyClaim | None = None,
        rate: Rate | None = None,
    ) -> Selection | RecordedAnswer:
        """Decide and commit a selection; with ``rate``, the student's rate limit is counted in
        the same round trip to the gate."""
        try:
            decision = await self._gate.select(
                round_id,
                student,
                offering_id,
                waitlist=waitlist,
                mode=mode,
                actor=actor,
                role=role,
                claim=claim,
                rate=rate,
            )
        except OverRate as over:
            assert rate is not None
            raise over_rate_error(over, rate) from None
        except Seen as seen:
            assert claim is not None
            return await self._replay(round_id, student.id, offering_id, claim, seen)
        except Refused as refused:
            await self._refuse(round_id, student.id, offering_id, refused, claim)
        except GateUnavailable as exc:
            metrics.UNAVAILABLE.labels("redis").inc()
            raise errors.Unavailable("Selections are paused for a moment; repeat the request") from exc
        await self._commit(decision.changes)
        return selection_of(round_id, decision.changes[0].entry)

    async def drop(
        self,
        round_id: str,
        student_id: str,
        offering_id: str,
        *,
        mode: DropMode,
        actor: str,
        role: str,
        claim: IdempotencyClaim | None = None,
    ) -> RecordedAnswer | None:
        try:
            decision = await self._gate.drop(
                round_id, student_id, offering_id, mode=mode, actor=actor, role=role, claim=claim
            )
        except Seen as seen:
            assert claim is not None
            return await self._replay(round_id, student_id, offering_id, claim, seen)
        except Refused as refused:
            await self._refuse(round_id, student_id, offering_id, refused, claim)
        except GateUnavailable as exc:
            metrics.UNAVAILABLE.labels("redis").inc()
            raise errors.Unavailable("Selections are paused for a moment; repeat the request") from exc
        await self._commit(decision.changes)
        return None

    async def _replay(
        self, round_id: str, student_id: str, offering_id: str, claim: IdempotencyClaim, seen: Seen
    ) -> RecordedAnswer:
        """The first answer to the claim's key."""
        metrics.REPLAYS.inc()
        if seen.refusal is None or seen.fingerprint != claim.fingerprint:
            return await replay(self._pool, round_id, student_id, claim, seen.fingerprint)
        # The gate kept the refusal with the claim: the answer is the same as the first request's,
        # recorded again in case that request died before it could.
        error = refusal_error(*seen.refusal, offering_id)
        answer = Answer(
            student_id, claim.key, round_id, claim.fingerprint, error.status, _encode(errors.problem_document(error))
        )
        try:
            await self._writer.commit([], [answer])
        except NotCommitted as exc:
            raise errors.Unavailable("The answer could not be recorded; repeat the request") from exc
        return RecordedAnswer(answer.status, answer.body)

    async def _commit(self, changes: list[Change]) -> None:
        try:
            await self._writer.commit(changes)
        except NotCommitted as exc:
            metrics.UNAVAILABLE.labels("postgres").inc()
            raise errors.Unavailable(
                "The change could not be recorded and is not acknowledged; repeat the request with the same "
                "Idempotency-Key"
            ) from exc
        for change in changes:
            metrics.CHANGES.labels(change.entry.action).inc()

    async def _refuse(
        self, round_id: str, student_id: str, offering_id: str, refused: Refused, claim: IdempotencyClaim | None
    ) -> None:
        """Raise the refusal; under an Idempotency-Key, first record it as the key's answer."""
        error = refusal_error(refused.code, refused.facts, offering_id)
        metrics.REFUSALS.labels(refused.code).inc()
        if claim is not None:
            body = _encode(errors.problem_document(error))
            try:
                await self._writer.commit(
                    [], [Answer(student_id, claim.key, round_id, claim.fingerprint, error.status, body)]
                )
            except NotCommitted as exc:
                # The claim keeps the refusal (the gate's settle()), and it stays: the answer may
                # have been committed with only PostgreSQL's reply lost, so a repeat must get this
                # same refusal (replayed and recorded again), never a decision made afresh.
                raise errors.Unavailable("The answer could not be recorded; repeat the request") from exc
        raise error


__all__ = ["SelectionPath", "answer_for"]
