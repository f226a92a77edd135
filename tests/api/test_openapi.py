"""The OpenAPI document describes every /api/v1 route of the contract, with its error answers."""

from __future__ import annotations

from typing import Any

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


def _body_schema(document: dict[str, Any], path: str, method: str, status: str, media: str = "application/json") -> Any:
    return document["paths"][path][method]["responses"][status]["content"][media]["schema"]


async def test_success_answers_are_documented_as_sent(client: AsyncTestClient[Litestar]) -> None:
    """Routes that send pre-encoded bytes, two success statuses, no body or two body types say so."""
    document = (await client.get("/schema/openapi.json")).json()
    selection = {"$ref": "#/components/schemas/Selection"}
    rounds = "/api/v1/rounds/{round_id}"
    offerings = _body_schema(document, rounds + "/offerings", "get", "200")
    assert offerings == {"type": "array", "items": {"$ref": "#/components/schemas/OfferingView"}}
    assert {"remaining", "waitlisted", "eligible"} <= set(document["components"]["schemas"]["OfferingView"]["required"])
    assert _body_schema(document, rounds + "/selections", "post", "201") == selection
    assert _body_schema(document, rounds + "/selections", "post", "202") == selection
    assert "content" not in document["paths"][rounds + "/selections/{offering_id}"]["delete"]["responses"]["204"]
    admin = "/api/v1/admin/rounds/{round_id}"
    assert _body_schema(document, admin + "/selections", "post", "201") == selection
    assert _body_schema(document, admin + "/enrollments", "get", "200") == {"type": "array", "items": selection}
    assert _body_schema(document, admin + "/enrollments", "get", "200", "text/csv") == {"type": "string"}
