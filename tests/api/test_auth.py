"""Auth: which tokens every route family accepts and refuses, the administrators' routes' 403s, auth's place
before request shape, and the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.test_foundation import ACCEPTED_TOKENS, BAD_TOKENS
from tests.catalog_data import ADMIN, Client, assert_problem, offering, put_offerings, student

#: Every administrators' catalog and round route, with a body that would otherwise be accepted.
ROUTES: list[tuple[str, str, Any]] = [
    ("PUT", f"{ADMIN}/students", []),
    ("POST", f"{ADMIN}/students/import", None),
    ("PUT", f"{ADMIN}/offerings", []),
    ("POST", f"{ADMIN}/offerings/import", None),
    ("PATCH", f"{ADMIN}/offerings/o1", {}),
    ("POST", f"{ADMIN}/rounds", {"id": "r1", "name": "r", "offering_ids": []}),
    ("GET", f"{ADMIN}/rounds", None),
    ("GET", f"{ADMIN}/rounds/r1", None),
    ("POST", f"{ADMIN}/rounds/r1/open", None),
    ("POST", f"{ADMIN}/rounds/r1/pause", None),
    ("POST", f"{ADMIN}/rounds/r1/close", None),
]
#: Every student route.
STUDENT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/rounds", None),
    ("GET", "/api/v1/rounds/r1/offerings", None),
    ("GET", "/api/v1/rounds/r1/selections", None),
    ("POST", "/api/v1/rounds/r1/selections", {"offering_id": "o1"}),
    ("DELETE", "/api/v1/rounds/r1/selections/o1", None),
]
#: Every administrators' selection route.
ADMIN_SELECTION_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", f"{ADMIN}/rounds/r1/stats", None),
    ("GET", f"{ADMIN}/rounds/r1/enrollments", None),
    ("POST", f"{ADMIN}/rounds/r1/selections", {"student_id": "s1", "offering_id": "o1"}),
    ("DELETE", f"{ADMIN}/rounds/r1/selections/s1/o1", None),
    ("GET", f"{ADMIN}/audit", None),
]
#: Each route family with the role it is for.
FAMILIES: list[tuple[str, list[tuple[str, str, Any]]]] = [
    ("admin", ROUTES),
    ("student", STUDENT_ROUTES),
    ("admin", ADMIN_SELECTION_ROUTES),
]


async def call(client: Client, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    if url.endswith("/import"):
        return await client.request(method, url, content=b"id\r\n", headers={**headers, "content-type": "text/csv"})
    return await client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize("name", list(BAD_TOKENS))
async def test_bad_tokens_are_401_on_every_route(client: Client, admin: dict[str, str], name: str) -> None:
    await register_s1(client, admin)
    now = int(time.time())
    for role, routes in FAMILIES:
        headers = {"Authorization": f"Bearer {BAD_TOKENS[name](now, role)}"}
        for method, url, body in routes:
            response = await call(client, method, url, body, headers)
            assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("name", list(ACCEPTED_TOKENS))
async def test_tokens_within_the_leeway_are_accepted_on_every_route(
    client: Client, admin: dict[str, str], name: str
) -> None:
    await register_s1(client, admin)
    now = int(time.time())
    for role, routes in FAMILIES:
        headers = {"Authorization": f"Bearer {ACCEPTED_TOKENS[name](now, role)}"}
        # Twice: the second answer comes from the tokens this process remembers as verified.
        for method, url, body in routes + routes:
            response = await call(client, method, url, body, headers)
            assert response.status_code < 500, response.text
            assert response.status_code not in (401, 403), (method, url, response.text)


async def register_s1(client: Client, admin: dict[str, str]) -> None:
    response = await client.put(f"{ADMIN}/students", json=[student("s1")], headers=admin)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("header", [None, "Bearer", "Basic YWRtaW46YWRtaW4=", "token-without-scheme"])
async def test_missing_or_malformed_header_is_401(client: Client, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, url, body in ROUTES:
        assert_problem(await call(client, method, url, body, headers), 401, "unauthorized")


async def test_student_is_403(client: Client, as_student: Callable[[str], dict[str, str]]) -> None:
    for method, url, body in ROUTES:
        assert_problem(await call(client, method, url, body, as_student("s1")), 403, "forbidden")


async def test_auth_comes_before_request_shape(client: Client, as_student: Callable[[str], dict[str, str]]) -> None:
    wrong_type = {"content-type": "text/plain"}
    assert_problem(await client.put(f"{ADMIN}/students", content=b"x", headers=wrong_type), 401, "unauthorized")
    response = await client.put(f"{ADMIN}/students", content=b"x", headers={**as_student("s1"), **wrong_type})
    assert_problem(response, 403, "forbidden")
    response = await client.get(f"{ADMIN}/rounds/bad%20id", headers=as_student("s1"))
    assert_problem(response, 403, "forbidden")
    big = b"[" + b" " * (17 * 1024 * 1024) + b"]"
    response = await client.put(f"{ADMIN}/students", content=big, headers={"content-type": "application/json"})
    assert_problem(response, 401, "unauthorized")


async def test_shape_comes_before_existence(client: Client, admin: dict[str, str]) -> None:
    url = f"{ADMIN}/offerings/nope"
    assert_problem(
        await client.patch(url, content=b"{}", headers={**admin, "content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert_problem(await client.patch(url, json={"capacity": "many"}, headers=admin), 400, "validation_error")
    assert_problem(await client.patch(url, json={}, headers=admin), 404, "not_found")


async def test_admin_token_is_accepted(client: Client, admin: dict[str, str]) -> None:
    await put_offerings(client, admin, offering("o1"))
    for method, url, body in ROUTES:
        response = await call(client, method, url, body, admin)
        assert response.status_code < 500, response.text
        assert response.status_code not in (401, 403), (method, url, response.text)


async def test_openapi_lists_every_admin_route(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    paths = document["paths"]
    for method, url, _ in ROUTES:
        template = url.replace("/o1", "/{offering_id}").replace("/r1", "/{round_id}")
        assert template in paths, template
        operation = paths[template][method.lower()]
        responses = operation["responses"]
        assert {"401", "403"} <= responses.keys(), (method, template)
        assert "application/problem+json" in responses["401"]["content"]
        assert any(
            "BearerToken" in requirement for requirement in operation.get("security", document.get("security", []))
        )
    patch = paths[f"{ADMIN}/offerings/{{offering_id}}"]["patch"]["responses"]
    assert {"400", "404", "409", "413", "415"} <= patch.keys()
    assert "offering_in_use" in patch["409"]["description"]
    assert "capacity_below_enrolled" in patch["409"]["description"]
    assert "invalid_transition" in paths[f"{ADMIN}/rounds/{{round_id}}/open"]["post"]["responses"]["409"]["description"]
    assert "already_exists" in paths[f"{ADMIN}/rounds"]["post"]["responses"]["409"]["description"]
    assert "text/csv" in paths[f"{ADMIN}/students/import"]["post"]["requestBody"]["content"]
    assert "text/csv" in paths[f"{ADMIN}/offerings/import"]["post"]["requestBody"]["content"]
    students = paths[f"{ADMIN}/students"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert students["maxItems"] == 20_000
