"""The OpenAPI document describes every /api/v1 route of the contract, with its error answers."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

CONTRACT = {
    ("get", "/api/v1/rounds"),
    ("get", "/api/v1/rounds/{round_id}/offerings"),
    ("get", "/api/v1/rounds/{round_id}/selections"),
    ("post", "/api/v1/rounds/{round_id}/selections"),
    ("delete", "/api/v1/rounds/{round_id}/selections/{offering_id}"),
    ("put", "/api/v1/admin/students"),
    ("post", "/api/v1/admin/students/import"),
    ("put", "/api/v1/admin/offerings"),
    ("post", "/api/v1/admin/offerings/import"),
    ("patch", "/api/v1/admin/offerings/{offering_id}"),
    ("post", "/api/v1/admin/rounds"),
    ("get", "/api/v1/admin/rounds"),
    ("get", "/api/v1/admin/rounds/{round_id}"),
    ("post", "/api/v1/admin/rounds/{round_id}/open"),
    ("post", "/api/v1/admin/rounds/{round_id}/pause"),
    ("post", "/api/v1/admin/rounds/{round_id}/close"),
    ("get", "/api/v1/admin/rounds/{round_id}/stats"),
    ("get", "/api/v1/admin/rounds/{round_id}/enrollments"),
    ("post", "/api/v1/admin/rounds/{round_id}/selections"),
    ("delete", "/api/v1/admin/rounds/{round_id}/selections/{student_id}/{offering_id}"),
    ("get", "/api/v1/admin/audit"),
}


async def test_every_contract_route_is_documented_with_its_problems(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented >= CONTRACT, sorted(CONTRACT - documented)
    select = document["paths"]["/api/v1/rounds/{round_id}/selections"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "422", "429", "503"} <= set(select["responses"])
    conflicts = select["responses"]["409"]["description"]
    for code in ("round_not_open", "course_full", "time_conflict", "category_limit", "already_selected"):
        assert code in conflicts
    assert "BearerToken" in document["components"]["securitySchemes"]
