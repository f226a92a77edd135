"""FairStart: the selects a round's fair-start window holds — waiting for their decisions, and
deciding them when the window ends (docs/API.md, "The fair-start window").

The window lives in Redis, in the round's slot (``quota/lua/fair_start.lua``): a select held
there is decided later through the same select script, by one decider at a time among every
worker process (a lease in the window's hash; the script refuses a decider whose lease is gone,
and decides each held request once, in the same atomic step that records its reply). Each
worker:

- waits for the decisions of the requests it holds with one subscription for every round
  (pub/sub), plus one read per round and second of what its requests still wait for: a
  message lost on the way costs a second, and a request whose window was lost with Redis's data
  is answered 503 (nothing of it was decided). A waiting request is a future, no task of its own.
- tries, a few times a second, to take the lease of every window that has ended with requests
  held, and decides them in the seeded order (``quota/fair_start.py``), a batch at a time, each
  batch one round trip run in order by Redis. A decider that dies leaves its lease to expire;
  the next one goes on from the first request not decided.

The requests then take the ordinary path: the change committed by the group commit (or a
refusal recorded under its Idempotency-Key) before the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from redis.exceptions import RedisError

from lib.failures import DATABASE_FAILURES
from quota.fair_start import fair_order
from quota.gate import SeatGate
from quota.outcomes import GateUnavailable, Held

log = logging.getLogger("selection.fair_start")
#: What a tick of the decider survives, to try again on the next.
_TICK_FAILURES: tuple[type[BaseException], ...] = (GateUnavailable, RedisError, OSError, *DATABASE_FAILURES)


class Outcomes(msgspec.Struct, frozen=True):
    """What a decider publishes after each batch: the replies by ticket; ``done`` at the end."""

    round: str
    out: list[tuple[str, list[Any]]]
    done: bool = False


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class FairStart:
    def __init__(
        self,
        gate: SeatGate,
        rounds: Callable[[], Awaitable[list[str]]],
        *,
        lease_seconds: float = 5.0,
        tick_seconds: float = 0.1,
        sweep_seconds: float = 0.5,
        lost_after_seconds: float = 3.0,
        grace_seconds: float = 120.0,
        batch: int = 128,
    ) -> None:
        self._gate = gate
        self._rounds = rounds
        self._lease_ms = int(lease_seconds * 1000)
        self._tick = tick_seconds
        self._sweep_every = sweep_seconds
        self._lost_after = lost_after_seconds
        self._grace = grace_seconds
        self._batch = batch
        #: round -> ticket -> the future its request waits on.
        self._waiting: dict[str, dict[str, asyncio.Future[list[Any]]]] = {}
        #: round -> futures of repeats waiting for the whole window to be decided.
        self._settling: dict[str, list[asyncio.Future[None]]] = {}
        self._next_check: dict[str, float] = {}
        self._redis_down_since: float | None = None
        self._stopping = asyncio.Event()
        #: Held requests this process decided (the tests read it).
        self.decided = 0

    # --- waiting -------------------------------------------------------------------------------

    def waiting(self) -> int:
        return sum(len(tickets) for tickets in self._waiting.values())

    async def outcome(self, round_id: str, held: Held) -> list[Any]:
        """The reply the decider got for the held request (the select script's). GateUnavailable
        when the window's state was lost with Redis, Redis stayed unreachable, or the request
        was not decided within a grace period after the window's end (then it may still be)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(round_id, {})[held.ticket] = future
        timeout = max(0.0, held.ends_ms / 1000 - time.time()) + self._grace
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise GateUnavailable("the held request was not decided in time") from None
        finally:
            tickets = self._waiting.get(round_id)
            if tickets is not None:
                tickets.pop(held.ticket, None)
                if not tickets:
                    del self._waiting[round_id]

    async def wait_settled(self, round_id: str, seconds: float) -> bool:
        """Wait until the round's window holds nothing undecided (at once when it has no window
        or it is decided already); False when ``seconds`` passed first."""
        settled, _ = await self._gate.held_outcomes(round_id, [])
        if settled:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settling.setdefault(round_id, []).append(future)
        try:
            await asyncio.wait_for(future, seconds)
        except TimeoutError:
            return False
        finally:
            waiters = self._settling.get(round_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._settling.pop(round_id, None)
        return True

    def _deliver(self, raw: bytes) -> None:
        try:
            message = msgspec.json.decode(raw, type=Outcomes)
        except msgspec.DecodeError:
            log.warning("a fair-start message that is not one", extra={"size": len(raw)})
            return
        tickets = self._waiting.get(message.round, {})
        for ticket, reply in message.out:
            future = tickets.get(ticket)
            if future is not None and not future.done():
                future.set_result(reply)
        if message.done:
            self._settled(message.round)

    def _settled(self, round_id: str) -> None:
        for future in self._settling.get(round_id, []):
            if not future.done():
                future.set_result(None)

    def _fail_all(self, reason: str) -> None:
        for tickets in self._waiting.values():
            for future in tickets.values():
                if not future.done():
                    future.set_exception(GateUnavailable(reason))

    async def _sweep(self) -> None:
        """What the messages may have missed: each waiting request's reply, or that its window
        is gone (lost with Redis's data: it will never be decided)."""
        for round_id in sorted(set(self._waiting) | set(self._settling)):
            tickets = list(self._waiting.get(round_id, {}))
            settled, found = await self._gate.held_outcomes(round_id, tickets)
            waiting = self._waiting.get(round_id, {})
            for ticket in tickets:
                future = waiting.get(ticket)
                if future is None or future.done():
                    continue
                if ticket not in found:
                    log.warning("a held request's window was lost", extra={"round_id": round_id})
                    future.set_exception(GateUnavailable("the fair-start window's state was lost"))
                elif (reply := found[ticket]) is not None:
                    future.set_result(reply)
            if settled:
                self._settled(round_id)

    def _redis_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._redis_down_since is None:
            self._redis_down_since = now
            log.warning("fair-start waiters lost Redis", extra={"error": repr(exc)})
        elif now - self._redis_down_since > self._lost_after and self.waiting():
            self._fail_all("Redis is unreachable; the held requests are not acknowledged")

    async def listen(self) -> None:
        """The background loop that wakes waiting requests, until ``stop()``."""
        while not self._stopping.is_set():
            pubsub = self._gate.pubsub()
            try:
                await pubsub.psubscribe(self._gate.window_channels())
                next_sweep = 0.0
                while not self._stopping.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self._sweep_every)
                    if message is not None and message.get("type") == "pmessage":
                        self._deliver(message["data"])
                    if time.monotonic() >= next_sweep:
                        await self._sweep()
                        self._redis_down_since = None
                        next_sweep = time.monotonic() + self._sweep_every
            except (RedisError, GateUnavailable, OSError) as exc:
                self._redis_failed(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 0.2)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1)  # type: ignore[no-untyped-call]

    # --- deciding ------------------------------------------------------------------------------

    async def decide(self) -> None:
        """The background loop that decides ended windows, until ``stop()``."""
        while not self._stopping.is_set():
            try:
                for round_id in await self._rounds():
                    if time.monotonic() >= self._next_check.get(round_id, 0.0):
                        await self.try_settle(round_id)
            except _TICK_FAILURES as exc:
                log.warning("fair-start decider failed; retrying", extra={"error": repr(exc)})
            except Exception:
                log.exception("fair-start decider failed unexpectedly; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._tick)

    async def try_settle(self, round_id: str) -> bool:
        """Decide the round's held requests if its window has ended and no other decider holds
        its lease; True when this call finished the window."""
        token = secrets.token_hex(12)
        lease = await self._gate.window_lease(round_id, "acquire", token, self._lease_ms)
        if not lease.granted:
            wait = {"running": min(lease.left_ms / 1000, 1.0), "busy": 0.0}.get(lease.state, 1.0)
            self._next_check[round_id] = time.monotonic() + wait
            return False
        self._next_check.pop(round_id, None)
        try:
            return await self._settle(round_id, token)
        finally:
            with contextlib.suppress(GateUnavailable):
                await self._gate.window_lease(round_id, "release", token)

    async def _settle(self, round_id: str, token: str) -> bool:
        while True:
            window = await self._gate.held_window(round_id)
            if not window.requests:
                finished = await self._gate.window_lease(round_id, "finish", token)
                if finished.granted:
                    await self._publish(Outcomes(round_id, [], done=True))
                    log.info("fair-start window decided", extra={"round_id": round_id})
                    return True
                if finished.state == "more":
                    continue
                return False
            if not window.seed:
                # The round's state is not loaded (a rebuild): the order cannot be known yet.
                self._next_check[round_id] = time.monotonic() + 0.2
                return False
            order = fair_order(window.seed, window.requests)
            for start in range(0, len(order), self._batch):
                batch = order[start : start + self._batch]
                if not (await self._gate.window_lease(round_id, "renew", token, self._lease_ms)).granted:
                    return False
                replies = await self._gate.decide_held(round_id, batch, token)
                decided: list[tuple[str, list[Any]]] = []
                stopped = False
                for request, reply in zip(batch, replies, strict=True):
                    kind = _text(reply[0])
                    if kind == "gone":
                        continue
                    if kind == "err" and _text(reply[1]) in ("lease_lost", "unavailable"):
                        stopped = True
                        break
                    decided.append((request.ticket, [_text(value) for value in reply]))
                self.decided += len(decided)
                if decided:
                    await self._publish(Outcomes(round_id, decided))
                if stopped:
                    self._next_check[round_id] = time.monotonic() + 0.2
                    return False

    async def _publish(self, outcomes: Outcomes) -> None:
        # Best effort: a waiter that misses it reads the reply on its next sweep.
        with contextlib.suppress(GateUnavailable):
            await self._gate.publish_outcomes(outcomes.round, msgspec.json.encode(outcomes))

    def stop(self) -> None:
        """Stop both loops; the requests still waiting are answered 503 (another process decides
        them; a repeat with the same Idempotency-Key gets the answer)."""
        self._stopping.set()
        self._fail_all("the process is stopping")
