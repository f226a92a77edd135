"""Failures of a real service process: a worker killed mid-burst, Redis emptied or restarted, PostgreSQL cut off.

Each test starts ``python -m selection serve --workers 2`` against a database and a Valkey of its
own, has a few hundred students select and drop over HTTP, breaks something under them, and then
holds the service to its guarantees (docs/ARCHITECTURE.md): every 201/202/204 is in PostgreSQL, a repeat with the same
Idempotency-Key gets the first answer, no seat is counted twice, and ``selection check`` is clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import signal
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec

import asyncpg
import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from quota.keys import RoundKeys
from selection.web.auth import mint_token
from tests.builders import add_offering, add_round, add_students, weekly
from tests.live import LiveRedis, LiveService, PostgresProxy, postgres_target, through

pytestmark = pytest.mark.slow

SECRET = "crash-test-secret-long-enough-for-hs256"
ROUND = "r1"
PATH = f"/api/v1/rounds/{ROUND}/selections"
#: (id, category, day, start, end, capacity): a few small, overlapping, popular offerings.
OFFERINGS = [
    ("swim", "pe", "mon", "14:00", "15:00", 8),
    ("badminton", "pe", "mon", "14:30", "15:30", 6),
    ("yoga", "pe", "tue", "10:00", "11:00", 10),
    ("ceramics", "arts", "wed", "09:00", "11:00", 5),
    ("choir", "arts", "wed", "10:00", "12:00", 12),
    ("garden", "labor", "thu", "13:00", "15:00", 7),
]
CAPACITY = {o[0]: o[5] for o in OFFERINGS}
SELECT_REFUSALS = {
    "round_not_open",
    "wrong_mode",
    "offering_not_in_round",
    "not_eligible",
    "already_selected",
    "time_conflict",
    "category_limit",
    "total_limit",
    "course_full",
}
ACKNOWLEDGED = (201, 202, 204)
P = ParamSpec("P")


def bounded(seconds: float) -> Callable[[Callable[P, Awaitable[None]]], Callable[P, Coroutine[Any, Any, None]]]:
    """A test that runs longer than ``seconds`` fails instead of holding up the suite."""

    def wrap(test: Callable[P, Awaitable[None]]) -> Callable[P, Coroutine[Any, Any, None]]:
        @functools.wraps(test)
        async def run(*args: P.args, **kwargs: P.kwargs) -> None:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)

        return run

    return wrap


async def arrange(db: asyncpg.Connection, students: int) -> list[str]:
    ids = [f"s{i:03d}" for i in range(students)]
    await add_students(db, *ids)
    for oid, category, day, start, end, capacity in OFFERINGS:
        await add_offering(db, oid, capacity=capacity, category=category, schedule=[weekly(day, start, end)])
    await add_round(db, ROUND, [o[0] for o in OFFERINGS], waitlist=True, limits={"pe": 2, "arts": 1, "total": 3})
    return ids


# --- the stores and the service ----------------------------------------------------------------


@dataclass
class Live:
    service: LiveService
    redis: LiveRedis
    database_url: str
    proxy: PostgresProxy | None = None


Launch = Callable[..., Awaitable[Live]]


@pytest.fixture
async def launch(tmp_path: Path, database_url: str) -> AsyncIterator[Launch]:
    """Start the service once the test has arranged its catalog; optionally behind a PostgreSQL proxy."""
    started: list[Live] = []
    redis = LiveRedis()

    async def start(
        *,
        via_proxy: bool = False,
        workers: int = 2,
        metrics_dir: bool = True,
        settings: Mapping[str, str] | None = None,
    ) -> Live:
        """``settings``: more of the service's environment."""
        proxy = None
        url = database_url
        if via_proxy:
            proxy = PostgresProxy(postgres_target(database_url))
            proxy.start()
            url = through(database_url, proxy.port)
        service = LiveService(
            tmp_path,
            {
                "SELECTION_DATABASE_URL": url,
                "SELECTION_REDIS_URL": redis.url,
                "SELECTION_JWT_SECRET": SECRET,
                "SELECTION_RECOVERY_AFTER_SECONDS": "1",
                "SELECTION_GATE_UPKEEP_SECONDS": "0.2",
                **(settings or {}),
            },
            workers=workers,
            metrics_dir=metrics_dir,
        )
        live = Live(service, redis, database_url, proxy)
        started.append(live)
        service.start()
        await service.wait_ready(30)
        return live

    try:
        yield start
    finally:
        for live in started:
            live.service.stop()
            if live.proxy is not None:
                live.proxy.close()
        redis.stop()


