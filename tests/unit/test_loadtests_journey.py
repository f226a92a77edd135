"""The load test's student journey, as pure logic (no locust, no servers)."""

from __future__ import annotations

import random

from loadtests.journey import Drop, Journey, Seen, Select, Wish, draw_wishes, zipf_demand

LIMITS = {"pe": 1, "arts": 2, "total": 2}


def _journey(wishes: list[Wish], *, waitlist_share: float = 0.0, drop_share: float = 0.0) -> Journey:
    return Journey(wishes, LIMITS, random.Random(1), waitlist_share=waitlist_share, drop_share=drop_share)


def test_wishes_are_eligible_ranked_per_category_and_follow_popularity() -> None:
    seen = [Seen(f"pe-{i}", "pe", True) for i in range(10)] + [Seen("pe-closed", "pe", False)]
    demand = {f"pe-{i}": (1000.0 if i == 0 else 1.0) for i in range(10)}
    firsts = [draw_wishes(seen, demand, LIMITS, random.Random(n))[0].offering_id for n in range(200)]
    wishes = draw_wishes(seen, demand, LIMITS, random.Random(7))
    assert firsts.count("pe-0") > 150
    assert all(w.offering_id != "pe-closed" for w in wishes)
    assert [w.rank for w in wishes] == list(range(len(wishes)))
    assert len(wishes) == LIMITS["pe"] + 3


def test_zipf_demand_is_skewed_and_the_same_for_the_same_seed() -> None:
    ids = [f"o{i}" for i in range(50)]
    demand = zipf_demand(ids, seed=3)
    assert demand == zipf_demand(list(reversed(ids)), seed=3)
    assert sorted(demand.values())[-1] > 20 * sorted(demand.values())[0]


def test_moves_on_after_refusals_and_stops_wanting_a_full_category() -> None:
    wishes = [Wish("pe-a", "pe", 0), Wish("pe-b", "pe", 1), Wish("pe-c", "pe", 2), Wish("arts-a", "arts", 0)]
    journey = _journey(wishes)
    assert journey.next() == Select("pe-a", False)
    journey.record(Select("pe-a", False), 409, "time_conflict")
    assert journey.next() == Select("pe-b", False)
    journey.record(Select("pe-b", False), 201, None)
    # pe-c is passed over: one pe is all the round allows.
    assert journey.next() == Select("arts-a", False)
    journey.record(Select("arts-a", False), 409, "course_full")
    assert journey.next() is None
    assert journey.enrolled == {"pe-b": "pe"}


def test_waits_for_a_full_favourite_when_minded_to() -> None:
    journey = _journey([Wish("pe-a", "pe", 0)], waitlist_share=1.0)
    journey.record(journey.next() or Select("", False), 409, "course_full")
    assert journey.next() == Select("pe-a", True)
    journey.record(Select("pe-a", True), 202, None)
    assert journey.waiting == {"pe-a"}
    assert journey.next() is None


def test_total_limit_ends_the_selecting_and_a_drop_reopens_the_category() -> None:
    wishes = [Wish("arts-a", "arts", 0), Wish("arts-b", "arts", 1), Wish("arts-c", "arts", 2)]
    journey = _journey(wishes, drop_share=1.0)
    journey.record(journey.next() or Select("", False), 201, None)
    journey.record(journey.next() or Select("", False), 409, "total_limit")
    drop = journey.next()
    assert drop == Drop("arts-a")
    journey.record(drop, 204, None)
    assert journey.next() == Select("arts-b", False)


def test_round_not_open_ends_the_journey() -> None:
    journey = _journey([Wish("pe-a", "pe", 0), Wish("arts-a", "arts", 0)])
    journey.record(journey.next() or Select("", False), 409, "round_not_open")
    assert journey.next() is None
