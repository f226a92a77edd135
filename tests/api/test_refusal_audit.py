"""Refusals in the audit trail, on request: off by default (the contract counts them in metrics
only), on with SELECTION_AUDIT_REFUSALS, so that "I clicked first" can be settled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
import pytest

from lib.settings import Settings
from tests.builders import Client, add_offering, add_round, add_students, announce

PATH = "/api/v1/rounds/r1/selections"
Headers = Callable[[str], dict[str, str]]


@pytest.fixture
async def full_swim(db: asyncpg.Connection, client: Client, as_student: Headers) -> None:
    await add_students(db, "s1", "s2")
    await add_offering(db, "swim", capacity=1)
    await add_round(db, "r1", ["swim"])
    await announce(client, "r1")
    assert (await client.post(PATH, json={"offering_id": "swim"}, headers=as_student("s1"))).status_code == 201
    refused = await client.post(PATH, json={"offering_id": "swim"}, headers=as_student("s2"))
    assert refused.status_code == 409


async def refusals_of(client: Client, admin: dict[str, str], student: str, seconds: float) -> list[dict[str, Any]]:
    """The student's refused events, waiting up to ``seconds`` for them to be written."""
    deadline = time.monotonic() + seconds
    while True:
        events: list[dict[str, Any]] = (
            await client.get(f"/api/v1/admin/audit?student_id={student}", headers=admin)
        ).json()
        refused = [e for e in events if e["outcome"] == "refused"]
        if refused or time.monotonic() > deadline:
            return refused
        await asyncio.sleep(0.05)


class TestOnRequest:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return msgspec.structs.replace(settings, audit_refusals=True)

    @pytest.mark.usefixtures("full_swim")
    async def test_a_refusal_is_in_the_audit_trail(self, client: Client, admin: dict[str, str]) -> None:
        [event] = await refusals_of(client, admin, "s2", seconds=10)
        assert (event["action"], event["round_id"], event["offering_id"], event["actor"]) == (
            "select",
            "r1",
            "swim",
            "s2",
        )
        assert event["detail"].startswith("course_full ")


@pytest.mark.usefixtures("full_swim")
async def test_refusals_are_not_audited_by_default(client: Client, admin: dict[str, str]) -> None:
    assert await refusals_of(client, admin, "s2", seconds=0.5) == []
    metrics = (await client.get("/metrics")).text
    assert 'selection_refusals_total{code="course_full"}' in metrics
