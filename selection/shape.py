"""Request-shape checks that Litestar does not make itself."""

from __future__ import annotations

from typing import Any

from litestar import Request

from selection import errors

_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))


def require_json(request: Request[Any, Any, Any]) -> None:
    """415 for a body that says it is not JSON (no Content-Type at all is read as JSON)."""
    if request.method not in _BODY_METHODS:
        return
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise errors.UnsupportedMediaType(f"Send application/json, not {media}")


async def json_only(request: Request[Any, Any, Any]) -> None:
    """As a router's ``before_request`` hook."""
    require_json(request)
