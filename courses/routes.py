"""Administrators' catalog and round routes (students, offerings, rounds)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

ADMIN_CATALOG_ROUTES: list[ControllerRouterHandler] = []
