"""Administrators' catalog and round routes (students, offerings, rounds), on one guarded router."""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler

from courses.catalog_routes import CATALOG_HANDLERS
from courses.request_shape import admin_request_shape
from courses.round_routes import ROUND_HANDLERS
from selection.auth import admin_only

ADMIN_CATALOG_ROUTER = Router(
    path="/api/v1/admin",
    route_handlers=[*CATALOG_HANDLERS, *ROUND_HANDLERS],
    guards=[admin_only],
    before_request=admin_request_shape,
    tags=["admin"],
)

ADMIN_CATALOG_ROUTES: list[ControllerRouterHandler] = [ADMIN_CATALOG_ROUTER]
