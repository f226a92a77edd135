"""Counters of the selection path (request counts and latencies come from Litestar's plugin)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REFUSALS = Counter("selection_refusals", "Selection requests refused by a rule, by contract code", ["code"])
REFUSALS_NOT_AUDITED = Counter(
    "selection_refusals_not_audited", "Refusals left out of the audit trail: its queue was full"
)
RATE_LIMITED = Counter("selection_rate_limited", "Student requests refused by the rate limit")
UNAVAILABLE = Counter("selection_unavailable", "Selection requests answered 503, by cause", ["cause"])
CHANGES = Counter("selection_changes", "Changes committed by this process's writer, by action", ["action"])
DEAD_LETTERS = Counter(
    "selection_dead_letters", "Redo-log entries PostgreSQL refused for what they hold, set aside for an operator"
)
WISH_LISTS = Counter("selection_wish_lists", "Wish lists handed in (each edit counted), empty ones included")
REPLAYS = Counter("selection_idempotent_replays", "Requests answered from a recorded Idempotency-Key answer")
COMMIT_SECONDS = Histogram(
    "selection_commit_seconds",
    "Time of one group commit, from taking a connection to COMMIT",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BATCH_SIZE = Histogram(
    "selection_commit_batch_size",
    "Changes per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
# The group commit's health; livemax: the worst of the live worker processes.
COMMIT_QUEUE = Gauge(
    "selection_commit_queue_length",
    "Requests waiting for this process's group commit",
    multiprocess_mode="livemax",
)
BREAKER_STATE = Gauge(
    "selection_commit_breaker_state",
    "The group commit's circuit breaker: 0 closed, 1 half-open (one batch tries PostgreSQL), 2 open (refusing)",
    multiprocess_mode="livemax",
)
COMMIT_TIMEOUTS = Counter("selection_commit_timeouts", "Group commits given up after the commit timeout")
COMMIT_REFUSED = Counter(
    "selection_commit_refused",
    "Selections and drops refused at once, before or after the gate, because the group commit could not take "
    "them, by reason (queue_full, breaker_open, stopping)",
    ["reason"],
)
