"""A change as the gate decided it: one redo-log entry."""

from __future__ import annotations

from typing import Literal

import msgspec

ChangeStatus = Literal["enrolled", "waitlisted", "dropped"]


class RedoEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One change in a round, in the gate's order (``seq``), made under gate generation ``gen``."""

    seq: int
    gen: int
    student: str
    offering: str
    status: ChangeStatus
    #: When the gate decided it, in milliseconds since the epoch.
    at: int
    actor: str
    role: str
    action: str
    #: For a waitlist join: its place in the queue (the joining change's seq) and rank then.
    wait_seq: int | None = None
    position: int | None = None
    #: For a drop: the status it ended.
    was: str | None = None
    #: The Idempotency-Key of the request that made this change, and the request's fingerprint.
    idem: str | None = None
    fp: str | None = None


class Change(msgspec.Struct, frozen=True):
    """An entry with its place in the round's redo stream."""

    round_id: str
    stream_id: str
    entry: RedoEntry


_decode_entry = msgspec.json.Decoder(RedoEntry, strict=False).decode


def decode_entry(raw: bytes | str) -> RedoEntry:
    return _decode_entry(raw)
