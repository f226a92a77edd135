#!/usr/bin/env python3
"""Recompute a lottery round's draw from its draw input, with nothing but Python 3.9+.

    curl -H "Authorization: Bearer $TOKEN" \
         https://.../api/v1/admin/rounds/ROUND/draw-input > input.json
    python3 redraw.py input.json          # after the draw: exit 0 if the placements match, else 1
    python3 redraw.py input.json SEED     # before the draw: print what the draw would give

The draw (the document's "definition" says the same in words): order the students with a wish
list by sha256(seed + ":" + student_id), ascending; run passes, reversing the order on every
other pass; in each pass give each student their best remaining wish that fits every rule;
stop after a pass that gives nobody anything.
"""

import datetime
import hashlib
import json
import sys

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def weekday(entry):
    if entry.get("day"):
        return entry["day"]
    return DAYS[datetime.date.fromisoformat(entry["date"]).weekday()]


def entries_conflict(a, b):
    if not (a["start"] < b["end"] and b["start"] < a["end"]):
        return False
    if a.get("date") and b.get("date"):
        return a["date"] == b["date"]
    return weekday(a) == weekday(b)


def admits(eligibility, student):
    return (
        (not eligibility.get("cohorts") or student["cohort"] in eligibility["cohorts"])
        and (not eligibility.get("degrees") or student["degree"] in eligibility["degrees"])
        and (not eligibility.get("campuses") or student["campus"] in eligibility["campuses"])
    )


def redraw(document, seed):
    offerings = {o["id"]: o for o in document["offerings"]}
    limits = document["round"]["limits"]
    seats_taken = dict.fromkeys(offerings, 0)
    holds = {}  # student id -> offering ids held (before the draw, then given by it)
    for seat in document["held_seats"]:
        if seat["offering_id"] in offerings:
            seats_taken[seat["offering_id"]] += 1
            holds.setdefault(seat["student_id"], []).append(seat["offering_id"])

    def fits(student, offering):
        held = [offerings[h] for h in holds.get(student["id"], [])]
        if offering["id"] in holds.get(student["id"], []):
            return False
        if not admits(offering["eligibility"], student):
            return False
        if seats_taken[offering["id"]] >= offering["capacity"]:
            return False
        category = offering["category"]
        if category in limits and sum(1 for h in held if h["category"] == category) >= limits[category]:
            return False
        if "total" in limits and len(held) >= limits["total"]:
            return False
        for other in held:
            for a in other["schedule"]:
                for b in offering["schedule"]:
                    if entries_conflict(a, b):
                        return False
        return True

    students = [s for s in document["students"] if admits(document["round"]["eligibility"], s)]
    students.sort(key=lambda s: hashlib.sha256((seed + ":" + s["id"]).encode("utf-8")).hexdigest())
    placements = []
    pass_number = 0
    while True:
        pass_number += 1
        order = students if pass_number % 2 == 1 else list(reversed(students))
        placed = 0
        for student in order:
            for rank, offering_id in enumerate(student["offering_ids"], start=1):
                offering = offerings.get(offering_id)
                if offering is not None and fits(student, offering):
                    holds.setdefault(student["id"], []).append(offering_id)
                    seats_taken[offering_id] += 1
                    placements.append(
                        {"student_id": student["id"], "offering_id": offering_id, "pass": pass_number, "rank": rank}
                    )
                    placed += 1
                    break
        if placed == 0:
            return placements


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as file:
        document = json.load(file)
    seed = argv[2] if len(argv) == 3 else document.get("seed")
    if seed is None:
        print("the round has not been drawn: give the seed as the second argument", file=sys.stderr)
        return 2
    placements = redraw(document, seed)
    stored = document.get("placements")
    if stored is None:
        json.dump(placements, sys.stdout, indent=1)
        print()
        return 0
    if placements == stored:
        print(f"OK: {len(placements)} placement(s), the same as the document's, in the same order")
        return 0
    print(f"DIFFERENT: recomputed {len(placements)} placement(s), the document has {len(stored)}")
    for index in range(max(len(placements), len(stored))):
        recomputed = placements[index] if index < len(placements) else None
        kept = stored[index] if index < len(stored) else None
        if recomputed != kept:
            print(f"  first difference, placement {index + 1}: recomputed {recomputed}, document {kept}")
            break
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
