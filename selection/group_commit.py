"""Group commit: the gate's changes, committed to PostgreSQL in the gate's order, many per commit.

A request whose change the gate accepted waits here until the change is committed; changes
queued while a commit is under way share the next one (one call to PostgreSQL, one commit per
batch), so the batch grows with the load. A batch first takes each round's lock in shared mode
and reads the round's gate generation: a change decided by an older generation of the gate
(before a rebuild from PostgreSQL) is never committed, since the rebuilt gate does not count it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import asyncpg
import msgspec

from lib.failures import DATABASE_FAILURES
from lib.sql import Connection, NamedQueries
from quota.entries import Change, RedoEntry
from selection import metrics
from selection.idempotency import Answer, answer_for

log = logging.getLogger("selection.writer")

_sql = NamedQueries("selection", "queries.sql")
_encode = msgspec.json.Encoder().encode


class NotCommitted(Exception):
    """The change was not committed: PostgreSQL failed (it may yet be, by recovery), or it was
    fenced off."""


class Poisoned(NotCommitted):
    """PostgreSQL refuses what the change holds (not when or how it was sent): committing it again
    would fail again. It was set aside as a dead letter for an operator, and is never committed."""


#: PostgreSQL refused a statement for the data it carries: the same data would be refused again.
POISON: tuple[type[BaseException], ...] = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class Fenced(NotCommitted):
    """Refused for good: decided by a gate state PostgreSQL no longer accepts (an older
    generation, or one that went back in time). Nothing of it was written, nor ever will be."""


class _Job(msgspec.Struct):
    changes: list[Change]
    answers: list[Answer]
    done: asyncio.Future[None]


def describe(entry: RedoEntry) -> str:
    """The audit event's human detail of a change."""
    if entry.status == "waitlisted":
        return f"waitlisted at position {entry.position}"
    if entry.status == "dropped":
        return f"dropped (was {entry.was})"
    if entry.action == "promote":
        return "promoted from the waitlist"
    return "enrolled"


def _answers_of(changes: Sequence[Change]) -> list[Answer]:
    """The answers of changes made under an Idempotency-Key: committed with the change itself, so
    that a change recovered from a dead process's redo log is replayed like any other."""
    answers = []
    for change in changes:
        entry = change.entry
        if entry.idem is not None and entry.fp is not None:
            status, body = answer_for(change.round_id, entry)
            answers.append(Answer(entry.student, entry.idem, change.round_id, entry.fp, status, body))
    return answers


class _ChangeRow(msgspec.Struct):
    """A change as commit_batch reads it (migrations/0003_commit_batch_json.sql)."""

    job: int
    round_id: str
    student_id: str
    offering_id: str
    status: str
    seq: int
    wait_seq: int | None
    at: int
    actor: str
    role: str
    action: str
    gen: int
    detail: str

    @classmethod
    def of(cls, job: int, change: Change) -> _ChangeRow:
        e = change.entry
        return cls(
            job, change.round_id, e.student, e.offering, e.status, e.seq, e.wait_seq, e.at, e.actor, e.role, e.action,
            e.gen, describe(e),
        )  # fmt: skip


class _AnswerRow(msgspec.Struct):
    """An answer as commit_batch reads it: the body as text (it is UTF-8 JSON)."""

    job: int
    student_id: str
    key: str
    round_id: str
    fingerprint: str
    status: int
    body: str

    @classmethod
    def of(cls, job: int, answer: Answer) -> _AnswerRow:
        return cls(
            job, answer.student_id, answer.key, answer.round_id, answer.fingerprint, answer.status, answer.body.decode()
        )


#: A job's changes and answers: committed whole or not at all.
JobContent = tuple[Sequence[Change], Sequence[Answer]]


async def commit_batch(conn: Connection, jobs: Sequence[JobContent]) -> set[int]:
    """Commit the jobs in one call and one transaction of its own (idempotent); returns the
    indexes of the stale jobs, those with a change decided by an older generation of the gate,
    of which nothing was written.

    ``conn`` must not be inside a transaction of its caller's unless it already holds the
    rounds' locks exclusively (a rebuild): the function takes each round's lock in shared mode,
    then reads the generations, and the fence holds only if the locks are held until commit.
    """
    changes = [_ChangeRow.of(j, c) for j, (job_changes, _) in enumerate(jobs) for c in job_changes]
    answers = [_AnswerRow.of(j, a) for j, (_, job_answers) in enumerate(jobs) for a in job_answers]
    answers += [_AnswerRow.of(j, a) for j, (job_changes, _) in enumerate(jobs) for a in _answers_of(job_changes)]
    stale: list[int] = await conn.fetchval(_sql("commit_batch"), _encode(changes).decode(), _encode(answers).decode())
    return set(stale)


