"""Turning a rule's refusal into the contract's error, with enough detail for a student to act."""

from __future__ import annotations

from typing import Any

from lib import errors

#: What a select can be refused with, in the contract's order (for the OpenAPI document).
SELECT_REFUSALS: tuple[type[errors.DomainError], ...] = (
    errors.RoundNotOpen,
    errors.WrongMode,
    errors.OfferingNotInRound,
    errors.NotEligible,
    errors.AlreadySelected,
    errors.TimeConflict,
    errors.CategoryLimit,
    errors.TotalLimit,
    errors.CourseFull,
)


def refusal_error(code: str, facts: dict[str, Any], offering_id: str) -> errors.DomainError:
    """The contract error of a gate refusal; ``facts`` is what the script saw."""
    cls = errors.RULE_ERRORS.get(code, errors.DomainError)
    match code:
        case "round_not_open":
            state = facts.get("state")
            detail = (
                f"The round is {state} and takes no selections now"
                if state and state != "open"
                else "The round is outside its opening window"
            )
            return cls(detail, state=state)
        case "wrong_mode":
            return cls(f"This round is a {facts.get('mode')} round; selections and drops are not taken here")
        case "offering_not_in_round":
            return cls(f"Offering {offering_id} is not offered in this round")
        case "not_eligible":
            scope = facts.get("scope", "offering")
            return cls(f"You are not eligible for this {scope}", scope=scope)
        case "already_selected":
            status = facts.get("status", "enrolled")
            return cls(f"You are already {status} in {offering_id} in this round", held=status)
        case "time_conflict":
            other = facts.get("with")
            return cls(
                f"{offering_id} overlaps {other}, which you hold; drop {other} first, or choose an offering at "
                "another time",
                **{"with": other},
            )
        case "category_limit":
            category, limit, held = facts.get("category"), facts.get("limit"), _ids(facts.get("held"))
            return cls(_limit_detail(offering_id, limit, held, category), category=category, limit=limit, held=held)
        case "total_limit":
            limit, held = facts.get("limit"), _ids(facts.get("held"))
            return cls(_limit_detail(offering_id, limit, held, None), limit=limit, held=held)
        case "course_full":
            waitlist = bool(facts.get("waitlist"))
            alternatives = _ids(facts.get("alternatives"))
            hint = "; ask for the waitlist to queue for a seat" if waitlist else ""
            if alternatives:
                hint += f". With a seat left, and open to you now: {', '.join(alternatives)}"
            return cls(
                f"No seat left in {offering_id}{hint}",
                capacity=facts.get("capacity"),
                waitlist=waitlist,
                alternatives=alternatives,
            )
        case "drop_not_allowed":
            return cls("This round does not allow drops")
        case "not_found":
            return cls(f"You hold no selection of {offering_id} in this round")
        case "capacity_below_enrolled":
            return cls(
                f"{facts.get('enrolled')} students are enrolled; capacity cannot go below that",
                enrolled=facts.get("enrolled"),
            )
    return errors.DomainError(f"refused: {code}")


def _ids(value: Any) -> list[str]:
    """A list of offering ids from a script's facts: Lua's JSON writes an empty list as ``{}``."""
    return [str(v) for v in value] if isinstance(value, list) else []


def _limit_detail(offering_id: str, limit: Any, held: list[str], category: str | None) -> str:
    """Which limit, and what the student holds that counts against it, in a sentence."""
    kind = f"{category} " if category else ""
    scope = f"for {category} offerings" if category else "on all offerings"
    if not held:
        return f"The round allows no {kind}offerings ({scope}: {limit}), so {offering_id} cannot be taken"
    return (
        f"The round's limit {scope} is {limit}, and you hold {len(held)}: {', '.join(held)}; "
        f"drop one of them to take {offering_id}"
    )
