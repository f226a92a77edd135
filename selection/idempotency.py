"""Idempotency-Key: the first answer to a key is kept and replayed to a repeat of the request.

The whole mechanism, from the request to PostgreSQL:

- here: the request's claim (key and fingerprint), the answer a change or refusal gives, the
  record kept of it, and the replay of a recorded answer;
- ``quota/lua/common.lua`` (``claim``): the gate claims the key atomically with the decision, so
  two concurrent repeats cannot both act; a repeat finds the claim (``Seen``);
- ``selection/group_commit.py``: a change's answer is committed with the change itself, so a
  change recovered from a dead process's redo log is replayed like any other;
- ``selection/enrollment.py``: a refusal's answer is recorded before it is sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time

import asyncpg
import msgspec

from courses.models import Selection
from lib.errors import DomainError, IdempotencyConflict, Unavailable, ValidationFailed, problem_document
from lib.failures import DATABASE_FAILURES
from lib.sql import NamedQueries
from quota.entries import RedoEntry
from quota.intents import IdempotencyClaim

_sql = NamedQueries("selection", "queries.sql")
_encode = msgspec.json.Encoder().encode
HEADER = "idempotency-key"


def claim_from(header: str | None, method: str, path: str, body: bytes) -> IdempotencyClaim | None:
    """The request's claim on its key, or None without one; a malformed key is a 400."""
    if header is None:
        return None
    if not 1 <= len(header) <= 255 or not all(32 <= ord(ch) < 127 for ch in header):
        raise ValidationFailed("Idempotency-Key must be 1-255 printable ASCII characters", field="Idempotency-Key")
    digest = hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()
    return IdempotencyClaim(key=header, fingerprint=digest)


class RecordedAnswer(msgspec.Struct, frozen=True):
    """A response kept for a key: its status and body, sent again as they were."""

    status: int
    body: bytes


class Answer(msgspec.Struct, frozen=True):
    """The first response to an Idempotency-Key, recorded with what it answers."""

    student_id: str
    key: str
    round_id: str
    fingerprint: str
    status: int
    body: bytes


def selection_of(round_id: str, entry: RedoEntry) -> Selection:
    """The Selection a select's change answers with."""
    return Selection(
        round_id=round_id,
        offering_id=entry.offering,
        student_id=entry.student,
        status="waitlisted" if entry.status == "waitlisted" else "enrolled",
        position=entry.position if entry.status == "waitlisted" else None,
        created_at=dt.datetime.fromtimestamp(entry.at / 1000, dt.UTC),
    )


def answer_for(round_id: str, entry: RedoEntry) -> tuple[int, bytes]:
    """(HTTP status, body) of the request that made this change, the same whether sent now or
    replayed from its record."""
    if entry.status == "dropped":
        return 204, b""
    status = 202 if entry.status == "waitlisted" else 201
    return status, _encode(selection_of(round_id, entry))


def refusal_answer(student_id: str, round_id: str, claim: IdempotencyClaim, error: DomainError) -> Answer:
    """The record of a refusal as the key's answer: its problem document."""
    body = _encode(problem_document(error))
    return Answer(student_id, claim.key, round_id, claim.fingerprint, error.status, body)


async def replay(
    pool: asyncpg.Pool,
    round_id: str,
    student_id: str,
    claim: IdempotencyClaim,
    seen_fingerprint: str,
    *,
    wait_seconds: float = 10.0,
) -> RecordedAnswer:
    """The first answer to this key, waiting for it while the first request is still in flight."""
    if seen_fingerprint != claim.fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was used with another request")
    deadline = time.monotonic() + wait_seconds
    delay = 0.01
    while True:
        try:
            row = await pool.fetchrow(_sql("recorded_answer"), student_id, round_id, claim.key)
        except DATABASE_FAILURES as exc:
            raise Unavailable("PostgreSQL is unreachable; repeat the request with the same key") from exc
        if row is not None:
            if row["fingerprint"] != claim.fingerprint:
                raise IdempotencyConflict("This Idempotency-Key was used with another request")
            return RecordedAnswer(row["status"], bytes(row["body"]))
        if time.monotonic() >= deadline:
            raise Unavailable("The first request with this key is still in flight; repeat it shortly")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
