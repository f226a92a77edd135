"""What the gate answers besides a decision: each exception says that nothing was decided, and why."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import msgspec

from quota.entries import Change


class GateUnavailable(Exception):
    """Redis did not answer, or the round's state is not loaded: nothing was decided."""


class OverRate(Exception):
    """The student is over the rate limit: nothing was counted as decided; retry after the wait."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"over the rate limit for {wait_seconds:.3f} s")
        self.wait_seconds = wait_seconds


class Refused(Exception):
    """A rule refused the change: ``code`` is the contract's, ``facts`` what the script saw."""

    def __init__(self, code: str, facts: dict[str, Any]) -> None:
        super().__init__(code)
        self.code = code
        self.facts = facts


class Seen(Exception):
    """The Idempotency-Key was used before, with the request whose fingerprint this is; when the
    gate refused that request, ``refusal`` is the refusal's (code, facts)."""

    def __init__(self, claim: str) -> None:
        fingerprint, _, refusal = claim.partition("\n")
        super().__init__(fingerprint)
        self.fingerprint = fingerprint
        self.refusal: tuple[str, dict[str, Any]] | None = None
        if refusal:
            code, _, facts = refusal.partition("\n")
            self.refusal = (code, msgspec.json.decode(facts) if facts else {})


class Decision(msgspec.Struct, frozen=True):
    """What the gate did: the resulting status and the changes to commit, first the caller's."""

    status: str | None
    position: int | None
    changes: list[Change]


class Held(Exception):
    """The round's fair-start window holds the request: nothing is decided yet. It is decided
    under ``ticket`` when the window ends (``ends_ms``, on Redis's clock)."""

    def __init__(self, ticket: str, ends_ms: int) -> None:
        super().__init__(f"held until {ends_ms} as {ticket}")
        self.ticket = ticket
        self.ends_ms = ends_ms


class Holding(NamedTuple):
    """One of a student's current selections as the gate counts it: ``position`` in the
    waitlist (from 1) for a waitlisted one, None for an enrolled one."""

    offering_id: str
    status: Literal["enrolled", "waitlisted"]
    position: int | None
