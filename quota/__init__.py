"""The admission gate: each round's seats, holdings and waitlists in Redis, decided by one atomic
Lua script per request, and appended to the round's redo log for the group commit.

It knows nothing of HTTP and imports neither ``courses`` nor ``selection``: a student is an
``Applicant``, a request an intent, an answer a ``Decision`` or one of the outcomes.
"""

from quota.gate import SeatGate
from quota.intents import Applicant, DropIntent, IdempotencyClaim, Rate, SelectIntent
from quota.loader import RoundSnapshot
from quota.outcomes import Decision, GateUnavailable, OverRate, Refused, Seen

__all__ = [
    "Applicant",
    "Decision",
    "DropIntent",
    "GateUnavailable",
    "IdempotencyClaim",
    "OverRate",
    "Rate",
    "Refused",
    "RoundSnapshot",
    "SeatGate",
    "Seen",
    "SelectIntent",
]
