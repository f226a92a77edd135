"""An offering's Chinese title (``title_zh``): written by CSV, PUT and PATCH, read back, searched."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from tests.builders import Client, add_round, add_students, announce

ADMIN = "/api/v1/admin"
Headers = Callable[[str], dict[str, str]]


async def test_a_chinese_title_is_imported_patched_and_found_by_a_chinese_search(
    client: Client, admin: dict[str, str], as_student: Headers, db: asyncpg.Connection
) -> None:
    text = (
        "id,title,title_zh,category,kind,capacity\r\n"
        "yoga,Yoga,瑜伽,pe,course,30\r\n"
        "swim,Swimming (Beginners),游泳（初级）,pe,course,20\r\n"
        "clay,Ceramics,,arts,course,10\r\n"
    )
    response = await client.post(
        f"{ADMIN}/offerings/import", content=text.encode(), headers={**admin, "content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    stored = {r["id"]: r["title_zh"] for r in await db.fetch("SELECT id, title_zh FROM offerings")}
    assert stored == {"yoga": "瑜伽", "swim": "游泳（初级）", "clay": None}

    patched = await client.patch(f"{ADMIN}/offerings/clay", json={"title_zh": "陶艺"}, headers=admin)
    assert patched.status_code == 200, patched.text
    assert patched.json()["title_zh"] == "陶艺"
    assert (await db.fetchval("SELECT title_zh FROM offerings WHERE id = 'clay'")) == "陶艺"
    cleared = await client.patch(f"{ADMIN}/offerings/yoga", json={"title_zh": None}, headers=admin)
    assert "title_zh" not in cleared.json()
    put = await client.put(
        f"{ADMIN}/offerings",
        json=[{"id": "yoga", "title": "Yoga", "title_zh": "瑜伽", "category": "pe", "kind": "course", "capacity": 30}],
        headers=admin,
    )
    assert put.status_code == 200, put.text

    await add_students(db, "s1")
    await add_round(db, "r1", ["yoga", "swim", "clay"])
    await announce(client, "r1")
    offerings = "/api/v1/rounds/r1/offerings"
    listed = (await client.get(offerings, headers=as_student("s1"))).json()
    assert {o["id"]: o.get("title_zh") for o in listed} == {"yoga": "瑜伽", "swim": "游泳（初级）", "clay": "陶艺"}
    found = await client.get(offerings, params={"q": "游泳"}, headers=as_student("s1"))
    assert [o["id"] for o in found.json()] == ["swim"]
    # The English title is still searched, case-insensitively.
    found = await client.get(offerings, params={"q": "CERAM"}, headers=as_student("s1"))
    assert [o["id"] for o in found.json()] == ["clay"]
