"""The app factory: routes, auth, errors, OpenAPI, metrics; connections made in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from courses.routes import ADMIN_CATALOG_ROUTES
from selection.admin_routes import ADMIN_SELECTION_ROUTER
from selection.auth import jwt_auth
from selection.errors import problem_details_plugin, unexpected_error
from selection.heap import freeze_startup_heap
from selection.logs import configure_logging, request_id_middleware
from selection.ops import OPS_ROUTES, prometheus_config
from selection.runtime import Runtime
from selection.settings import Settings
from selection.student_routes import STUDENT_ROUTER


def _runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


def create_app(settings: Settings | None = None) -> Litestar:
    """One app per worker process; nothing connects until the lifespan starts."""
    settings = settings or Settings.from_env()
    if not settings.jwt_secret:
        raise RuntimeError("SELECTION_JWT_SECRET is not set")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.close()

    def directory_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
        return connection.app.state.runtime.students

    auth = jwt_auth(settings.jwt_secret, directory_of)
    prometheus = prometheus_config()
    return Litestar(
        route_handlers=[*OPS_ROUTES, *ADMIN_CATALOG_ROUTES, STUDENT_ROUTER, ADMIN_SELECTION_ROUTER],
        lifespan=[lifespan],
        dependencies={"runtime": Provide(_runtime, sync_to_thread=False)},
        on_app_init=[auth.on_app_init],
        middleware=[request_id_middleware, prometheus.middleware],
        plugins=[problem_details_plugin()],
        exception_handlers={Exception: unexpected_error},
        openapi_config=OpenAPIConfig(
            title="Course selection",
            version="1.0.0",
            description="Selection rounds for physical-education, arts and labor-education offerings.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        request_max_body_size=16 * 1024 * 1024,
        debug=False,
        # Our JSON log lines (selection/logs.py), not Litestar's own logging set-up.
        logging_config=None,
    )


def create_app_from_env() -> Litestar:
    """Factory for the ASGI server's worker processes: settings from the environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    app = create_app(settings)
    # A worker's process serves this one app for its whole life: what start-up made stays.
    app.on_startup.append(freeze_startup_heap)
    return app
