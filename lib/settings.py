"""Settings read once from the ``SELECTION_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Annotated

import msgspec

_PREFIX = "SELECTION_"

#: The contract keeps the first answer to an Idempotency-Key for at least this long.
IDEMPOTENCY_PROMISE_HOURS = 24.0

Positive = Annotated[float, msgspec.Meta(gt=0)]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The service's configuration; the contract's table (docs/API.md) is the source of truth for names and defaults."""

    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    rate_limit: int = 10
    #: Where the embedded servers keep their data when no URL is given.
    data_dir: Path = Path(".data")
    #: Connections per worker process; a group-commit writer needs few.
    pool_size: int = 8
    #: Redo-log entries older than this are committed by any process (their writer may be dead).
    recovery_after_seconds: float = 3.0
    #: Prefix of every Redis key this service writes; lets test runs share one server.
    redis_namespace: str = ""
    #: How often each process checks that every round's gate state is loaded.
    gate_upkeep_seconds: float = 0.5
    #: Log format: "json" for operators, "text" for a terminal.
    log_format: str = "json"
    #: Longest a group commit may take (a connection, the call, its answer); past it the batch is
    #: not acknowledged (503) and its changes wait in the redo log for recovery.
    commit_timeout_seconds: Positive = 3.0
    #: Selections and drops one process takes at once, from before the gate decides until their
    #: commit ends (its group commit's queue is never longer); one more answers 503 at once.
    commit_queue_limit: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    #: Group commits failed (or timed out) in a row after which selections answer 503 without
    #: asking the gate, for ``breaker_cooldown_seconds``; then one batch tries PostgreSQL again.
    breaker_failures: Annotated[int, msgspec.Meta(ge=1)] = 3
    breaker_cooldown_seconds: Positive = 2.0
    #: Longest a request waits for a pooled PostgreSQL connection.
    pool_acquire_timeout_seconds: Positive = 2.0
    #: Longest one statement of a worker may run before it is given up (and the request answers 503).
    query_timeout_seconds: Positive = 10.0
    #: After SIGTERM, how long a server worker may take to finish its requests and stop before it
    #: is killed (granian's workers_kill_timeout).
    shutdown_seconds: Annotated[int, msgspec.Meta(ge=1)] = 20
    #: How long an Idempotency-Key's first answer is kept; never less than the contract's 24 hours.
    idempotency_retention_hours: Annotated[float, msgspec.Meta(ge=IDEMPOTENCY_PROMISE_HOURS)] = 25.0
    #: How often a worker deletes the answers older than the retention (one worker at a time).
    idempotency_prune_seconds: Positive = 600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read the environment (``os.environ`` by default); keyword overrides win."""
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            value = env.get(_PREFIX + field.name.upper())
            if value not in (None, ""):
                raw[field.name] = value
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_from_text)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"invalid configuration: {exc}") from exc


def _from_text(kind: type, value: object) -> object:
    """What msgspec does not read from a string by itself: paths."""
    if kind is Path and isinstance(value, str | PurePath):
        return Path(value)
    raise TypeError(f"cannot read a {kind.__name__} from a {type(value).__name__}")
