"""Request metrics: the series Litestar's own Prometheus middleware records, for less."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from prometheus_client import REGISTRY

from selection.web.request_metrics import RequestMetrics

PREFIX = "request_metrics_test"
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _series() -> Series:
    """Every sample of the test's metrics but the durations, which differ from call to call."""
    found: Series = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name.startswith(PREFIX) and not sample.name.endswith(("_created", "_sum", "_bucket")):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _delta(before: Series, after: Series) -> Series:
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)}


def _answering(status: int, parts: int = 1) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        for part in range(parts):
            await send({"type": "http.response.body", "body": b"x", "more_body": part < parts - 1})

    return app


async def _receive() -> ReceiveMessage:
    return {"type": "http.disconnect"}


def _scope(method: str, path: str, template: str) -> Scope:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "path_template": template,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "asgi": {"version": "3.0"},
        "state": {},
    }
    return scope  # type: ignore[return-value]


SELECTIONS = "/rounds/{round_id}/selections"
CALLS = [
    ("GET", "/rounds/r1/offerings", "/rounds/{round_id}/offerings", 200, 1),
    ("POST", "/rounds/r1/selections", "/rounds/{round_id}/selections", 201, 1),
    ("POST", "/rounds/r2/selections", "/rounds/{round_id}/selections", 409, 1),
    ("POST", "/rounds/r1/selections", "/rounds/{round_id}/selections", 503, 1),
    ("GET", "/admin/export", "/admin/export", 200, 3),
]


async def _traffic(middleware: Callable[[ASGIApp, PrometheusConfig], ASGIApp], config: PrometheusConfig) -> Series:
    before = _series()
    for method, path, template, status, parts in CALLS * 2:
        await middleware(_answering(status, parts), config)(_scope(method, path, template), _receive, _noop_send)
    return _delta(before, _series())


async def _noop_send(message: Message) -> None:
    return None


def _config(prefix: str = PREFIX, **options: object) -> PrometheusConfig:
    return PrometheusConfig(app_name=PREFIX, prefix=prefix, group_path=True, **options)  # type: ignore[arg-type]


async def test_the_same_series_as_litestars_own_middleware() -> None:
    theirs = await _traffic(PrometheusMiddleware, _config())
    ours = await _traffic(RequestMetrics, _config())
    assert ours == theirs

    # What the comparison covers: counts per route and status, errors for the 5xx only, and an
    # in-progress gauge back where it was.
    def select(status: str) -> tuple[tuple[str, str], ...]:
        return (("app_name", PREFIX), ("method", "POST"), ("path", SELECTIONS), ("status_code", status))

    assert ours[(f"{PREFIX}_requests_total", select("409"))] == 2
    assert [key for key in ours if key[0] == f"{PREFIX}_requests_error_total"] == [
        (f"{PREFIX}_requests_error_total", select("503"))
    ]
    assert not [key for key in ours if "in_progress" in key[0]]
    assert sum(1 for key in ours if key[0] == f"{PREFIX}_request_duration_seconds_count") == 5


async def test_durations_run_until_the_last_part_of_the_body() -> None:
    async def slow_body(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"y", "more_body": False})

    def total() -> float:
        labels = {"app_name": PREFIX, "method": "GET", "path": "/slow", "status_code": "200"}
        return REGISTRY.get_sample_value(f"{PREFIX}_request_duration_seconds_sum", labels) or 0.0

    before = total()
    await RequestMetrics(slow_body, _config())(_scope("GET", "/slow", "/slow"), _receive, _noop_send)
    assert total() - before >= 0.05


async def test_excluded_methods_and_other_configurations_are_the_plugins_own() -> None:
    excluded = await _traffic(RequestMetrics, _config(excluded_http_methods=["GET", "POST"]))
    assert excluded == {}
    # Metric families are made once per name: labels of their own need names of their own.
    labelled = f"{PREFIX}_labelled"
    labelled_theirs = await _traffic(PrometheusMiddleware, _config(labelled, labels={"zone": "a"}))
    labelled_ours = await _traffic(RequestMetrics, _config(labelled, labels={"zone": "a"}))
    assert labelled_ours == labelled_theirs != {}
