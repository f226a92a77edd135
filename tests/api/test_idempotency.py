"""Idempotency-Key: a repeat gets the first answer; another request under the key gets 422."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from tests.builders import Client, add_offering, add_round, add_students, announce

Headers = Callable[[str], dict[str, str]]
PATH = "/api/v1/rounds/r1/selections"


@pytest.fixture
async def one_seat(db: asyncpg.Connection, client: Client) -> None:
    await add_students(db, "s1", "s2")
    await add_offering(db, "swim", capacity=1)
    await add_offering(db, "yoga", capacity=1, category="arts")
    await add_round(db, "r1", ["swim", "yoga"])
    await announce(client, "r1")


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


@pytest.mark.usefixtures("one_seat")
async def test_repeat_replays_the_first_answer_without_acting(
    client: Client, as_student: Headers, db: asyncpg.Connection
) -> None:
    first = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "k-1"))
    again = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "k-1"))
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'select'") == 1


@pytest.mark.usefixtures("one_seat")
async def test_a_refusal_is_replayed_too(client: Client, as_student: Headers) -> None:
    assert (await client.post(PATH, json={"offering_id": "swim"}, headers=as_student("s2"))).status_code == 201
    first = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "k-2"))
    assert (first.status_code, first.json()["code"]) == (409, "course_full")
    # The seat frees up, but the key's answer stays what it was.
    assert (await client.delete(PATH + "/swim", headers=as_student("s2"))).status_code == 204
    again = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "k-2"))
    assert (again.status_code, again.json()) == (409, first.json())
    assert again.headers["content-type"].startswith("application/problem+json")


@pytest.mark.usefixtures("one_seat")
async def test_same_key_other_request_is_422(client: Client, as_student: Headers) -> None:
    assert (
        await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "k-3"))
    ).status_code == 201
    other = await client.post(PATH, json={"offering_id": "yoga"}, headers=keyed(as_student("s1"), "k-3"))
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_conflict")
    drop = await client.delete(PATH + "/swim", headers=keyed(as_student("s1"), "k-3"))
    assert (drop.status_code, drop.json()["code"]) == (422, "idempotency_conflict")


@pytest.mark.usefixtures("one_seat")
async def test_keys_are_scoped_to_the_student(client: Client, as_student: Headers) -> None:
    assert (
        await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "same"))
    ).status_code == 201
    other = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s2"), "same"))
    assert (other.status_code, other.json()["code"]) == (409, "course_full")


@pytest.mark.usefixtures("one_seat")
async def test_drop_replay_and_bad_keys(client: Client, as_student: Headers) -> None:
    assert (await client.post(PATH, json={"offering_id": "swim"}, headers=as_student("s1"))).status_code == 201
    first = await client.delete(PATH + "/swim", headers=keyed(as_student("s1"), "d-1"))
    again = await client.delete(PATH + "/swim", headers=keyed(as_student("s1"), "d-1"))
    assert first.status_code == again.status_code == 204
    for bad in (b"", b"x" * 256, b"caf\xe9", b"tab\there"):
        response = await client.post(
            PATH,
            json={"offering_id": "yoga"},
            headers=[*((k.encode(), v.encode()) for k, v in as_student("s1").items()), (b"Idempotency-Key", bad)],
        )
        assert (response.status_code, response.json()["code"]) == (400, "validation_error"), bad


@pytest.mark.usefixtures("one_seat")
async def test_replay_survives_the_loss_of_redis(
    client: Client, as_student: Headers, redis: object, settings: object
) -> None:
    first = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "k-9"))
    assert first.status_code == 201
    namespace = settings.redis_namespace  # type: ignore[attr-defined]
    async for key in redis.scan_iter(match=namespace + "*"):  # type: ignore[attr-defined]
        await redis.delete(key)  # type: ignore[attr-defined]
    await announce(client, "r1")  # rebuilt from PostgreSQL, claims included
    again = await client.post(PATH, json={"offering_id": "swim"}, headers=keyed(as_student("s1"), "k-9"))
    assert (again.status_code, again.json()) == (201, first.json())
