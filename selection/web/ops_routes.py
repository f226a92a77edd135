"""Operations: liveness, readiness and Prometheus metrics (outside the OpenAPI document)."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ControllerRouterHandler

from selection.web.request_metrics import RequestMetrics
from selection.worker import Worker

_OPS = {"exclude_from_auth": True, "include_in_schema": False}


@get("/health", media_type="application/json", sync_to_thread=False, opt=_OPS, include_in_schema=False)
def health() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "ok"}


@get("/ready", media_type="application/json", opt=_OPS, include_in_schema=False)
async def ready(worker: NamedDependency[Worker]) -> Response[dict[str, str]]:
    """200 only when PostgreSQL and Redis answer and every round's gate state is loaded."""
    ok, why = await worker.ready()
    if ok:
        return Response({"status": "ready"})
    return Response({"status": "unavailable", "detail": why}, status_code=503, headers={"Retry-After": "1"})


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
