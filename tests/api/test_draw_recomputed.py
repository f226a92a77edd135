"""On random lottery rounds: the service's draw, courses/draw.py and docs/redraw.py agree on the
exported draw input, and `selection draw --verify` catches placements tampered with."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from courses.draw import draw
from courses.draw_input import DrawInput
from lib.settings import Settings
from tests.builders import announce
from tests.catalog_data import ADMIN, Client, create_round, put_offerings, student
from tests.conftest import bearer

REPO = Path(__file__).resolve().parents[2]
DAYS = ["mon", "tue", "wed"]


def random_catalog(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    offerings = []
    for i in range(rng.randint(3, 10)):
        schedule = []
        for _ in range(rng.randint(0, 2)):
            start = rng.randint(8, 12)
            entry: dict[str, Any] = {"start": f"{start:02d}:00", "end": f"{start + rng.randint(1, 2):02d}:00"}
            if rng.random() < 0.3:
                entry["date"] = f"2026-12-0{rng.randint(7, 9)}"  # a Monday to a Wednesday
            else:
                entry["day"] = rng.choice(DAYS)
            schedule.append(entry)
        degrees = rng.choice([[], [], ["master"], ["phd"]])
        offerings.append(
            {
                "id": f"o{i}",
                "title": f"Offering {i}",
                "category": rng.choice(["pe", "arts", "labor"]),
                "kind": "course",
                "capacity": rng.randint(0, 4),
                "schedule": schedule,
                "eligibility": {"cohorts": [], "degrees": degrees, "campuses": []},
            }
        )
    students = [
        student(f"s{i}", degree=rng.choice(["master", "phd"]), cohort=rng.choice([2023, 2024]))
        for i in range(rng.randint(5, 25))
    ]
    limits = {k: rng.randint(1, 3) for k in ("pe", "arts", "labor", "total") if rng.random() < 0.6}
    return offerings, students, limits


async def drawn_round(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, rng: random.Random, seed: str
) -> dict[str, Any]:
    offerings, students, limits = random_catalog(rng)
    await put_offerings(client, admin, *offerings)
    assert (await client.put(f"{ADMIN}/students", json=students, headers=admin)).status_code == 200
    ids = [o["id"] for o in offerings]
    eligibility = {"cohorts": [2024]} if rng.random() < 0.3 else {}
    await create_round(client, admin, "lot", ids, mode="lottery", limits=limits, eligibility=eligibility)
    assert (await client.post(f"{ADMIN}/rounds/lot/open", headers=admin)).status_code == 200
    for s in students:
        eligible = [
            o["id"] for o in offerings if not o["eligibility"]["degrees"] or s["degree"] in o["eligibility"]["degrees"]
        ]
        wishes = rng.sample(eligible, rng.randint(0, len(eligible)))
        response = await client.put("/api/v1/rounds/lot/wishes", json={"offering_ids": wishes}, headers=bearer(s["id"]))
        assert response.status_code in (200, 409), response.text  # 409: not eligible for the round
    assert (await client.post(f"{ADMIN}/rounds/lot/close", headers=admin)).status_code == 200
    await announce(client, "lot")
    # Seats held before the draw, forced past every rule (and the offering taken off the round's
    # wish lists' reach by a later catalog change: a wish for it is skipped, not an error).
    for s in rng.sample(students, min(3, len(students))):
        forced = await client.post(
            f"{ADMIN}/rounds/lot/selections",
            json={"student_id": s["id"], "offering_id": rng.choice(ids), "override": True},
            headers=admin,
        )
        assert forced.status_code in (201, 409), forced.text
    response = await client.post(f"{ADMIN}/rounds/lot/draw", json={"seed": seed}, headers=admin)
    assert response.status_code == 200, response.text
    exported: dict[str, Any] = (await client.get(f"{ADMIN}/rounds/lot/draw-input", headers=admin)).json()
    return exported


def redraw(path: Path, *seed: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "docs" / "redraw.py"), str(path), *seed],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "SELECTION_DATABASE_URL": settings.database_url or "",
        "SELECTION_REDIS_URL": settings.redis_url or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "selection", "draw", "--verify", "--round", "lot"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("instance", range(6))
async def test_service_pure_draw_and_redraw_agree_and_verify_catches_tampering(
    client: Client,
    admin: dict[str, str],
    db: asyncpg.Connection,
    settings: Settings,
    tmp_path: Path,
    instance: int,
) -> None:
    rng = random.Random(instance)
    seed = f"seed-{instance}"
    exported = await drawn_round(client, admin, db, rng, seed)
    document = msgspec.convert(exported, DrawInput)
    assert document.seed == seed
    # (a) the service's placements are the pure function's and the outsider's script's.
    assert document.placements == draw(document, seed)
    stored = await db.fetch("SELECT student_id, offering_id FROM draw_placements ORDER BY ordinal")
    assert [(p.student_id, p.offering_id) for p in document.placements or []] == [tuple(r) for r in stored]
    path = tmp_path / "input.json"
    path.write_text(json.dumps(exported))
    honest = await asyncio.to_thread(redraw, path)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    before = {k: v for k, v in exported.items() if k not in ("seed", "placements")}
    path.write_text(json.dumps(before | {"seed": None, "placements": None}))
    preview = await asyncio.to_thread(redraw, path, seed)
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout) == exported["placements"]
    # (b) verify: honest, then after a later admin drop (still honest), then tampered.
    assert (await asyncio.to_thread(verify, settings)).returncode == 0
    if document.placements:
        first = document.placements[0]
        dropped = await client.delete(
            f"{ADMIN}/rounds/lot/selections/{first.student_id}/{first.offering_id}", headers=admin
        )
        assert dropped.status_code == 204
        after_drop = await asyncio.to_thread(verify, settings)
        assert after_drop.returncode == 0, after_drop.stdout + after_drop.stderr
        await db.execute("DELETE FROM draw_placements WHERE round_id = 'lot' AND ordinal = 1")
    else:
        await db.execute(
            "INSERT INTO draw_placements (round_id, ordinal, student_id, offering_id, pass, rank)"
            " VALUES ('lot', 1, 's0', 'o0', 1, 1)"
        )
    tampered = await asyncio.to_thread(verify, settings)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "DIFFERENT" in tampered.stdout
    tampered_file = exported | {"placements": exported["placements"][1:] or [{"student_id": "s0"}]}
    path.write_text(json.dumps(tampered_file))
    assert (await asyncio.to_thread(redraw, path)).returncode == 1


async def test_verify_refuses_a_round_not_drawn(client: Client, admin: dict[str, str], settings: Settings) -> None:
    await put_offerings(client, admin, {"id": "o0", "title": "T", "category": "pe", "kind": "course", "capacity": 1})
    await create_round(client, admin, "lot", ["o0"], mode="lottery")
    outcome = await asyncio.to_thread(verify, settings)
    assert outcome.returncode == 1
    assert "not been drawn" in outcome.stderr
