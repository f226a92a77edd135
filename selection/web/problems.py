"""Every 4xx and 5xx as RFC 9457 problem details (``application/problem+json``) with a contract ``code``."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin

from lib.errors import (
    TYPE_BASE,
    DomainError,
    Forbidden,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from lib.failures import UNREACHABLE

log = logging.getLogger("selection.errors")

_HTTP_CODES = {
    400: ("validation_error", "Invalid request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
    503: ("unavailable", "Service unavailable"),
}
_RETRY_AFTER = {429: "1", 503: "1"}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> ProblemDetailsException:
    """The one place a problem document is shaped."""
    headers = {"Retry-After": _RETRY_AFTER[status]} if status in _RETRY_AFTER else None
    return ProblemDetailsException(
        status_code=status,
        type_=TYPE_BASE + code,
        title=title,
        detail=detail,
        headers=headers,
        extra={"code": code, **extra},
    )


def _from_domain(exc: DomainError) -> ProblemDetailsException:
    pd = problem(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
    if exc.headers:
        pd.headers = {**(pd.headers or {}), **exc.headers}
    return pd


def _from_http(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ProblemDetailsException):
        return exc
    status = exc.status_code
    if status >= 500:
        return problem(500, "internal_error", "Internal error", "The service failed; the fault is logged.")
    code, title = _HTTP_CODES.get(status, ("validation_error" if status < 500 else "internal_error", "Error"))
    extra: dict[str, Any] = {}
    if isinstance(exc.extra, list) and exc.extra:
        extra["errors"] = exc.extra
    elif isinstance(exc.extra, dict):
        extra.update(exc.extra)
    detail = exc.detail or title
    if status == 400 and extra.get("errors"):
        first = extra["errors"][0]
        if isinstance(first, dict) and first.get("message"):
            key = first.get("key")
            detail = f"{detail}: {first['message']}" + (f" ({key})" if key else "")
    pd = problem(status, code, title, detail, **extra)
    if exc.headers:
        pd.headers = {**(pd.headers or {}), **exc.headers}
    return pd


def _from_unexpected(exc: Exception) -> ProblemDetailsException:
    if isinstance(exc, UNREACHABLE):
        # A store that does not answer, on a path with no narrower translation: not a fault of
        # the request, and safe to repeat.
        log.warning("store unreachable", extra={"error": repr(exc)})
        return problem(503, "unavailable", "Service unavailable", "A store is unreachable; repeat the request shortly.")
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal_error", "Internal error", "The service failed; the fault is logged.")


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return _from_unexpected(exc).to_response(request)


def problem_details_plugin() -> ProblemDetailsPlugin:
    """Every 4xx and 5xx as ``application/problem+json`` with a contract ``code``."""
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            enable_for_all_http_exceptions=True,
            exception_to_problem_detail_map={
                HTTPException: _from_http,
                DomainError: _from_domain,
            },
        )
    )


# --- how routes describe their answers in the OpenAPI document ---


def answer(data: Any, description: str) -> ResponseSpec:
    """A success answer for ``responses=``, where the framework cannot see it: a body sent as
    pre-encoded bytes, a second success status, or none (``data`` ``None``)."""
    return ResponseSpec(data_container=data, description=description, generate_examples=False)


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details, as every 4xx and 5xx carries them."""

    type: str
    title: str
    status: int
    detail: str
    code: str


_AUTH = (Unauthorized, Forbidden)
#: Request-shape answers of a route that takes a body.
BODY = (ValidationFailed, PayloadTooLarge, UnsupportedMediaType)


def problems(*kinds: type[DomainError]) -> dict[int, ResponseSpec]:
    """``responses=`` for a route: auth's answers, then the given ones, grouped by status."""
    by_status: dict[int, list[type[DomainError]]] = defaultdict(list)
    for kind in (*_AUTH, *kinds):
        if kind not in by_status[kind.status]:
            by_status[kind.status].append(kind)
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description="; ".join(f"`{kind.code}`: {(kind.__doc__ or kind.title).rstrip('.')}" for kind in kinds_),
            generate_examples=False,
        )
        for status, kinds_ in sorted(by_status.items())
    }
