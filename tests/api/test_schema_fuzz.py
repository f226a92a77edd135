"""Requests generated from the OpenAPI document, for every operation, against the real app and stores.

Whatever a client sends, the service answers as its document says: no fault (no 5xx but a 503
``unavailable``), a documented status with a documented content type and a body of the documented
schema, and every 4xx/5xx as problem details with the contract's members. A catalog is seeded first
(students, offerings, rounds in every state, a full offering with a waitlist), and generated ids are
often swapped for the seeded ones, so that many requests get past the 404s into the rules.

``SELECTION_TEST_FUZZ_EXAMPLES`` sets the examples per operation (``make fuzz`` raises it).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lib.settings import Settings
from selection.web.app import create_app
from tests.catalog_data import ADMIN, offering, student
from tests.conftest import JWT_SECRET, bearer

EXAMPLES = int(os.environ.get("SELECTION_TEST_FUZZ_EXAMPLES", "4"))

OPEN, DRAFT, PAUSED, CLOSED = "fz-open", "fz-draft", "fz-paused", "fz-closed"
ROUNDS = (OPEN, DRAFT, PAUSED, CLOSED)
STUDENTS = ("fz-ana", "fz-ben", "fz-cai", "fz-dee")
OFFERINGS = ("fz-swim", "fz-yoga", "fz-clay", "fz-farm", "fz-solo")
#: Ids a generated request may be given instead of its own, per parameter or body member name.
KNOWN: dict[str, tuple[str, ...]] = {
    "round_id": ROUNDS,
    "offering_id": OFFERINGS,
    "student_id": STUDENTS,
}


def _document() -> dict[str, Any]:
    """The document the app serves (made without starting it; a test below holds the two equal)."""
    return create_app(Settings(jwt_secret=JWT_SECRET)).openapi_schema.to_schema()


def _without_response_examples(document: dict[str, Any]) -> dict[str, Any]:
    """The document less its answers' examples: schemathesis draws path parameters from them
    (an explicit phase), which cannot be combined with this test's own strategies (``given``);
    the ids it draws from come from KNOWN instead."""
    fuzzed = copy.deepcopy(document)
    for item in fuzzed["paths"].values():
        for operation in item.values():
            for answer in (operation.get("responses") or {}).values():
                for media in (answer.get("content") or {}).values():
                    media.pop("examples", None)
                    media.pop("example", None)
    return fuzzed


SCHEMA = schemathesis.openapi.from_dict(_without_response_examples(_document()))


def _known_or(value: Any, name: str) -> st.SearchStrategy[Any]:
    """One of the seeded ids (where shrinking goes), or the generated value."""
    if name not in KNOWN:
        return st.just(value)
    return st.sampled_from((*KNOWN[name], value))


def _with_known_ids(values: dict[str, Any] | None) -> st.SearchStrategy[dict[str, Any] | None]:
    if not values:
        return st.just(values)
    return st.fixed_dictionaries({name: _known_or(value, name) for name, value in values.items()})


@SCHEMA.hook
def flatmap_path_parameters(ctx: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
    return _with_known_ids(path_parameters)


@SCHEMA.hook
def flatmap_query(ctx: schemathesis.HookContext, query: dict[str, Any]) -> Any:
    return _with_known_ids(query)


@SCHEMA.hook
def flatmap_body(ctx: schemathesis.HookContext, body: Any) -> Any:
    if isinstance(body, dict):
        return _with_known_ids(body)
    return st.just(body)


# --- the service, seeded ---


def _ok(response: Any, *statuses: int) -> None:
    assert response.status_code in statuses, f"{response.request.method} {response.request.url}: {response.text}"


def _seed(client: TestClient[Litestar]) -> None:
    admin = bearer("admin-1", "admin")
    students = [
        student("fz-ana", cohort=2024, degree="master", campus="north"),
        student("fz-ben", cohort=2024, degree="phd", campus="north"),
        student("fz-cai", cohort=2023, degree="master", campus="south"),
        student("fz-dee", cohort=2022, degree="phd", campus="south"),
    ]
    _ok(client.put(f"{ADMIN}/students", json=students, headers=admin), 200)
    offerings = [
        offering("fz-swim", capacity=1, schedule=[{"day": "mon", "start": "10:00", "end": "11:30"}]),
        offering("fz-yoga", capacity=2, schedule=[{"day": "mon", "start": "11:00", "end": "12:00"}]),
        offering(
            "fz-clay",
            category="arts",
            capacity=2,
            schedule=[{"date": "2026-11-02", "start": "10:30", "end": "12:00"}],
            eligibility={"cohorts": [], "degrees": ["master"], "campuses": []},
        ),
        offering("fz-farm", category="labor", kind="activity", capacity=3),
        offering("fz-solo", category="arts", capacity=1),
    ]
    _ok(client.put(f"{ADMIN}/offerings", json=offerings, headers=admin), 200)
    in_round = ["fz-swim", "fz-yoga", "fz-clay", "fz-farm"]
    for round_id, moves in ((OPEN, ["open"]), (DRAFT, []), (PAUSED, ["open", "pause"]), (CLOSED, ["open", "close"])):
        body = {
            "id": round_id,
            "name": f"Round {round_id}",
            "offering_ids": in_round,
            "waitlist": round_id != PAUSED,
            "allow_drop": round_id != CLOSED,
            "limits": {"pe": 1, "total": 3},
        }
        _ok(client.post(f"{ADMIN}/rounds", json=body, headers=admin), 201)
        for move in moves:
            _ok(client.post(f"{ADMIN}/rounds/{round_id}/{move}", headers=admin), 200)
    deadline = time.monotonic() + 10
    while (ready := client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.05)
    # A full offering with a waitlist, and selections in every round state.
    selections = f"/api/v1/rounds/{OPEN}/selections"
    _ok(client.post(selections, json={"offering_id": "fz-swim"}, headers=bearer("fz-ana")), 201)
    _ok(client.post(selections, json={"offering_id": "fz-swim", "waitlist": True}, headers=bearer("fz-ben")), 202)
    _ok(client.post(selections, json={"offering_id": "fz-farm"}, headers=bearer("fz-cai")), 201)
    force = {"student_id": "fz-dee", "offering_id": "fz-yoga"}
    for round_id in (PAUSED, CLOSED):
        _ok(client.post(f"{ADMIN}/rounds/{round_id}/selections", json=force, headers=admin), 201)


@pytest.fixture
def service(app: Litestar) -> Iterator[TestClient[Litestar]]:
    """The app, started on its own event loop thread (the generated tests are synchronous), seeded."""
    with TestClient(app=app) as client:
        _seed(client)
        yield client


# --- who asks ---

#: Mostly the operation's own role; sometimes someone the contract turns away.
CALLERS = st.sampled_from(["own"] * 12 + ["none", "other_role", "unregistered"])


def _authorization(case: schemathesis.Case[Any], caller: str, student_id: str) -> str | None:
    admin_route = "admin" in (case.operation.definition.raw.get("tags") or [])
    if caller == "none":
        return None
    if caller == "unregistered":
        return bearer("fz-nobody")["Authorization"]
    as_admin = admin_route == (caller == "own")
    return bearer("admin-1", "admin")["Authorization"] if as_admin else bearer(student_id)["Authorization"]


def _send(client: TestClient[Litestar], case: schemathesis.Case[Any], authorization: str | None) -> Any:
    """The case, sent through the app's test client (an httpx client) as schemathesis would send it."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    headers = {k: v for k, v in kwargs["headers"].items() if k.lower() != "authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    assert not kwargs.get("cookies"), "the document has no cookie parameters"
    assert "files" not in kwargs, "the document has no multipart bodies"
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    if "data" in kwargs:
        data = kwargs["data"]
        body["content" if isinstance(data, bytes | str) else "data"] = data
    params = {k: v for k, v in (kwargs.get("params") or {}).items() if v is not None}
    return client.request(kwargs["method"], kwargs["url"], params=params, headers=headers, **body)


