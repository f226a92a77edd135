"""A student's opening, as pure logic: ranked wishes, then select, move on, wait, drop.

No I/O and no locust: the locust user asks ``next()`` what to send and ``record()``s the answer,
and the unit tests drive the same object with made-up answers.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import msgspec

#: What a student takes of a category whose limit the round leaves open.
DEFAULT_WANT = 2
#: Spare wishes per category beyond what the student wants, for when favourites are full.
SPARE_WISHES = 3
#: Wishes ranked below this in their category are not worth a waitlist place.
FAVOURITES = 2
#: Refusals that end the journey: nothing can be selected in this round.
STOP = frozenset(("round_not_open", "wrong_mode"))


class Seen(msgspec.Struct, frozen=True):
    """An offering as the browse answer shows it (decoded from it directly: a student's browse
    page lists every offering, and building a second object per offering cost the load generator
    a tenth of its time at the opening)."""

    offering_id: str = msgspec.field(name="id")
    category: str
    eligible: bool


class Wish(NamedTuple):
    offering_id: str
    category: str
    #: 0 for the favourite of its category.
    rank: int


class Select(NamedTuple):
    offering_id: str
    waitlist: bool


class Drop(NamedTuple):
    offering_id: str


Action = Select | Drop


def zipf_demand(offering_ids: Sequence[str], seed: int, exponent: float = 1.1) -> dict[str, float]:
    """A popularity nobody chose: the offerings in a seeded random order, the k-th wanted 1/k^s."""
    order = sorted(offering_ids)
    random.Random(f"{seed}:popularity").shuffle(order)
    return {offering: 1.0 / (rank**exponent) for rank, offering in enumerate(order, start=1)}


def wants(limits: Mapping[str, int], categories: Sequence[str]) -> dict[str, int]:
    """How many of each category a student tries to hold: as many as the round allows."""
    return {category: limits.get(category, DEFAULT_WANT) for category in categories}


def draw_wishes(
    seen: Sequence[Seen], demand: Mapping[str, float], limits: Mapping[str, int], rng: random.Random
) -> list[Wish]:
    """Ranked wishes per category, popular offerings likelier, categories interleaved by rank.

    Weighted sampling without replacement (Efraimidis and Spirakis): each eligible offering gets the
    key ``u ** (1 / weight)`` and the largest keys win, so the ranking follows popularity.
    """
    by_category: dict[str, list[tuple[float, str]]] = {}
    for offering in seen:
        if not offering.eligible:
            continue
        weight = max(demand.get(offering.offering_id, 0.0), 1e-6)
        by_category.setdefault(offering.category, []).append((rng.random() ** (1.0 / weight), offering.offering_id))
    categories = sorted(by_category)
    wanted = wants(limits, categories)
    ranked: dict[str, list[str]] = {}
    for category in categories:
        keyed = sorted(by_category[category], reverse=True)
        ranked[category] = [offering for _, offering in keyed[: wanted[category] + SPARE_WISHES]]
    order = list(categories)
    rng.shuffle(order)
    wishes: list[Wish] = []
    for rank in range(max((len(r) for r in ranked.values()), default=0)):
        for category in order:
            if rank < len(ranked[category]):
                wishes.append(Wish(ranked[category][rank], category, rank))
    return wishes


class Journey:
    """One student's way through the opening; ``next()`` is None once they are done."""

    def __init__(
        self,
        wishes: Sequence[Wish],
        limits: Mapping[str, int],
        rng: random.Random,
        *,
        waitlist_share: float,
        drop_share: float,
    ) -> None:
        self._queue: deque[Wish] = deque(wishes)
        self._wish = {wish.offering_id: wish for wish in wishes}
        self._want = wants(limits, sorted({wish.category for wish in wishes}))
        self._rng = rng
        self._waits_for_favourites = rng.random() < waitlist_share
        self._will_drop = rng.random() < drop_share
        self._dropped = False
        self._urgent: deque[Action] = deque()
        self._closed: set[str] = set()
        self._passed_over: list[Wish] = []
        self.enrolled: dict[str, str] = {}
        self.waiting: set[str] = set()
        self.done = False

    def _held(self, category: str) -> int:
        return sum(1 for held in self.enrolled.values() if held == category)

    def next(self) -> Action | None:
        if self.done:
            return None
        if self._urgent:
            return self._urgent.popleft()
        while self._queue:
            wish = self._queue.popleft()
            if wish.category in self._closed:
                continue
            if self._held(wish.category) >= self._want[wish.category]:
                self._passed_over.append(wish)
                continue
            return Select(wish.offering_id, False)
        if self._will_drop and not self._dropped and self.enrolled:
            self._dropped = True
            return Drop(self._rng.choice(sorted(self.enrolled)))
        self.done = True
        return None

    def record(self, action: Action, status: int, code: str | None) -> None:
        """The answer to ``action``: its HTTP status (0 for a transport error) and problem code."""
        if isinstance(action, Drop):
            if status == 204:
                self._after_drop(action.offering_id)
            return
        wish = self._wish.get(action.offering_id)
        if status == 201 and wish is not None:
            self.enrolled[action.offering_id] = wish.category
        elif status == 202:
            self.waiting.add(action.offering_id)
        elif code in STOP:
            self.done = True
        elif code == "total_limit":
            # Full: this wish and the rest only matter again if the student drops something.
            if wish is not None:
                self._passed_over.append(wish)
            self._passed_over.extend(self._queue)
            self._queue.clear()
        elif code == "category_limit" and wish is not None:
            self._closed.add(wish.category)
        elif (
            code == "course_full"
            and not action.waitlist
            and wish is not None
            and wish.rank < FAVOURITES
            and self._waits_for_favourites
        ):
            self._urgent.append(Select(action.offering_id, True))

    def _after_drop(self, offering_id: str) -> None:
        category = self.enrolled.pop(offering_id, None)
        if category is None:
            return
        self._closed.discard(category)
        others = [wish for wish in self._passed_over if wish.category == category]
        self._passed_over = [wish for wish in self._passed_over if wish.category != category]
        if others:
            self._queue.extendleft(reversed(others))
        else:
            # Nothing else was wanted there: the student changes their mind back.
            self._urgent.append(Select(offering_id, False))