def http(live: Live) -> httpx.AsyncClient:
    # trust_env off: no proxy from the environment stands between the test and 127.0.0.1.
    return httpx.AsyncClient(base_url=live.service.base_url, timeout=httpx.Timeout(20.0), trust_env=False)


_tokens: dict[str, dict[str, str]] = {}


def auth(sub: str, role: str = "student") -> dict[str, str]:
    if sub not in _tokens:
        _tokens[sub] = {"Authorization": "Bearer " + mint_token(SECRET, sub, "admin" if role == "admin" else "student")}
    return _tokens[sub]


# --- a crowd of students, every answer recorded ------------------------------------------------


@dataclass
class Answer:
    status: int | None
    body: bytes = b""
    replayed: bool = False
    retry_after: str | None = None
    content_type: str = ""
    error: str | None = None

    @property
    def code(self) -> str | None:
        if self.status is None or self.status < 400 or not self.body:
            return None
        code = msgspec.json.decode(self.body).get("code")
        return str(code) if code is not None else None

    @property
    def definite(self) -> bool:
        """Answered for good: acted on, or refused by a rule (an outage's answer is not)."""
        return self.status in (*ACKNOWLEDGED, 404, 409)

    def __str__(self) -> str:
        if self.status is None:
            return f"transport error {self.error}"
        return f"{self.status} {self.body[:300]!r}"


@dataclass
class Call:
    student: str
    kind: str
    offering: str
    waitlist: bool
    key: str
    #: Where the request falls in the run (the order of sending).
    order: int
    first: Answer | None = None
    #: The answer to the same request repeated with the same key, when the first was not definite.
    retried: Answer | None = None
    #: Where the change, if any, took effect: when first sent, unless a repeat acted afresh.
    effective: int = 0

    @property
    def final(self) -> Answer:
        answer = self.retried or self.first
        assert answer is not None
        return answer

    def __str__(self) -> str:
        return f"{self.student} {self.kind} {self.offering} (key {self.key})"


async def send(client: httpx.AsyncClient, call: Call) -> Answer:
    headers = {**auth(call.student), "Idempotency-Key": call.key}
    try:
        if call.kind == "select":
            body = {"offering_id": call.offering, "waitlist": call.waitlist}
            response = await client.post(PATH, json=body, headers=headers)
        else:
            response = await client.delete(f"{PATH}/{call.offering}", headers=headers)
    except httpx.TransportError as exc:
        return Answer(None, error=type(exc).__name__)
    return Answer(
        response.status_code,
        response.content,
        replayed=response.headers.get("idempotent-replayed") == "true",
        retry_after=response.headers.get("retry-after"),
        content_type=response.headers.get("content-type", ""),
    )


