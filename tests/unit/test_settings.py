"""Settings refuse what they cannot honour: unknown SELECTION_* variables and values out of range."""

from __future__ import annotations

import pytest

from lib.settings import Settings


def test_an_unknown_selection_variable_is_refused_and_named() -> None:
    with pytest.raises(SystemExit) as refused:
        Settings.from_env({"SELECTION_PORT": "8080", "SELECTION_PROT": "9000"})
    message = str(refused.value)
    assert message.startswith("invalid configuration: unknown variable SELECTION_PROT (did you mean SELECTION_PORT?)")
    assert "SELECTION_RATE_LIMIT" in message


def test_every_unknown_variable_is_named_even_an_empty_one() -> None:
    with pytest.raises(
        SystemExit,
        match=r"unknown variables SELECTION_SECRET .*, SELECTION_WORKER \(did you mean SELECTION_WORKERS\?\)",
    ):
        Settings.from_env({"SELECTION_WORKER": "4", "SELECTION_SECRET": ""})


def test_the_tooling_variables_and_other_programs_variables_are_left_alone() -> None:
    env = {
        "SELECTION_TEST_DATABASE_URL": "postgresql://127.0.0.1/postgres",
        "SELECTION_TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics",
        "MY_SELECTION_PORT": "1",
        "SELECTION_LOG_FORMAT": "text",
    }
    assert Settings.from_env(env) == Settings(log_format="text")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SELECTION_LOG_FORMAT", "jsno"),
        ("SELECTION_LOG_FORMAT", "JSON"),
        ("SELECTION_PORT", "-1"),
        ("SELECTION_PORT", "0"),
        ("SELECTION_PORT", "65536"),
        ("SELECTION_WORKERS", "0"),
        ("SELECTION_RATE_LIMIT", "0"),
        ("SELECTION_RATE_LIMIT", "-5"),
        ("SELECTION_POOL_SIZE", "0"),
        ("SELECTION_RECOVERY_AFTER_SECONDS", "0"),
        ("SELECTION_GATE_UPKEEP_SECONDS", "-0.5"),
        ("SELECTION_WORKERS", "four"),
    ],
)
def test_a_value_a_setting_cannot_take_is_refused_with_its_variable(variable: str, value: str) -> None:
    field = variable.removeprefix("SELECTION_").lower()
    with pytest.raises(SystemExit) as refused:
        Settings.from_env({variable: value})
    message = str(refused.value)
    assert message.startswith("invalid configuration: ")
    assert f"$.{field}" in message
    assert message.endswith(f"(from {variable}={value!r})")


@pytest.mark.parametrize(
    ("variable", "value", "field", "read"),
    [
        ("SELECTION_LOG_FORMAT", "json", "log_format", "json"),
        ("SELECTION_PORT", "1", "port", 1),
        ("SELECTION_PORT", "65535", "port", 65535),
        ("SELECTION_WORKERS", "1", "workers", 1),
        ("SELECTION_RATE_LIMIT", "1", "rate_limit", 1),
        ("SELECTION_POOL_SIZE", "1", "pool_size", 1),
        ("SELECTION_RECOVERY_AFTER_SECONDS", "0.1", "recovery_after_seconds", 0.1),
    ],
)
def test_the_edges_of_each_range_are_accepted(variable: str, value: str, field: str, read: object) -> None:
    assert getattr(Settings.from_env({variable: value}), field) == read


def test_an_override_out_of_range_is_refused_without_blaming_the_environment() -> None:
    with pytest.raises(SystemExit) as refused:
        Settings.from_env({"SELECTION_WORKERS": "2"}, workers=0)
    assert "$.workers" in str(refused.value)
    assert "SELECTION_WORKERS" not in str(refused.value)


def test_the_defaults_are_valid_settings() -> None:
    assert Settings.from_env({}) == Settings()
