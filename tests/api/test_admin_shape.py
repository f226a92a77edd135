"""Request shape on the administrators' JSON routes: media types and the 16 MiB body limit."""

from __future__ import annotations

import asyncpg

from tests.catalog_data import ADMIN, Client, assert_problem, offering, put_offerings

STUDENTS = f"{ADMIN}/students"
OFFERINGS = f"{ADMIN}/offerings"


async def test_json_routes_want_json(client: Client, admin: dict[str, str]) -> None:
    await put_offerings(client, admin, offering("o1"))
    routes = [
        ("PUT", STUDENTS, b"[]"),
        ("PUT", OFFERINGS, b"[]"),
        ("PATCH", f"{OFFERINGS}/o1", b"{}"),
        ("POST", f"{ADMIN}/rounds", b"{}"),
    ]
    for method, url, body in routes:
        for media in (
            "text/csv",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin-1",
        ):
            response = await client.request(method, url, content=body, headers={**admin, "content-type": media})
            assert_problem(response, 415, "unsupported_media_type")
    response = await client.request(
        "PUT", STUDENTS, content=b"[]", headers={**admin, "content-type": "application/json; charset=utf-8"}
    )
    assert response.json() == {"upserted": 0}
    no_type = await client.request("PUT", STUDENTS, content=b"[]", headers=admin)
    assert no_type.json() == {"upserted": 0}


async def test_admin_body_limit(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    pad = "x" * (16 * 1024 * 1024)
    big = ('[{"id": "s1", "name": "' + pad + '"}]').encode()
    headers = {**admin, "content-type": "application/json"}
    assert_problem(await client.put(STUDENTS, content=big, headers=headers), 413, "payload_too_large")
    csv_headers = {**admin, "content-type": "text/csv"}
    big_csv = b"id,name,cohort,degree,campus,college\r\n" + b"s1," + pad.encode() + b",2024,master,n,c\r\n"
    assert_problem(
        await client.post(f"{STUDENTS}/import", content=big_csv, headers=csv_headers), 413, "payload_too_large"
    )
    assert await db.fetchval("SELECT count(*) FROM students") == 0