class Crowd:
    """Students selecting and dropping concurrently, each one request at a time, every answer kept."""

    #: Students per HTTP client: one connection pool of hundreds of connections costs the test
    #: more CPU than the service spends answering them.
    SHARD = 20

    def __init__(self, live: Live, students: list[str], seed: int) -> None:
        self.students = students
        self.rng = random.Random(seed)
        self.calls: list[Call] = []
        self.answered = 0
        self._order = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Future[list[None]] | None = None
        self._clients = [http(live) for _ in range(0, len(students), self.SHARD)]
        self._shard = {sid: self._clients[i // self.SHARD] for i, sid in enumerate(students)}

    async def __aenter__(self) -> Crowd:
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        for client in self._clients:
            await client.aclose()

    def client(self, student: str) -> httpx.AsyncClient:
        return self._shard[student]

    def next_order(self) -> int:
        self._order += 1
        return self._order

    def start(self, *, ops: int, pace: tuple[float, float] = (0.0, 0.0)) -> None:
        """Every student makes up to ``ops`` requests, pausing ``pace`` seconds between them."""
        self._task = asyncio.gather(*(self._student(s, ops, pace) for s in self.students))

    async def finish(self, *, stop: bool = False) -> None:
        """Wait for the students (after their current request, when ``stop``)."""
        if stop:
            self._stop.set()
        assert self._task is not None
        await self._task

    async def _student(self, sid: str, ops: int, pace: tuple[float, float]) -> None:
        rng = random.Random(self.rng.random())
        held: set[str] = set()
        offerings = list(CAPACITY)
        for n in range(ops):
            if self._stop.is_set():
                return
            if held and rng.random() < 0.35:
                kind, offering = "drop", rng.choice(sorted(held))
            elif rng.random() < 0.08:
                kind, offering = "drop", rng.choice(offerings)
            else:
                kind, offering = "select", rng.choice([o for o in offerings if o not in held] or offerings)
            call = Call(sid, kind, offering, rng.random() < 0.5, f"{sid}-{n}-{rng.getrandbits(32):08x}", 0)
            call.order = call.effective = self.next_order()
            self.calls.append(call)
            call.first = answer = await send(self.client(sid), call)
            self.answered += 1
            if answer.status in (201, 202):
                held.add(offering)
            elif answer.status == 204:
                held.discard(offering)
            if pace[1] > 0:
                await asyncio.sleep(rng.uniform(*pace))

    async def wait_answered(self, count: int, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while self.answered < count:
            assert time.monotonic() < deadline, f"only {self.answered} answers in {seconds:.0f} s"
            await asyncio.sleep(0.01)

    def statuses(self) -> Counter[int | None]:
        return Counter(c.first.status for c in self.calls if c.first is not None)

    def undecided(self) -> list[Call]:
        return [c for c in self.calls if c.first is not None and not c.first.definite]


def assert_contract_answers(crowd: Crowd, *, transport_errors: bool) -> None:
    """Every answer is one the contract allows; a 503 is ``unavailable`` problem+json with Retry-After."""
    for call in crowd.calls:
        answer = call.first
        assert answer is not None
        if answer.status is None:
            assert transport_errors, f"{call}: {answer}"
        elif answer.status == 503:
            assert answer.content_type.startswith("application/problem+json"), f"{call}: {answer}"
            assert answer.code == "unavailable", f"{call}: {answer}"
            assert answer.retry_after, f"{call}: 503 without Retry-After"
        elif answer.status == 409:
            allowed = SELECT_REFUSALS if call.kind == "select" else {"round_not_open", "drop_not_allowed"}
            assert answer.code in allowed, f"{call}: {answer}"
        elif answer.status == 404:
            assert call.kind == "drop", f"{call}: {answer}"
            assert answer.code == "not_found", f"{call}: {answer}"
        elif answer.status == 429:
            assert answer.code == "rate_limited", f"{call}: {answer}"
        else:
            assert answer.status in ((201, 202) if call.kind == "select" else (204,)), f"{call}: {answer}"


# --- afterwards: repeats, replays, PostgreSQL against every answer -----------------------------


async def retry_undecided(crowd: Crowd, *, seconds: float = 30.0) -> None:
    """Repeat every request that got no definite answer, same key and body, until it gets one."""
    by_student: dict[str, list[Call]] = defaultdict(list)
    for call in crowd.undecided():
        by_student[call.student].append(call)
    deadline = time.monotonic() + seconds

    async def student(calls: list[Call]) -> None:
        for call in calls:
            while True:
                answer = await send(crowd.client(call.student), call)
                if answer.definite or time.monotonic() > deadline:
                    break
                # An outage's answer may be repeated; any other is a wrong answer.
                assert answer.status in (None, 429, 503), f"repeat of {call}: {answer}"
                await asyncio.sleep(float(answer.retry_after or 1))
            assert answer.definite, f"repeat of {call} got no definite answer: {answer} (first: {call.first})"
            call.retried = answer
            if not answer.replayed:
                call.effective = crowd.next_order()

    await asyncio.gather(*(student(calls) for calls in by_student.values()))


async def replay_answered(crowd: Crowd, *, sample: int = 150) -> None:
    """A repeat of an answered request gets the same answer again, without acting again: every
    change acknowledged only to a repeat after the failure, and a sample of the other answers."""
    answered = [c for c in crowd.calls if c.final.definite]
    chosen = [c for c in answered if c.retried is not None and (c.final.replayed or c.final.status in ACKNOWLEDGED)]
    others = [c for c in answered if c not in chosen]
    chosen += crowd.rng.sample(others, min(sample, len(others)))
    by_student: dict[str, list[Call]] = defaultdict(list)
    for call in sorted(chosen, key=lambda c: c.order):
        by_student[call.student].append(call)

    async def student(calls: list[Call]) -> None:
        for call in calls:
            answer = await send(crowd.client(call.student), call)
            while answer.status == 429:
                await asyncio.sleep(1)
                answer = await send(crowd.client(call.student), call)
            first = call.final
            assert answer.status == first.status, f"repeat of {call}: {answer}; it was answered {first}"
            if first.body or answer.body:
                assert msgspec.json.decode(answer.body) == msgspec.json.decode(first.body), f"repeat of {call}"
            assert answer.replayed, f"repeat of {call} acted again: {answer}"

    await asyncio.gather(*(student(calls) for calls in by_student.values()))


async def assert_durable(live: Live, crowd: Crowd) -> None:
    """PostgreSQL holds exactly what the students were told, and no more students than seats."""
    async with http(live) as client:
        response = await client.get(
            f"/api/v1/admin/rounds/{ROUND}/enrollments?format=json", headers=auth("admin", "admin")
        )
    assert response.status_code == 200, response.text
    exported = [(s["student_id"], s["offering_id"], s["status"]) for s in response.json()]
    assert len(exported) == len(set(exported)), "the export lists a selection twice"
    conn = await asyncpg.connect(live.database_url)
    try:
        rows = await conn.fetch(
            "SELECT student_id, offering_id, status FROM selections WHERE round_id = $1 AND status <> 'dropped'", ROUND
        )
    finally:
        await conn.close()
    table = {(r["student_id"], r["offering_id"]): r["status"] for r in rows}
    assert sorted(exported) == sorted((s, o, st) for (s, o), st in table.items()), "export != selections table"
    enrolled = Counter(o for (_, o), st in table.items() if st == "enrolled")
    for offering, count in enrolled.items():
        assert count <= CAPACITY[offering], f"{offering}: {count} enrolled for {CAPACITY[offering]} seats"

    # Per student and offering, the last change the student was told of is what PostgreSQL holds.
    last: dict[tuple[str, str], Call] = {}
    for call in sorted(crowd.calls, key=lambda c: c.effective):
        if call.final.status in ACKNOWLEDGED:
            last[(call.student, call.offering)] = call
    wrong = []
    for pair in set(last) | set(table):
        told_by = last.get(pair)
        told = told_by.final.status if told_by is not None else None
        held = table.get(pair)
        if told == 201:
            ok = held == "enrolled"
        elif told == 202:
            ok = held in ("waitlisted", "enrolled")  # a promotion is a later change
        else:  # dropped, or never acknowledged
            ok = held is None
        if not ok:
            wrong.append(f"{pair}: last acknowledged {told_by} -> {told}; PostgreSQL holds {held}")
    assert not wrong, f"{len(wrong)} selection(s) differ from what the students were told:\n" + "\n".join(wrong[:20])


async def assert_checker_clean(live: Live) -> None:
    code, output = await live.service.cli("check", seconds=30)
    assert code == 0, f"`selection check` exited {code}:\n{output}\n--- service log ---\n{live.service.log_tail()}"


async def settle(live: Live, crowd: Crowd) -> None:
    """After the failure: ready again, every request answered for good, and nothing lost."""
    await live.service.wait_ready(10)
    await retry_undecided(crowd)
    await replay_answered(crowd)
    await assert_durable(live, crowd)
    await assert_checker_clean(live)


class ReadyWatch:
    """``/ready``, polled while something breaks and heals: (seconds since start when asked, status)."""

    def __init__(self, live: Live) -> None:
        self.seen: list[tuple[float, int | None]] = []
        self._client = http(live)
        self._started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ReadyWatch:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        await self._client.aclose()

    def now(self) -> float:
        return time.monotonic() - self._started

    async def _poll(self) -> None:
        while True:
            asked = self.now()
            try:
                status: int | None = (await self._client.get("/ready", timeout=5)).status_code
            except httpx.TransportError:
                status = None
            self.seen.append((asked, status))
            await asyncio.sleep(0.02)

    def between(self, start: float, end: float = float("inf")) -> list[int | None]:
        """The answers to the polls sent in [start, end)."""
        return [s for t, s in self.seen if start <= t < end]

    async def wait(self, status: int, *, since: float, seconds: float) -> float:
        """Seconds from ``since`` until a poll sent after it was answered ``status``."""
        deadline = time.monotonic() + seconds
        while status not in self.between(since):
            assert time.monotonic() < deadline, f"/ready not {status} within {seconds:.0f} s: {self.seen[-5:]}"
            await asyncio.sleep(0.02)
        return next(t for t, s in self.seen if t >= since and s == status) - since


@contextlib.asynccontextmanager
async def slow_commit(database_url: str) -> AsyncIterator[None]:
    """A writer's batch that takes its time: it holds the round's commit lock in shared mode
    (selection/group_commit.py), so a rebuild of the round's gate, which needs it exclusively, waits."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext('gate:' || $1::text))", ROUND)
            yield
    finally:
        await conn.close()


# --- the tests ---------------------------------------------------------------------------------


@bounded(60)
async def test_a_server_removes_the_metrics_folder_it_made(db: asyncpg.Connection, launch: Launch) -> None:
    students = await arrange(db, 10)
    live = await launch(metrics_dir=False)

    def folders() -> list[str]:
        return sorted(path.name for path in live.service.tmp.glob("selection-metrics-*"))

    async with http(live) as client:
        assert (await client.get(f"/api/v1/rounds/{ROUND}/offerings", headers=auth(students[0]))).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert 'path="/api/v1/rounds/{round_id}/offerings"' in metrics
    assert len(folders()) == 1, folders()
    live.service.stop()
    assert folders() == []


@bounded(90)
async def test_a_worker_killed_mid_burst_loses_no_acknowledged_change(db: asyncpg.Connection, launch: Launch) -> None:
    students = await arrange(db, 300)
    live = await launch()
    service = live.service
    assert len(service.worker_pids()) == 2, service.worker_pids()
    async with Crowd(live, students, seed=11) as crowd:
        crowd.start(ops=5)
        await crowd.wait_answered(len(students) * 5 // 4)
        # The busiest worker has the most requests in flight.
        victim = service.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        await crowd.finish()

        assert_contract_answers(crowd, transport_errors=True)
        statuses = crowd.statuses()
        assert statuses[None] > 0, f"the kill interrupted no request: {statuses}"
        assert statuses[201] > 0, statuses
        assert statuses[204] > 0, statuses
        deadline = time.monotonic() + 30
        while len(workers := service.worker_pids()) < 2 or victim in workers:
            assert time.monotonic() < deadline, f"the killed worker was not replaced:\n{service.describe()}"
            await asyncio.sleep(0.1)
        await settle(live, crowd)


@bounded(90)
async def test_redis_flushed_mid_round(db: asyncpg.Connection, launch: Launch) -> None:
    students = await arrange(db, 150)
    live = await launch()
    async with (
        Crowd(live, students, seed=12) as crowd,
        ReadyWatch(live) as ready,
        aioredis.Redis.from_url(live.redis.url) as redis,
    ):
        crowd.start(ops=60, pace=(0.3, 0.8))
        await crowd.wait_answered(300)
        # A commit under way as Redis empties keeps the rebuild waiting long enough to watch the
        # service refuse meanwhile.
        async with slow_commit(live.database_url):
            await redis.flushall()
            flushed = ready.now()
            await ready.wait(503, since=flushed, seconds=5)
            await asyncio.sleep(1)
            assert 200 not in ready.between(flushed), f"/ready 200 with Redis empty: {ready.seen[-10:]}"
        back = await ready.wait(200, since=flushed, seconds=10)
        await asyncio.sleep(0.5)
        await crowd.finish(stop=True)

        assert back < 10, f"ready again after {back:.1f} s"
        assert_contract_answers(crowd, transport_errors=False)
        assert crowd.statuses()[503] > 0, crowd.statuses()
        await settle(live, crowd)


@bounded(90)
async def test_redis_restarted_empty_mid_round(db: asyncpg.Connection, launch: Launch) -> None:
    students = await arrange(db, 150)
    live = await launch()
    async with Crowd(live, students, seed=13) as crowd, ReadyWatch(live) as ready:
        crowd.start(ops=60, pace=(0.3, 0.8))
        await crowd.wait_answered(300)
        stopped = ready.now()
        live.redis.stop()
        await ready.wait(503, since=stopped, seconds=5)
        await asyncio.sleep(1)
        restarting = ready.now()
        live.redis.start()
        assert 200 not in ready.between(stopped, restarting), f"/ready 200 without Redis: {ready.seen[-10:]}"
        back = await ready.wait(200, since=restarting, seconds=10)
        await asyncio.sleep(0.5)
        await crowd.finish(stop=True)

        assert back < 10, f"ready again after {back:.1f} s"
        assert_contract_answers(crowd, transport_errors=False)
        assert crowd.statuses()[503] > 0, crowd.statuses()
        await settle(live, crowd)


@bounded(90)
async def test_postgres_unreachable_for_a_few_seconds(db: asyncpg.Connection, launch: Launch) -> None:
    students = await arrange(db, 150)
    live = await launch(via_proxy=True)
    assert live.proxy is not None
    async with Crowd(live, students, seed=14) as crowd, ReadyWatch(live) as ready:
        crowd.start(ops=60, pace=(0.3, 0.8))
        await crowd.wait_answered(300)
        cut = ready.now()
        live.proxy.cut()
        await asyncio.sleep(3)
        restoring = ready.now()
        live.proxy.restore()
        while_cut = Counter(ready.between(cut, restoring))
        back = await ready.wait(200, since=restoring, seconds=10)
        await asyncio.sleep(0.5)
        await crowd.finish(stop=True)

        assert set(while_cut) == {503}, f"/ready while PostgreSQL was cut off: {while_cut}"
        assert back < 10, f"ready again after {back:.1f} s"
        assert_contract_answers(crowd, transport_errors=False)
        assert crowd.statuses()[503] > 0, crowd.statuses()
        await settle(live, crowd)
        # Changes the gate took while PostgreSQL was away were answered 503, and committed by
        # recovery once it was back: their repeats replay the outcome.
        recovered = [c for c in crowd.calls if c.retried is not None and c.retried.replayed]
        assert recovered, "no change taken during the outage was committed by recovery"


@bounded(90)
async def test_rebuild_against_the_live_service(db: asyncpg.Connection, launch: Launch) -> None:
    students = await arrange(db, 150)
    live = await launch()
    async with Crowd(live, students, seed=15) as crowd:
        crowd.start(ops=60, pace=(0.3, 0.8))
        await crowd.wait_answered(300)
        code, output = await live.service.cli("rebuild", seconds=30)
        assert code == 0, output
        await asyncio.sleep(0.5)
        await crowd.finish(stop=True)

        assert_contract_answers(crowd, transport_errors=False)
        await settle(live, crowd)


@bounded(90)
async def test_a_refusal_whose_answer_was_not_recorded_answers_its_repeat(
    db: asyncpg.Connection, launch: Launch
) -> None:
    await add_students(db, "first", "second")
    await add_offering(db, "solo", capacity=1, category="pe", schedule=[weekly("fri", "09:00", "10:00")])
    await add_round(db, ROUND, ["solo"])
    # One worker: its catalog cache, warm from the first select, lets a select reach the gate
    # while PostgreSQL is cut off.
    live = await launch(via_proxy=True, workers=1)
    assert live.proxy is not None
    gate = aioredis.Redis.from_url(live.redis.url)
    async with http(live) as client:
        taken = await client.post(PATH, json={"offering_id": "solo"}, headers=auth("first"))
        assert taken.status_code == 201, taken.text
        keyed = {**auth("second"), "Idempotency-Key": "second-solo"}
        live.proxy.cut()
        try:
            cut = await client.post(PATH, json={"offering_id": "solo"}, headers=keyed)
        finally:
            live.proxy.restore()
        assert cut.status_code == 503, cut.text
        # The gate refused it (course_full) and keeps the refusal with the claim; recording the
        # answer is what failed.
        claim = await gate.get(RoundKeys("", ROUND).idempotency("second", "second-solo"))
        await gate.aclose()
        assert claim is not None
        assert b"course_full" in claim, claim
        await live.service.wait_ready(15)
        # The seat is free again: a decision made afresh would enrol the repeat. The answer to a
        # key is the one decided first, whether or not its recording got back to the worker.
        assert (await client.delete(f"{PATH}/solo", headers=auth("first"))).status_code == 204
        again = await client.post(PATH, json={"offering_id": "solo"}, headers=keyed)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "course_full"
    assert again.headers.get("idempotent-replayed") == "true"
    recorded = await db.fetchrow(
        "SELECT status FROM idempotency_keys WHERE student_id = 'second' AND key = 'second-solo'"
    )
    assert recorded is not None
    assert recorded["status"] == 409
    assert await db.fetchval("SELECT count(*) FROM selections WHERE student_id = 'second'") == 0
