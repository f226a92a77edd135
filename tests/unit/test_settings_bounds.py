"""Settings that a contract or a safety argument bounds are refused outside their bounds."""

from __future__ import annotations

import pytest

from lib.settings import Settings


def test_the_idempotency_retention_is_never_below_the_contracts_24_hours() -> None:
    assert Settings.from_env({}).idempotency_retention_hours == 25
    assert Settings.from_env({"SELECTION_IDEMPOTENCY_RETENTION_HOURS": "48"}).idempotency_retention_hours == 48
    with pytest.raises(SystemExit, match="idempotency_retention_hours"):
        Settings.from_env({"SELECTION_IDEMPOTENCY_RETENTION_HOURS": "23.5"})


@pytest.mark.parametrize(
    "name",
    [
        "COMMIT_TIMEOUT_SECONDS",
        "COMMIT_QUEUE_LIMIT",
        "BREAKER_FAILURES",
        "POOL_ACQUIRE_TIMEOUT_SECONDS",
        "SHUTDOWN_SECONDS",
    ],
)
def test_a_bound_of_zero_is_refused(name: str) -> None:
    # Zero would refuse every selection, or never wait at all: a typo, not a choice.
    with pytest.raises(SystemExit, match=name.lower()):
        Settings.from_env({f"SELECTION_{name}": "0"})
