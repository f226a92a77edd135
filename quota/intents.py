"""What a caller asks of the gate: one select or one drop, whole, with who asks and how.

One type per request, shared by the enrollment service above and the gate, instead of the same
ten parameters spelled out at every level.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

#: ``student``: every rule; ``admin``: every rule but the round's state; ``override``: no rule.
SelectMode = Literal["student", "admin", "override"]
#: ``student``: the round must be open and allow drops; ``admin``: neither.
DropMode = Literal["student", "admin"]


class Applicant(Protocol):
    """The gate's view of a student: who they are and what eligibility looks at."""

    @property
    def id(self) -> str: ...

    @property
    def cohort(self) -> int: ...

    @property
    def degree(self) -> str: ...

    @property
    def campus(self) -> str: ...


#: Claims outlive the 24 hours the contract promises for replays.
CLAIM_TTL_SECONDS = 25 * 3600


class IdempotencyClaim(msgspec.Struct, frozen=True):
    """An Idempotency-Key and the fingerprint of the request that carries it."""

    key: str
    fingerprint: str


class Rate(msgspec.Struct, frozen=True):
    """A per-student rate limit: ``per_second`` on average, up to ``burst`` at once."""

    per_second: int
    burst: int


class SelectIntent(msgspec.Struct, frozen=True, kw_only=True):
    """Enroll ``student`` in ``offering_id`` (or queue for it, with ``waitlist``).

    With ``rate``, the request first counts against the student's rate limit in the same script;
    with ``claim``, the Idempotency-Key is claimed atomically with the decision.
    """

    round_id: str
    student: Applicant
    offering_id: str
    waitlist: bool
    mode: SelectMode
    actor: str
    role: str
    claim: IdempotencyClaim | None = None
    rate: Rate | None = None


class DropIntent(msgspec.Struct, frozen=True, kw_only=True):
    """Free ``student_id``'s seat or waitlist place in ``offering_id``."""

    round_id: str
    student_id: str
    offering_id: str
    mode: DropMode
    actor: str
    role: str
    claim: IdempotencyClaim | None = None