async def commit_isolating(
    conn: Connection, jobs: Sequence[JobContent], *, savepoints: bool
) -> tuple[set[int], set[int]]:
    """``commit_batch``, except that a job whose content PostgreSQL refuses does not take the
    others with it: the batch is split until that job stands alone, the rest is committed, and
    the job's changes are set aside as dead letters. Returns (stale, poisoned) job indexes.

    Inside a caller's transaction (``savepoints``), each attempt runs in a savepoint, so that a
    refused attempt does not abort that transaction.
    """

    async def attempt(indexes: list[int]) -> tuple[set[int], set[int]]:
        try:
            if savepoints:
                async with conn.transaction():
                    stale = await commit_batch(conn, [jobs[i] for i in indexes])
            else:
                stale = await commit_batch(conn, [jobs[i] for i in indexes])
        except POISON as exc:
            if len(indexes) == 1:
                await _set_aside(conn, jobs[indexes[0]][0], exc)
                return set(), set(indexes)
            half = len(indexes) // 2
            first_stale, first_poisoned = await attempt(indexes[:half])
            rest_stale, rest_poisoned = await attempt(indexes[half:])
            return first_stale | rest_stale, first_poisoned | rest_poisoned
        return {indexes[i] for i in stale}, set()

    if not jobs:
        return set(), set()
    return await attempt(list(range(len(jobs))))


async def _set_aside(conn: Connection, changes: Sequence[Change], error: BaseException) -> None:
    """Record the changes as dead letters: what the gate logged, byte for byte, and why
    PostgreSQL refused it (once per redo-log entry, however often it is met)."""
    log.error(
        "a change PostgreSQL refuses was set aside as a dead letter",
        extra={"error": repr(error), "changes": len(changes)},
    )
    metrics.DEAD_LETTERS.inc(len(changes))
    if changes:
        await conn.execute(
            _sql("record_dead_letters"),
            [c.round_id for c in changes],
            [c.stream_id for c in changes],
            [_encode(c.entry) for c in changes],
            f"{type(error).__name__}: {error}",
        )


class RedoWriter:
    """One per process: commits what the requests of this process queue, in batches."""

    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 1000) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._committed: list[Change] = []
        self._poisoned_rounds: set[str] = set()
        self.batches = 0
        self.changes = 0

    async def commit(self, changes: list[Change], answers: list[Answer] | None = None) -> None:
        """Return once ``changes`` and ``answers`` are committed; raise NotCommitted otherwise."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(changes, answers or [], done))
        await done

    def take_committed(self) -> list[Change]:
        """Changes committed since the last call (for removal from the redo streams)."""
        taken, self._committed = self._committed, []
        return taken

    def take_poisoned_rounds(self) -> set[str]:
        """Rounds whose gate counts a change set aside since the last call: recovery rebuilds
        them, so that Redis and PostgreSQL agree again."""
        taken, self._poisoned_rounds = self._poisoned_rounds, set()
        return taken

    async def run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            while len(jobs) < self._max_batch and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            await self._commit(jobs)

    async def _commit(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            # No transaction around the call: the call alone is one (it takes the locks, reads the
            # generations and writes, all before its commit), and BEGIN and COMMIT would add two
            # round trips to PostgreSQL per batch.
            async with self._pool.acquire() as conn:
                stale, poisoned = await commit_isolating(
                    conn, [(job.changes, job.answers) for job in jobs], savepoints=False
                )
        except DATABASE_FAILURES as exc:
            log.warning("commit failed; changes stay in the redo log", extra={"error": repr(exc)})
            for job in jobs:
                _settle(job, NotCommitted(f"PostgreSQL: {type(exc).__name__}"))
            return
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(sum(len(job.changes) for job in jobs))
        self.batches += 1
        for index, job in enumerate(jobs):
            if index in poisoned:
                self._poisoned_rounds.update(change.round_id for change in job.changes)
                _settle(job, Poisoned("PostgreSQL refuses what this change holds; it was set aside"))
            elif index in stale:
                _settle(job, Fenced("the gate state that decided this change was replaced before it was committed"))
            else:
                self.changes += len(job.changes)
                self._committed.extend(job.changes)
                _settle(job, None)


def _settle(job: _Job, error: Exception | None) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        if error is None:
            job.done.set_result(None)
        else:
            job.done.set_exception(error)
