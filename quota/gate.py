"""SeatGate: the admission gate's operations, each one atomic Lua script call against Redis."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from courses.students import StudentProfile
from quota.entries import Change, decode_entry
from quota.keys import RoundKeys, student_rate_key
from quota.pipeline import LuaScript, ScriptPipeline
from quota.scripts import GateScripts

SelectMode = Literal["student", "admin", "override"]
DropMode = Literal["student", "admin"]
#: Claims outlive the 24 hours API.md promises for replays.
CLAIM_TTL_SECONDS = 25 * 3600


class GateUnavailable(Exception):
    """Redis did not answer, or the round's state is not loaded: nothing was decided."""


class OverRate(Exception):
    """The student is over the rate limit: nothing was counted as decided; retry after the wait."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"over the rate limit for {wait_seconds:.3f} s")
        self.wait_seconds = wait_seconds


class Rate(msgspec.Struct, frozen=True):
    """A per-student rate limit: ``per_second`` on average, up to ``burst`` at once."""

    per_second: int
    burst: int


class Refused(Exception):
    """A rule refused the change: ``code`` is the contract's, ``facts`` what the script saw."""

    def __init__(self, code: str, facts: dict[str, Any]) -> None:
        super().__init__(code)
        self.code = code
        self.facts = facts


class Seen(Exception):
    """The Idempotency-Key was used before, with the request whose fingerprint this is; when the
    gate refused that request, ``refusal`` is the refusal's (code, facts)."""

    def __init__(self, claim: str) -> None:
        fingerprint, _, refusal = claim.partition("\n")
        super().__init__(fingerprint)
        self.fingerprint = fingerprint
        self.refusal: tuple[str, dict[str, Any]] | None = None
        if refusal:
            code, _, facts = refusal.partition("\n")
            self.refusal = (code, msgspec.json.decode(facts) if facts else {})


class IdempotencyClaim(msgspec.Struct, frozen=True):
    key: str
    fingerprint: str


class Decision(msgspec.Struct, frozen=True):
    """What the gate did: the resulting status and the changes to commit, first the caller's."""

    status: str | None
    position: int | None
    changes: list[Change]


def now_ms() -> int:
    return int(time.time() * 1000)


