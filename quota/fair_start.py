"""The fair-start window's order: which held select the decider decides first.

A select held in the window is the k-th request of its student held there (``k`` counts from 1,
fixed when it was held); one held after the window's end has ``k`` 0. The order is the round's
seeded passes (docs/API.md, "The fair-start window"): every student's first held request in
ascending ``sha256(seed + ":" + student_id)``, then every student's second, and so on; after the
passes, the requests held after the window's end, in arrival order. The order of a request does
not depend on which others are decided already, so a decider that takes over from one that died
goes on exactly where the other stopped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import msgspec


class HeldRequest(msgspec.Struct, frozen=True):
    """A student's select as the window holds it (fair_start.lua's ``hold``), under ``ticket``."""

    student: str
    offering: str
    #: JSON of [cohort, degree, campus], as the select script reads it.
    profile: str
    waitlist: str
    actor: str
    role: str
    #: '1' when the request carries an Idempotency-Key (claimed when it was held).
    idem: str
    fp: str
    key: str
    #: Arrival order in the round's window, from 1.
    n: int
    #: The student's k-th request held in the window (its pass); 0 when held after the window.
    k: int
    #: When it was held, in ms on Redis's clock.
    at: int
    ticket: str = ""


_decode_held = msgspec.json.Decoder(HeldRequest, strict=False).decode


def decode_held(ticket: str, raw: bytes | str) -> HeldRequest:
    held = _decode_held(raw)
    return msgspec.structs.replace(held, ticket=ticket)


def student_rank(seed: str, student_id: str) -> str:
    """Where a student stands in each pass: ``sha256(seed + ":" + student_id)`` in hex."""
    return hashlib.sha256(f"{seed}:{student_id}".encode()).hexdigest()


def fair_order(seed: str, held: Iterable[HeldRequest]) -> list[HeldRequest]:
    """The held requests in the order the decider decides them."""
    ranks: dict[str, str] = {}

    def place(request: HeldRequest) -> tuple[int, int, str, int]:
        if request.k == 0:
            return (1, 0, "", request.n)
        rank = ranks.get(request.student)
        if rank is None:
            rank = ranks[request.student] = student_rank(seed, request.student)
        return (0, request.k, rank, request.n)

    return sorted(held, key=place)