# --- what every answer must be ---


def assert_problem_shape(response: Any) -> None:
    """Every 4xx/5xx: problem+json with the contract's members; a 5xx only as 503 ``unavailable``;
    429 and 503 say when to come back."""
    status = response.status_code
    where = f"{response.request.method} {response.request.url} -> {status}: {response.text[:500]}"
    if status < 400:
        return
    assert status < 500 or status == 503, f"a fault of the service: {where}"
    assert response.headers.get("content-type", "").startswith("application/problem+json"), where
    body = response.json()
    assert isinstance(body, dict), where
    for member in ("type", "title", "detail", "code"):
        assert isinstance(body.get(member), str), f"{member} missing: {where}"
        assert body[member], f"{member} empty: {where}"
    assert body.get("status") == status, where
    if status == 503:
        assert body["code"] == "unavailable", where
    if status in (429, 503):
        assert response.headers.get("retry-after", "").isdigit(), where


CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance, response_headers_conformance]


@SCHEMA.parametrize()
@SCHEMA.given(caller=CALLERS, student_id=st.sampled_from(STUDENTS))
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The service is set up once per operation and lives through its examples, as a real one would.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case[Any], caller: str, student_id: str, service: TestClient[Litestar]
) -> None:
    response = _send(service, case, _authorization(case, caller, student_id))
    assert_problem_shape(response)
    case.validate_response(response, checks=CHECKS)


def test_the_fuzzed_document_is_the_served_one(service: TestClient[Litestar]) -> None:
    assert service.get("/schema/openapi.json").json() == _document()
