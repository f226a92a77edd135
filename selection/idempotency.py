"""Idempotency-Key: the first answer to a key is kept and replayed to a repeat of the request."""

from __future__ import annotations

import asyncio
import hashlib
import time

import asyncpg
import msgspec
from litestar import Response

from courses.queries import NamedQueries
from quota.gate import IdempotencyClaim
from selection.errors import IdempotencyConflict, Unavailable, ValidationFailed
from selection.writer import DATABASE_FAILURES

_queries = NamedQueries("selection", "queries.sql")
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
    status: int
    body: bytes

    def response(self) -> Response[bytes]:
        media_type = "application/problem+json" if self.status >= 400 else "application/json"
        return Response(
            self.body,
            status_code=self.status,
            media_type=media_type,
            headers={"Idempotent-Replayed": "true"},
        )


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
            row = await pool.fetchrow(_queries("recorded_answer"), student_id, round_id, claim.key)
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
