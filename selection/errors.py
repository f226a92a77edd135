"""Domain errors, each with the contract's ``code``, and their RFC 9457 rendering."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import asyncpg
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin

log = logging.getLogger("selection.errors")

_TYPE_BASE = "https://selection.example/problems/"

#: Failures to reach PostgreSQL or Redis (as opposed to a query or command they refused).
UNREACHABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    TimeoutError,
)


class DomainError(Exception):
    """A request the service refuses; ``code`` and ``status`` come from API.md."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extra = extra


def _error(name: str, code: str, status: int, title: str, doc: str) -> type[DomainError]:
    return type(name, (DomainError,), {"code": code, "status": status, "title": title, "__doc__": doc})


ValidationFailed = _error("ValidationFailed", "validation_error", 400, "Invalid request", "The request is malformed.")
Unauthorized = _error("Unauthorized", "unauthorized", 401, "Unauthorized", "No valid bearer token.")
Forbidden = _error("Forbidden", "forbidden", 403, "Forbidden", "The token's role or subject may not do this.")
NotFound = _error("NotFound", "not_found", 404, "Not found", "No such path, round, offering or selection.")
PayloadTooLarge = _error("PayloadTooLarge", "payload_too_large", 413, "Payload too large", "Body over the limit.")
UnsupportedMediaType = _error(
    "UnsupportedMediaType", "unsupported_media_type", 415, "Unsupported media type", "Wrong Content-Type."
)
RoundNotOpen = _error("RoundNotOpen", "round_not_open", 409, "Round not open", "The round takes no selections now.")
NotEligible = _error("NotEligible", "not_eligible", 409, "Not eligible", "The student may not take this.")
OfferingNotInRound = _error(
    "OfferingNotInRound", "offering_not_in_round", 409, "Offering not in round", "The round does not offer it."
)
CourseFull = _error("CourseFull", "course_full", 409, "Course full", "No seat left and no waitlist asked for.")
AlreadySelected = _error(
    "AlreadySelected", "already_selected", 409, "Already selected", "The student holds or waits for it already."
)
CategoryLimit = _error("CategoryLimit", "category_limit", 409, "Category limit", "The category's limit is reached.")
TotalLimit = _error("TotalLimit", "total_limit", 409, "Total limit", "The round's total limit is reached.")
TimeConflict = _error("TimeConflict", "time_conflict", 409, "Time conflict", "It overlaps a held offering.")
DropNotAllowed = _error("DropNotAllowed", "drop_not_allowed", 409, "Drop not allowed", "The round forbids drops.")
WrongMode = _error("WrongMode", "wrong_mode", 409, "Wrong mode", "The call does not fit the round's mode.")
CapacityBelowEnrolled = _error(
    "CapacityBelowEnrolled",
    "capacity_below_enrolled",
    409,
    "Capacity below enrolled",
    "A round already holds more students than the new capacity.",
)
InvalidTransition = _error(
    "InvalidTransition", "invalid_transition", 409, "Invalid transition", "The state machine forbids it."
)
AlreadyExists = _error("AlreadyExists", "already_exists", 409, "Already exists", "The id is taken.")
OfferingInUse = _error("OfferingInUse", "offering_in_use", 409, "Offering in use", "It is in an open or paused round.")
IdempotencyConflict = _error(
    "IdempotencyConflict",
    "idempotency_conflict",
    422,
    "Idempotency conflict",
    "The Idempotency-Key was used with another request.",
)
RateLimited = _error("RateLimited", "rate_limited", 429, "Too many requests", "Over the per-student rate.")
Unavailable = _error(
    "Unavailable", "unavailable", 503, "Service unavailable", "A store is unreachable or loading; not acknowledged."
)

#: Every code a selection rule can answer with, for the Lua scripts' replies.
RULE_ERRORS: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        RoundNotOpen,
        NotEligible,
        OfferingNotInRound,
        CourseFull,
        AlreadySelected,
        CategoryLimit,
        TotalLimit,
        TimeConflict,
        DropNotAllowed,
        WrongMode,
        NotFound,
        CapacityBelowEnrolled,
        Unavailable,
    )
}

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
        type_=_TYPE_BASE + code,
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


def problem_document(exc: DomainError) -> dict[str, Any]:
    """The problem document of a domain error, as a response body would carry it."""
    return {
        "type": _TYPE_BASE + exc.code,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        "code": exc.code,
        **exc.extra,
    }
