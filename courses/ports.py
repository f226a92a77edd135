"""What the catalog needs from the admission gate, as a protocol: the catalog tells, the gate follows.

The catalog's rules are about keeping the gate's copy true (its capacity, category, schedule and
eligibility per round, and each round's state). ``selection.gate_sync.SeatGateSync`` implements
this; the catalog never imports it.
"""

from __future__ import annotations

from typing import Protocol


class GateSync(Protocol):
    async def round_changed(self, round_id: str) -> None:
        """A round was created or changed state in PostgreSQL."""

    async def round_reloaded(self, round_id: str) -> None:
        """A round's selections were written in PostgreSQL outside the gate (a draw, a carry-over):
        the gate's state for it is replaced by PostgreSQL's before it decides again."""

    async def offering_changed(self, offering_id: str) -> None:
        """An offering's schedule, category or eligibility changed in PostgreSQL."""

    async def change_capacity(self, offering_id: str, capacity: int, actor: str) -> None:
        """Change an offering's capacity in every round: refused below the seats taken in any
        round; a raise promotes waiting students at once (durably, before this returns)."""
