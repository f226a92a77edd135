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
        "fair_start",
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
        #: The fair-start window's keys (quota/lua/fair_start.lua), outside the seat state: a
        #: rebuild of the round from PostgreSQL keeps the requests it holds.
        self.fair_start = FairStartKeys(self.base)

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


class FairStartKeys:
    """The keys of a round's fair-start window, in the round's slot."""

    __slots__ = ("channel", "count", "held", "outcomes", "window")

    def __init__(self, base: str) -> None:
        #: Hash: `n` (arrivals), `done`, the decider's `lease` and `until`.
        self.window = base + "fs"
        #: Hash: ticket -> JSON of a held request.
        self.held = base + "fs:held"
        #: Hash: ticket -> JSON of the decision's reply, for whoever waits for it.
        self.outcomes = base + "fs:out"
        #: Hash: student id -> how many of their requests the window holds.
        self.count = base + "fs:k"
        #: Pub/sub: the decider's outcomes as it decides them.
        self.channel = base + "fs:ch"

    def select_keys(self) -> list[str]:
        """The keys select.lua takes after the rate key, in its order."""
        return [self.window, self.held, self.outcomes, self.count]


def student_rate_key(namespace: str, student_id: str) -> str:
    """The rate limit bucket of a student's requests that name no round (the list of rounds)."""
    return f"{namespace}rate:{student_id}"
