"""The rehearsal's plan: which round, which students, how popular each offering is.

The driver writes it as JSON; the locust process reads it. Both sides import only this module
(and msgspec), never the service.
"""

from __future__ import annotations

from pathlib import Path

import msgspec


class Plan(msgspec.Struct, kw_only=True):
    round_id: str
    students: list[str]
    #: How many students the round admits; ``students`` may be a sample of them.
    cohort: int = 0
    #: Expected demand per offering id; empty means a Zipf ranking drawn from ``seed``.
    demand: dict[str, float] = {}
    #: The round's limits (``pe``, ``arts``, ``labor``, ``total``); a missing key is no limit.
    limits: dict[str, int] = {}
    seed: int = 1
    #: Share of students who, refused ``course_full`` on a favourite, join its waitlist.
    waitlist_share: float = 0.3
    #: Share of students who drop one selection at the end and select again.
    drop_share: float = 0.03
    #: Seconds a student waits between two requests (0: as fast as the answers come).
    think_seconds: float = 0.0
    #: Students arriving per second, in the order of ``students``, each at its own planned
    #: moment (0: as fast as locust spawns them).
    arrivals_per_s: float = 0.0


def write_plan(plan: Plan, path: Path) -> None:
    path.write_bytes(msgspec.json.encode(plan))


def read_plan(path: Path) -> Plan:
    return msgspec.json.decode(path.read_bytes(), type=Plan)


class Journal(msgspec.Struct, kw_only=True):
    """What the locust process saw, beyond locust's own statistics."""

    students_planned: int
    students_started: int = 0
    students_done: int = 0
    #: Students stopped before the end of their journey (the run-time ran out, or an error).
    students_interrupted: int = 0
    #: Seconds since the first student arrived until each milestone.
    last_arrival_s: float | None = None
    all_done_s: float | None = None
    #: When each student arrived and when each finished (Unix time), for the plot's students active.
    arrivals: list[float] = []
    finishes: list[float] = []
    #: "route name|status|code" -> count; code is the problem's ``code`` or "-".
    outcomes: dict[str, int] = {}
    transport_errors: int = 0
    server_errors: int = 0
    unexpected: int = 0
    enrolled: int = 0
    waitlisted: int = 0
    dropped: int = 0
    #: Students who ended their journey holding nothing (every wish refused).
    empty_handed: int = 0


def read_journal(path: Path) -> Journal:
    return msgspec.json.decode(path.read_bytes(), type=Journal)


def write_journal(journal: Journal, path: Path) -> None:
    path.write_bytes(msgspec.json.encode(journal))
