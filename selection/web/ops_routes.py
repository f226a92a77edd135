"""Operations: liveness, readiness and Prometheus metrics (outside the OpenAPI document)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ControllerRouterHandler

from lib.errors import Unavailable
from selection.web.request_metrics import RequestMetrics
from selection.worker import Worker

_OPS = {"exclude_from_auth": True, "include_in_schema": False}


@get("/health", media_type="application/json", sync_to_thread=False, opt=_OPS, include_in_schema=False)
def health() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "ok"}


@get("/ready", media_type="application/json", opt=_OPS, include_in_schema=False)
async def ready(worker: NamedDependency[Worker]) -> dict[str, str]:
    """200 only when PostgreSQL and Redis answer and every round's gate state is loaded; else 503
    ``unavailable`` (problem details, like every error), its ``detail`` naming what is missing."""
    ok, why = await worker.ready()
    if not ok:
        raise Unavailable(f"Not ready: {why}")
    return {"status": "ready"}


class Metrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    opt = _OPS


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="selection",
        prefix="selection",
        group_path=True,
        exclude=["^/metrics$", "^/health$", "^/ready$"],
        exclude_unhandled_paths=True,
        middleware_class=RequestMetrics,
    )


OPS_ROUTES: list[ControllerRouterHandler] = [health, ready, Metrics]
