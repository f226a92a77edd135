"""Request-shape checks that Litestar does not make itself."""

from __future__ import annotations

from typing import Any

from litestar import Request

from courses.request_shape import require_media_type

_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))


def require_json(request: Request[Any, Any, Any]) -> None:
    """415 for a body that says it is not JSON (no Content-Type at all is read as JSON); the
    same check as the catalog's routes make."""
    if request.method in _BODY_METHODS:
        require_media_type(request, "json")


async def json_only(request: Request[Any, Any, Any]) -> None:
    """As a router's ``before_request`` hook."""
    require_json(request)
