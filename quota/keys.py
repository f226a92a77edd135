"""Every Redis key of the admission gate, built in one place.

All keys of a round carry the hash tag ``{round:<id>}`` so that every key one script touches
lives in one slot: the scripts run unchanged on a Redis Cluster, one round per slot.
"""

from __future__ import annotations

import hashlib


class RoundKeys:
    """The keys of one round's gate state."""

    __slots__ = (
        "attempts",
        "base",
        "capacity",
        "catalog",
        "categories",
        "enrolled",
        "holdings",
        "meta",
        "redo",
        "round_id",
        "waiting",
    )

    def __init__(self, namespace: str, round_id: str) -> None:
        self.round_id = round_id
        self.base = f"{namespace}{{round:{round_id}}}:"
        #: Hash: state, window, flags, limits, eligibility, generation, sequence, `loaded`.
        self.meta = self.base + "meta"
        #: Hash: offering id -> static JSON (category, eligibility, schedule).
        self.catalog = self.base + "catalog"
        #: Hash: category -> JSON list of the round's offering ids of that category, in the round's
        #: order (from the catalog): where a course_full looks for alternatives.
        self.categories = self.base + "cats"
        #: Hash: offering id -> capacity.
        self.capacity = self.base + "cap"
        #: Hash: offering id -> enrolled count.
        self.enrolled = self.base + "enr"
        #: Hash: offering id -> waitlist length.
        self.waiting = self.base + "wlc"
        #: Hash: student id -> JSON of the student's profile and holdings in this round.
        self.holdings = self.base + "hold"
        #: Stream: the redo log, one entry per change, in the gate's order.
        self.redo = self.base + "redo"
        #: Hash: "<student>\t<offering>" -> when the student first tried to select it (ms), until
        #: copied to PostgreSQL. Not seat state: a rebuilt round keeps it.
        self.attempts = self.base + "tries"

    def waitlist(self, offering_id: str) -> str:
        """Sorted set of the students waiting for an offering, scored by the joining change's seq."""
        return f"{self.base}wl:{offering_id}"

    def idempotency(self, student_id: str, key: str) -> str:
        """The claim on an Idempotency-Key (the key hashed: it may hold any printable ASCII)."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self.base}idem:{student_id}:{digest}"

    def rate(self, student_id: str) -> str:
        """The student's rate limit bucket for requests about this round (in the round's slot,
        so that a select counts it in the same script that decides it)."""
        return f"{self.base}rate:{student_id}"

    def fixed(self) -> list[str]:
        """The keys every script takes, in the order the scripts expect them."""
        return [self.meta, self.catalog, self.capacity, self.enrolled, self.waiting, self.holdings, self.redo]

    def state_keys(self, offering_ids: list[str]) -> list[str]:
        """Every key that holds the round's seat state (not idempotency claims)."""
        return [*self.fixed(), self.categories, *(self.waitlist(o) for o in offering_ids)]


def student_rate_key(namespace: str, student_id: str) -> str:
    """The rate limit bucket of a student's requests that name no round (the list of rounds)."""
    return f"{namespace}rate:{student_id}"
