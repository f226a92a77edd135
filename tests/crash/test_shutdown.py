"""SIGTERM: the service answers the requests it has in flight, commits them, and exits within its
shutdown bound, even with a client that sends its body a byte at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from quota.keys import RoundKeys
from tests.crash.test_crash import (
    ACKNOWLEDGED,
    PATH,
    ROUND,
    Launch,
    Live,
    arrange,
    assert_checker_clean,
    auth,
    bounded,
    http,
)

pytestmark = pytest.mark.slow

#: SELECTION_SHUTDOWN_SECONDS of the service under test.
SHUTDOWN_SECONDS = 5


class SlowClient:
    """A select whose body arrives a byte every half second on a connection of its own, and whose
    last byte never does: left alone, its request would hold its worker for good."""

    BODY = b'{"offering_id": "yoga", "waitlist": true}'

    def __init__(self, live: Live, student: str) -> None:
        self._live = live
        self._student = student
        self._task: asyncio.Task[bytes] | None = None

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._live.service.port)
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {auth(self._student)['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(self.BODY)}\r\n\r\n"
        )
        writer.write(head.encode() + self.BODY[:1])
        await writer.drain()
        self._task = asyncio.create_task(self._trickle(reader, writer))

    async def _trickle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        async def send() -> None:
            for byte in self.BODY[1:-1]:
                await asyncio.sleep(0.5)
                writer.write(bytes([byte]))
                await writer.drain()
            await asyncio.sleep(3600)

        sending = asyncio.create_task(send())
        try:
            return await reader.read()
        except OSError:
            return b""
        finally:
            sending.cancel()
            with contextlib.suppress(BaseException):
                await sending
            writer.close()

    async def answer(self) -> bytes:
        """What the server sent before it closed the connection."""
        assert self._task is not None
        with contextlib.suppress(OSError):
            return await self._task
        return b""


@contextlib.asynccontextmanager
async def commits_held(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The round's lock, held exclusively: every commit into the round waits until the block ends."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gate:' || $1::text))", ROUND)
            yield conn
    finally:
        await conn.close()


@bounded(90)
async def test_sigterm_answers_what_is_in_flight_and_stops_within_its_bound(
    db: asyncpg.Connection, launch: Launch
) -> None:
    students = await arrange(db, 40)
    settings = {
        "SELECTION_SHUTDOWN_SECONDS": str(SHUTDOWN_SECONDS),
        # Longer than the commits are held below: the requests in flight are answered, not timed out.
        "SELECTION_COMMIT_TIMEOUT_SECONDS": "20",
    }
    live = await launch(settings=settings)
    service = live.service
    in_flight = students[1:31]
    slow = SlowClient(live, students[0])
    await slow.start()
    async with (
        http(live) as client,
        aioredis.Redis.from_url(live.redis.url) as redis,
    ):
        async with commits_held(live.database_url):
            sent = [
                asyncio.create_task(
                    client.post(
                        PATH,
                        json={"offering_id": "choir", "waitlist": True},
                        headers={**auth(sid), "Idempotency-Key": f"{sid}-choir"},
                    )
                )
                for sid in in_flight
            ]
            # Every one of them decided by the gate and waiting for its commit.
            redo = RoundKeys("", ROUND).redo
            while await redis.xlen(redo) < len(in_flight):
                assert not any(t.done() for t in sent), [t.result() for t in sent if t.done()]
                await asyncio.sleep(0.02)
            workers = service.terminate()
            await asyncio.sleep(1)
            assert not any(t.done() for t in sent), "answered before their commits were let through"
        answers = await asyncio.gather(*sent, return_exceptions=True)
        seconds = await service.wait_exited(workers, SHUTDOWN_SECONDS + 15)

    # Every request in flight at SIGTERM was answered, and acknowledged once committed.
    statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
    assert all(s in ACKNOWLEDGED for s in statuses), statuses
    # The slow client's body never ended: its worker was stopped at the bound, without answering it.
    assert seconds < SHUTDOWN_SECONDS + 10, f"stopped {seconds:.1f} s after SIGTERM:\n{service.log_tail()}"
    assert await slow.answer() == b""
    log = service.log_path.read_text()
    assert "refused to gracefully stop" in log, service.log_tail()
    # The other worker stopped on its own: background work ended, connections closed.
    assert '"worker stopped"' in log, service.log_tail()

    # Every acknowledged request is in PostgreSQL, with its answer under its key.
    rows = await db.fetch("SELECT student_id, key, status FROM idempotency_keys")
    recorded = {(r["student_id"], r["key"]): r["status"] for r in rows}
    for sid, status in zip(in_flight, statuses, strict=True):
        assert recorded.get((sid, f"{sid}-choir")) == status, (sid, status, recorded.get((sid, f"{sid}-choir")))
    held = await db.fetch("SELECT student_id FROM selections WHERE round_id = $1 AND status <> 'dropped'", ROUND)
    assert sorted(r["student_id"] for r in held) == sorted(in_flight)

    # Started again, it finds nothing amiss.
    live = await launch(settings=settings)
    await assert_checker_clean(live)
