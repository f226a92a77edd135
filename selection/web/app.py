"""The app factory: routes, auth, errors, OpenAPI, metrics; the worker made in the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.openapi import OpenAPIConfig

from courses.students import StudentDirectory
from lib.logs import configure_logging
from lib.settings import Settings
from selection.pages.routes import PAGE_PATHS
from selection.pages.wiring import PageWiring
from selection.web.admin_catalog_routes import ADMIN_CATALOG_HANDLERS
from selection.web.admin_report_routes import ADMIN_REPORT_HANDLERS
from selection.web.admin_round_routes import ADMIN_ROUND_HANDLERS
from selection.web.admin_selection_routes import ADMIN_SELECTION_ROUTER
from selection.web.auth import admin_only, jwt_auth
from selection.web.dependencies import service_dependencies
from selection.web.ops_routes import OPS_ROUTES, prometheus_config
from selection.web.problems import problem_details_plugin, unexpected_error
from selection.web.request_id import request_id_middleware
from selection.web.request_shape import admin_request_shape
from selection.web.student_routes import STUDENT_ROUTER
from selection.worker import Worker

#: Administrators' catalog and round routes, their bodies checked strictly before the handler runs.
ADMIN_CATALOG_ROUTER = Router(
    path="/api/v1/admin",
    route_handlers=[*ADMIN_CATALOG_HANDLERS, *ADMIN_ROUND_HANDLERS, *ADMIN_REPORT_HANDLERS],
    guards=[admin_only],
    before_request=admin_request_shape,
    tags=["admin"],
)


def create_app(settings: Settings | None = None) -> Litestar:
    """One app per worker process; nothing connects until the lifespan starts."""
    settings = settings or Settings.from_env()
    if not settings.jwt_secret:
        raise RuntimeError("SELECTION_JWT_SECRET is not set")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        worker = await Worker.start(settings)
        app.state.worker = worker
        try:
            yield
        finally:
            await worker.close()

    def directory_of(connection: ASGIConnection[Any, Any, Any, Any]) -> StudentDirectory:
        directory: StudentDirectory = connection.app.state.worker.students
        return directory

    # The pages (selection/pages): their routes, templates, session store, assets.
    pages = PageWiring(settings)
    auth = jwt_auth(settings.jwt_secret, directory_of, also_public=PAGE_PATHS)
    prometheus = prometheus_config()
    return Litestar(
        route_handlers=[
            *OPS_ROUTES,
            ADMIN_CATALOG_ROUTER,
            STUDENT_ROUTER,
            ADMIN_SELECTION_ROUTER,
            *pages.route_handlers,
        ],
        lifespan=[lifespan, pages.lifespan],
        template_config=pages.template_config,
        stores=pages.stores,
        dependencies=service_dependencies(),
        on_app_init=[auth.on_app_init],
        middleware=[request_id_middleware, prometheus.middleware],
        plugins=[problem_details_plugin()],
        exception_handlers={Exception: unexpected_error},
        openapi_config=OpenAPIConfig(
            title="Course selection",
            version="1.0.0",
            description="Selection rounds for physical-education, arts and labor-education offerings.",
            path="/schema",
            render_plugins=[pages.openapi_ui],
        ),
        request_max_body_size=16 * 1024 * 1024,
        debug=False,
        # Our JSON log lines (lib/logs.py), not Litestar's own logging set-up.
        logging_config=None,
    )


def freeze_startup_heap() -> None:
    """Keep what start-up made out of the garbage collector's passes.

    A worker starts with a large heap of objects that live as long as it does (the framework,
    the routes, the schemas, the clients). Left in the collected generations, every full pass
    of the cyclic collector walks them again, and under load no request moves meanwhile. Once
    start-up is done, what it left as garbage is collected and the rest frozen; what is made
    later (caches, requests) is collected as before.
    """
    gc.collect()
    gc.freeze()


def create_app_from_env() -> Litestar:
    """Factory for the ASGI server's worker processes: settings from the environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    app = create_app(settings)
    # A worker's process serves this one app for its whole life: what start-up made stays.
    app.on_startup.append(freeze_startup_heap)
    return app
