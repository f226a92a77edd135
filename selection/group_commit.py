"""Group commit: the gate's changes, committed to PostgreSQL in the gate's order, many per commit.

A request whose change the gate accepted waits here until the change is committed; changes
queued while a commit is under way share the next one (one call to PostgreSQL, one commit per
batch), so the batch grows with the load. A batch first takes each round's lock in shared mode
and reads the round's gate generation: a change decided by an older generation of the gate
(before a rebuild from PostgreSQL) is never committed, since the rebuilt gate does not count it.

The writer stays bounded when PostgreSQL fails or hangs. A change not acknowledged here is still
in the round's redo log, where recovery (``selection/recovery.py``) commits it later, and
committing twice is harmless; so the writer may give up on a batch at any time and answer its
requests ``NotCommitted`` (503, safe to repeat with the same Idempotency-Key). A request is first
admitted (``admit()``), before the gate decides, so that what the writer would refuse anyway is
refused before the gate takes a seat it could not record. It gives up:

- on a batch that takes longer than the commit timeout (its connection is then closed, never
  reused);
- on a request that finds every place taken: the queue's limit counts the requests admitted, from
  before the gate decides until their commit ends; one more is refused at once, without waiting;
- while its circuit breaker is open: after a number of failed batches in a row, everything queued
  is refused and so is every new request, for a cool-down. After it the next batch is a probe
  (half-open): it closes the breaker or opens it again;
- on any exception a batch raises: the writer logs it, refuses the batch, and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence

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


class Breaker(enum.IntEnum):
    """The writer's circuit breaker (the values are the metric's)."""

    CLOSED = 0
    #: One batch, the probe, is trying PostgreSQL again; every other change is refused meanwhile.
    HALF_OPEN = 1
    #: Refusing every change until the cool-down ends; the next batch after it is the probe.
    OPEN = 2


class Admission:
    """A request's place among those a writer takes (``RedoWriter.admit``), given back when its
    ``with`` block ends."""

    __slots__ = ("_writer",)

    def __init__(self, writer: RedoWriter) -> None:
        self._writer: RedoWriter | None = writer

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer._release()


#: Queued after the last job by ``close()``: the writer stops once it has committed what came before.
_STOP = None


class RedoWriter:
    """One per process: commits what the requests of this process queue, in batches."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_batch: int = 1000,
        timeout: float = 3.0,
        queue_limit: int = 10_000,
        failures_to_open: int = 3,
        cooldown: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._timeout = timeout
        self._queue_limit = queue_limit
        self._failures_to_open = failures_to_open
        self._cooldown = cooldown
        self._clock = clock
        # Unbounded as a queue, so that the stop marker always fits; commit() holds the limit.
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._committed: list[Change] = []
        self._poisoned_rounds: set[str] = set()
        self._admitted = 0
        self._breaker = Breaker.CLOSED
        self._failures = 0
        self._open_until = 0.0
        self._stopping = False
        self._running = False
        self._stopped = asyncio.Event()
        self.batches = 0
        self.changes = 0
        metrics.COMMIT_QUEUE.set(0)
        metrics.BREAKER_STATE.set(Breaker.CLOSED)

    @property
    def accepting(self) -> bool:
        """Whether a request would be admitted now (cheap)."""
        return self.refusal() is None

    @property
    def breaker(self) -> Breaker:
        return self._breaker

    def refusal(self) -> str | None:
        """Why a request would not be admitted now (the metric's reason), or None."""
        if self._stopping:
            return "stopping"
        if self._breaker_refuses():
            return "breaker_open"
        if max(self._admitted, self._queue.qsize()) >= self._queue_limit:
            return "queue_full"
        return None

    def admit(self) -> Admission:
        """A place among the requests this writer takes, to hold (``with``) from before the gate
        decides until the change is committed; NotCommitted at once when the writer is not taking
        changes, or every place is held. So the gate does not decide a change that could not be
        recorded: a seat taken, and the student told 503."""
        refusal = self.refusal()
        if refusal is not None:
            metrics.COMMIT_REFUSED.labels(refusal).inc()
            raise NotCommitted(_REFUSALS[refusal])
        self._admitted += 1
        return Admission(self)

    def _release(self) -> None:
        self._admitted -= 1

    def _breaker_refuses(self) -> bool:
        return self._breaker is Breaker.HALF_OPEN or (
            self._breaker is Breaker.OPEN and self._clock() < self._open_until
        )

    async def commit(self, changes: list[Change], answers: list[Answer] | None = None) -> None:
        """Return once ``changes`` and ``answers`` are committed; raise NotCommitted otherwise
        (at once when the writer is not taking changes: stopping, breaker open, queue full)."""
        if self._stopping:
            refusal: str | None = "stopping"
        elif self._breaker_refuses():
            refusal = "breaker_open"
        else:
            # A request admitted holds its place in the queue already: the queue itself is full
            # only for a caller that was not admitted, or past the limit.
            refusal = "queue_full" if self._queue.qsize() >= self._queue_limit else None
        if refusal is not None:
            metrics.COMMIT_REFUSED.labels(refusal).inc()
            raise NotCommitted(_REFUSALS[refusal])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(changes, answers or [], done))
        metrics.COMMIT_QUEUE.set(self._queue.qsize())
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
        """Commit batches until ``close()`` (or cancellation); survives any failure of a batch."""
        self._running = True
        try:
            while True:
                first = await self._queue.get()
                if first is _STOP:
                    return
                jobs = [first]
                stop = False
                while len(jobs) < self._max_batch and not self._queue.empty():
                    job = self._queue.get_nowait()
                    if job is _STOP:
                        stop = True
                        break
                    jobs.append(job)
                metrics.COMMIT_QUEUE.set(self._queue.qsize())
                await self._commit_guarded(jobs)
                if stop:
                    return
        finally:
            self._running = False
            self._fail_queued(NotCommitted("the service is stopping"))
            self._stopped.set()

    async def close(self, seconds: float) -> None:
        """Take no more changes, commit those already queued (for at most ``seconds``), and stop
        ``run()``; whatever is still queued then is answered NotCommitted."""
        self._stopping = True
        self._queue.put_nowait(_STOP)
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), seconds)
        self._fail_queued(NotCommitted("the service is stopping"))

    async def _commit_guarded(self, jobs: list[_Job]) -> None:
        """Commit one batch, whatever happens: its requests are answered, the breaker learns."""
        if self._breaker is Breaker.OPEN:
            self._set_breaker(Breaker.HALF_OPEN)
            log.info("trying PostgreSQL again with one batch", extra={"requests": len(jobs)})
        try:
            ok = await self._commit(jobs)
        except asyncio.CancelledError:
            for job in jobs:
                _settle(job, NotCommitted("the service is stopping"))
            raise
        except Exception:
            # A fault, not an outage; the writer must outlive it, or every later request would wait forever.
            log.exception("group commit failed unexpectedly; its changes stay in the redo log")
            for job in jobs:
                _settle(job, NotCommitted("the group commit failed"))
            ok = False
        if ok:
            self._failures = 0
            if self._breaker is not Breaker.CLOSED:
                log.info("PostgreSQL commits again; taking selections")
                self._set_breaker(Breaker.CLOSED)
            return
        self._failures += 1
        if self._breaker is Breaker.HALF_OPEN or self._failures >= self._failures_to_open:
            self._open()

    def _open(self) -> None:
        self._open_until = self._clock() + self._cooldown
        if self._breaker is not Breaker.OPEN:
            log.warning(
                "group commits failing; selections answer 503 for a while",
                extra={"failures": self._failures, "cooldown_seconds": self._cooldown},
            )
        self._set_breaker(Breaker.OPEN)
        # They would wait for commits that fail: refused now, their changes wait in the redo log.
        self._fail_queued(NotCommitted(_REFUSALS["breaker_open"]))

    def _set_breaker(self, state: Breaker) -> None:
        self._breaker = state
        metrics.BREAKER_STATE.set(state)

    def _fail_queued(self, error: NotCommitted) -> None:
        stop = False
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is _STOP:
                stop = True
            else:
                _settle(job, error)
        if stop:
            self._queue.put_nowait(_STOP)
        metrics.COMMIT_QUEUE.set(self._queue.qsize())

    async def _commit(self, jobs: list[_Job]) -> bool:
        """Commit the batch and answer its requests; False when PostgreSQL failed or timed out."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                stale, poisoned = await self._call(jobs)
        except TimeoutError:
            metrics.COMMIT_TIMEOUTS.inc()
            log.warning(
                "commit timed out; changes stay in the redo log",
                extra={"timeout_seconds": self._timeout, "requests": len(jobs)},
            )
            for job in jobs:
                _settle(job, NotCommitted("PostgreSQL did not answer in time"))
            return False
        except DATABASE_FAILURES as exc:
            log.warning("commit failed; changes stay in the redo log", extra={"error": repr(exc)})
            for job in jobs:
                _settle(job, NotCommitted(f"PostgreSQL: {type(exc).__name__}"))
            return False
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
        return True

    async def _call(self, jobs: list[_Job]) -> tuple[set[int], set[int]]:
        # No transaction around the call: the call alone is one (it takes the locks, reads the
        # generations and writes, all before its commit), and BEGIN and COMMIT would add two
        # round trips to PostgreSQL per batch.
        async with self._pool.acquire() as conn:
            try:
                return await commit_isolating(conn, [(job.changes, job.answers) for job in jobs], savepoints=False)
            except (asyncio.CancelledError, TimeoutError):
                # Cut short (a timeout, or the writer stopping) with the call perhaps still on the
                # server: the connection's state is unknown, and it is never used again. (Handed
                # back as it is, asyncpg would first wait for a cancellation that a hanging server
                # does not answer either.)
                conn.terminate()
                raise


_REFUSALS = {
    "queue_full": "too many changes are waiting to be committed",
    "breaker_open": "PostgreSQL commits are failing; trying again shortly",
    "stopping": "the service is stopping",
}


def _settle(job: _Job, error: Exception | None) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        if error is None:
            job.done.set_result(None)
        else:
            job.done.set_exception(error)
