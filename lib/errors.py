"""Domain errors, each with the contract's ``code``, ``status`` and a title; no HTTP framework here.

The web shell renders them as RFC 9457 problem details (``selection/web/problems.py``); the
enrollment path also records a refusal's document as the answer to an Idempotency-Key.
"""

from __future__ import annotations

from typing import Any, ClassVar

#: Where a problem's ``type`` URI points: the base, then the code.
TYPE_BASE = "https://selection.example/problems/"


class DomainError(Exception):
    """A request the service refuses; ``code`` and ``status`` are the contract's (docs/API.md)."""

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
CourseFull = _error(
    "CourseFull",
    "course_full",
    409,
    "Course full",
    "No seat left and no waitlist asked for; `alternatives` names up to 3 offerings open to the student now.",
)
AlreadySelected = _error(
    "AlreadySelected", "already_selected", 409, "Already selected", "The student holds or waits for it already."
)
CategoryLimit = _error(
    "CategoryLimit",
    "category_limit",
    409,
    "Category limit",
    "The category's limit is reached; `category`, `limit` and `held` (the offerings counted) say which.",
)
TotalLimit = _error(
    "TotalLimit", "total_limit", 409, "Total limit", "The round's total limit is reached; `limit` and `held` say which."
)
TimeConflict = _error(
    "TimeConflict", "time_conflict", 409, "Time conflict", "It overlaps a held offering, named in `with`."
)
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
RoundNotDraft = _error(
    "RoundNotDraft",
    "round_not_draft",
    409,
    "Round not a draft",
    "Once a round has opened only some of its fields may change; `fields` names those refused, `editable` those"
    " that may.",
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


def problem_document(exc: DomainError) -> dict[str, Any]:
    """The problem document of a domain error, as a response body carries it."""
    return {
        "type": TYPE_BASE + exc.code,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        "code": exc.code,
        **exc.extra,
    }