def _raise_if_over_rate(reply: list[Any]) -> None:
    """A script's refusal for the rate limit (common.lua's over_rate) as OverRate."""
    if _text(reply[0]) == "err" and _text(reply[1]) == "rate_limited":
        raise OverRate(float(msgspec.json.decode(reply[2])["wait_us"]) / 1e6)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SeatGate:
    """Decides selections, drops and capacity changes of every round atomically in Redis."""

    def __init__(self, client: aioredis.Redis, namespace: str = "") -> None:
        self._redis = client
        self._namespace = namespace
        self._scripts = GateScripts.load()
        self._pipeline = ScriptPipeline(client)
        self._keys: dict[str, RoundKeys] = {}
        self._offerings: dict[str, list[str]] = {}

    def keys(self, round_id: str) -> RoundKeys:
        keys = self._keys.get(round_id)
        if keys is None:
            keys = self._keys[round_id] = RoundKeys(self._namespace, round_id)
        return keys

    def _script_keys(
        self, round_id: str, offering_id: str, student_id: str, claim: IdempotencyClaim | None
    ) -> list[str]:
        keys = self.keys(round_id)
        idem = keys.idempotency(student_id, claim.key) if claim else keys.base + "idem:-"
        return [*keys.fixed(), keys.waitlist(offering_id), idem]

    async def _run(self, script: LuaScript, keys: list[str], args: Sequence[Any]) -> list[Any]:
        try:
            reply: list[Any] = await self._pipeline.call(script, keys, args)
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc
        return reply

    async def count_request(self, round_id: str | None, student_id: str, rate: Rate) -> None:
        """Count one request against the student's rate limit; raise OverRate when over it."""
        key = self.keys(round_id).rate(student_id) if round_id else student_rate_key(self._namespace, student_id)
        _raise_if_over_rate(await self._run(self._scripts.rate, [key], (rate.per_second, rate.burst)))

    def _decision(self, round_id: str, reply: list[Any]) -> Decision:
        _raise_if_over_rate(reply)
        kind = _text(reply[0])
        if kind == "err":
            code = _text(reply[1])
            if code == "unavailable":
                raise GateUnavailable(f"the gate state of round {round_id} is not loaded")
            raise Refused(code, msgspec.json.decode(reply[2]) if len(reply) > 2 and reply[2] else {})
        if kind == "replay":
            raise Seen(_text(reply[1]))
        changes = [Change(round_id, _text(reply[i]), decode_entry(reply[i + 1])) for i in range(3, len(reply) - 1, 2)]
        status = _text(reply[1]) if reply[1] is not None else None
        position = int(reply[2]) if reply[2] is not None else None
        return Decision(status=status, position=position, changes=changes)

    async def select(
        self,
        round_id: str,
        student: StudentProfile,
        offering_id: str,
        *,
        waitlist: bool,
        mode: SelectMode,
        actor: str,
        role: str,
        claim: IdempotencyClaim | None = None,
        rate: Rate | None = None,
    ) -> Decision:
        """Decide a selection; with ``rate``, the request first counts against the student's rate
        limit in the same script (OverRate when over it)."""
        profile = msgspec.json.encode([student.cohort, student.degree, student.campus])
        reply = await self._run(
            self._scripts.select,
            [*self._script_keys(round_id, offering_id, student.id, claim), self.keys(round_id).rate(student.id)],
            (
                student.id,
                offering_id,
                profile,
                "1" if waitlist else "0",
                now_ms(),
                mode,
                actor,
                role,
                "1" if claim else "0",
                claim.fingerprint if claim else "",
                CLAIM_TTL_SECONDS,
                claim.key if claim else "",
                rate.per_second if rate else 0,
                rate.burst if rate else 0,
            ),
        )
        return self._decision(round_id, reply)

    async def drop(
        self,
        round_id: str,
        student_id: str,
        offering_id: str,
        *,
        mode: DropMode,
        actor: str,
        role: str,
        claim: IdempotencyClaim | None = None,
    ) -> Decision:
        waitlists = await self._round_offerings(round_id)
        keys = self.keys(round_id)
        reply = await self._run(
            self._scripts.drop,
            [*self._script_keys(round_id, offering_id, student_id, claim), *(keys.waitlist(o) for o in waitlists)],
            (
                student_id,
                offering_id,
                now_ms(),
                mode,
                actor,
                role,
                "1" if claim else "0",
                claim.fingerprint if claim else "",
                CLAIM_TTL_SECONDS,
                claim.key if claim else "",
                *waitlists,
            ),
        )
        return self._decision(round_id, reply)

    async def _round_offerings(self, round_id: str) -> list[str]:
        """The round's offering ids (fixed once the round exists), read once from its catalog."""
        offerings = self._offerings.get(round_id)
        if offerings is None:
            try:
                raw = await self._redis.hkeys(self.keys(round_id).catalog)
            except RedisError as exc:
                raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc
            offerings = sorted(_text(o) for o in raw)
            if offerings:
                self._offerings[round_id] = offerings
        return offerings

    async def set_capacity(
        self, round_id: str, offering_id: str, capacity: int, *, actor: str, dry_run: bool = False
    ) -> Decision:
        """Refuses a cut below the seats taken; a raise promotes at once (unless ``dry_run``)."""
        reply = await self._run(
            self._scripts.capacity,
            self._script_keys(round_id, offering_id, "-", None),
            (offering_id, capacity, now_ms(), actor, "1" if dry_run else "0"),
        )
        return self._decision(round_id, reply)

    async def live_counts(self, round_id: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """(capacity, enrolled, waiting) per offering, read in one round trip (callers that can
        take a reading a fraction of a second old share one: selection/live_seats.py)."""
        keys = self.keys(round_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hget(keys.meta, "loaded")
                pipe.hgetall(keys.capacity)
                pipe.hgetall(keys.enrolled)
                pipe.hgetall(keys.waiting)
                loaded, cap, enr, wlc = await pipe.execute()
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc
        if loaded != b"1":
            raise GateUnavailable(f"the gate state of round {round_id} is not loaded")

        def ints(raw: dict[bytes, bytes]) -> dict[str, int]:
            return {k.decode(): int(v) for k, v in raw.items()}

        return ints(cap), ints(enr), ints(wlc)

    async def loaded_generation(self, round_id: str) -> int | None:
        """The generation of the round's loaded state, or None when it is not loaded."""
        try:
            loaded, gen = await self._redis.hmget(self.keys(round_id).meta, ["loaded", "gen"])
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc
        return int(gen) if loaded == b"1" and gen is not None else None

    async def loaded_state(self, round_id: str) -> tuple[int | None, str | None]:
        """(generation, round state) of the loaded gate state; (None, None) when not loaded."""
        try:
            loaded, gen, state = await self._redis.hmget(self.keys(round_id).meta, ["loaded", "gen", "state"])
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc
        if loaded != b"1" or gen is None:
            return None, None
        return int(gen), _text(state) if state is not None else None

    async def set_round_state(self, round_id: str, state: str) -> None:
        try:
            await self._redis.hset(self.keys(round_id).meta, "state", state)
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc

    async def set_catalog_entry(self, round_id: str, offering_id: str, entry_json: bytes) -> None:
        try:
            await self._redis.hset(self.keys(round_id).catalog, offering_id, entry_json)
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc

    async def acknowledge(self, changes: Sequence[Change]) -> None:
        """Remove committed entries from the redo streams (best effort: recovery re-commits)."""
        by_round: dict[str, list[str]] = {}
        for change in changes:
            by_round.setdefault(change.round_id, []).append(change.stream_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for round_id, ids in by_round.items():
                    pipe.xdel(self.keys(round_id).redo, *ids)
                await pipe.execute()
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc

    async def pending(
        self, round_id: str, older_than_ms: int | None, count: int = 1000, *, after: str | None = None
    ) -> list[Change]:
        """Entries still in the round's redo stream (only those older than ``older_than_ms`` ago),
        from the start or from just after the entry ``after``."""
        upper = "+" if older_than_ms is None else str(max(0, now_ms() - older_than_ms))
        lower = "-" if after is None else "(" + after
        try:
            raw: list[tuple[bytes, dict[bytes, bytes]]] = await self._redis.xrange(  # type: ignore[assignment]
                self.keys(round_id).redo, lower, upper, count=count
            )
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc
        return [Change(round_id, _text(sid), decode_entry(fields[b"e"])) for sid, fields in raw or []]
