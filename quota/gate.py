"""SeatGate: the admission gate's operations, each one atomic Lua script call against Redis.

Every Redis failure of every operation leaves through one door (``_unavailable``): the caller
sees ``GateUnavailable`` and knows that nothing was decided.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quota.entries import Change, decode_entry
from quota.fair_start import HeldRequest, decode_held
from quota.intents import CLAIM_TTL_SECONDS, DropIntent, IdempotencyClaim, Rate, SelectIntent
from quota.keys import RoundKeys, student_rate_key
from quota.loader import RoundSnapshot
from quota.outcomes import Decision, GateUnavailable, Held, Holding, OverRate, Refused, Seen
from quota.pipeline import LuaScript, ScriptPipeline
from quota.scripts import GateScripts

P = ParamSpec("P")
R = TypeVar("R")

#: (capacity, enrolled, waiting) per offering.
SeatCounts = tuple[dict[str, int], dict[str, int], dict[str, int]]


class Attempt(msgspec.Struct, frozen=True):
    """A student's select of an offering that reached the offering's rules, as the gate noted it."""

    #: The hash field it is kept under in the gate.
    field: str
    student_id: str
    offering_id: str
    #: When the student first tried it: milliseconds since the epoch, on the gate's clock.
    first_ms: int


class WindowLease(msgspec.Struct, frozen=True):
    """What the window script answered: whether the lease was given (or kept), and the window's
    state (``none``, ``running``, ``done``, ``busy``, ``taken``, ``lost``, ``more``, ...)."""

    granted: bool
    state: str
    #: For ``running``: how long until the window ends, in ms.
    left_ms: int = 0


class HeldWindow(msgspec.Struct, frozen=True):
    """What a round's window holds: the seed of its order, and the requests still undecided."""

    seed: str
    requests: list[HeldRequest]


class LoadedState(msgspec.Struct, frozen=True, kw_only=True):
    """What a round's loaded gate state says of itself, to compare with PostgreSQL's record."""

    generation: int
    #: The last sequence number the gate handed out.
    seq: int
    state: str
    state_version: int
    #: ``quota.loader.LAYOUT`` of the release that loaded it; 0 for a state older than layouts.
    layout: int


def _unavailable(
    operation: Callable[Concatenate[SeatGate, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[SeatGate, P], Coroutine[Any, Any, R]]:
    """The gate's one translation of a Redis failure: nothing was decided, the store is unreachable."""

    @functools.wraps(operation)
    async def guarded(gate: SeatGate, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await operation(gate, *args, **kwargs)
        except RedisError as exc:
            raise GateUnavailable(f"Redis: {type(exc).__name__}") from exc

    return guarded


def now_ms() -> int:
    return int(time.time() * 1000)


def _raise_if_over_rate(reply: list[Any]) -> None:
    """A script's refusal for the rate limit (common.lua's over_rate) as OverRate."""
    if _text(reply[0]) == "err" and _text(reply[1]) == "rate_limited":
        raise OverRate(float(msgspec.json.decode(reply[2])["wait_us"]) / 1e6)


def category_index(catalog: dict[str, bytes]) -> dict[str, bytes]:
    """The round's offering ids by category, each list in the round's order (then by id): the
    select script reads one category's list to find a course_full's alternatives without
    decoding the whole catalog."""
    by_category: dict[str, list[tuple[int, str]]] = {}
    for offering_id, raw in catalog.items():
        entry = msgspec.json.decode(raw)
        by_category.setdefault(entry["c"], []).append((int(entry.get("i", -1)), offering_id))
    return {
        category: msgspec.json.encode([offering_id for _, offering_id in sorted(ids)])
        for category, ids in by_category.items()
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _claim_args(claim: IdempotencyClaim | None) -> tuple[str, str, int, str]:
    """The four script arguments of an Idempotency-Key claim: used, fingerprint, ttl, key."""
    if claim is None:
        return "0", "", CLAIM_TTL_SECONDS, ""
    return "1", claim.fingerprint, CLAIM_TTL_SECONDS, claim.key


class SeatGate:
    """Decides selections, drops and capacity changes of every round atomically in Redis."""

    def __init__(self, client: aioredis.Redis, namespace: str = "") -> None:
        self._redis = client
        self._namespace = namespace
        self._scripts = GateScripts.load()
        self._pipeline = ScriptPipeline(client)
        self._keys: dict[str, RoundKeys] = {}
        self._offerings: dict[str, list[str]] = {}
        #: Per round, the highest sequence number this process has seen: a gate state below it
        #: went back in time, and the scripts refuse to decide on it (common.lua's loaded_meta).
        self._floors: dict[str, int] = {}

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

    @_unavailable
    async def _run(self, script: LuaScript, keys: list[str], args: Sequence[Any]) -> list[Any]:
        reply: list[Any] = await self._pipeline.call(script, keys, args)
        return reply

    # --- decisions -----------------------------------------------------------------------------

    async def count_request(self, round_id: str | None, student_id: str, rate: Rate) -> None:
        """Count one request against the student's rate limit; raise OverRate when over it."""
        key = self.keys(round_id).rate(student_id) if round_id else student_rate_key(self._namespace, student_id)
        _raise_if_over_rate(await self._run(self._scripts.rate, [key], (rate.per_second, rate.burst)))

    def floor(self, round_id: str) -> int:
        """The highest sequence number of the round this process has seen (0: none)."""
        return self._floors.get(round_id, 0)

    def raise_floor(self, round_id: str, seq: int) -> None:
        """Remember that the round's sequence has reached ``seq`` (PostgreSQL committed it, or
        this process saw the gate hand it out)."""
        if seq > self._floors.get(round_id, 0):
            self._floors[round_id] = seq

    def _decision(self, round_id: str, reply: list[Any]) -> Decision:
        _raise_if_over_rate(reply)
        kind = _text(reply[0])
        if kind == "err":
            code = _text(reply[1])
            if code == "unavailable":
                raise GateUnavailable(f"the gate state of round {round_id} is not loaded or went back in time")
            raise Refused(code, msgspec.json.decode(reply[2]) if len(reply) > 2 and reply[2] else {})
        if kind == "replay":
            raise Seen(_text(reply[1]))
        if kind == "held":
            raise Held(_text(reply[1]), int(reply[2]))
        changes = [Change(round_id, _text(reply[i]), decode_entry(reply[i + 1])) for i in range(3, len(reply) - 1, 2)]
        if changes:
            self.raise_floor(round_id, max(change.entry.seq for change in changes))
        status = _text(reply[1]) if reply[1] is not None else None
        position = int(reply[2]) if reply[2] is not None else None
        return Decision(status=status, position=position, changes=changes)

    def outcome(self, round_id: str, reply: list[Any]) -> Decision:
        """The decision of a held select, from the reply the window's decider got for it: a
        Decision, or the exception the select would have raised (Refused, GateUnavailable)."""
        # Kept as JSON by the script (cjson writes Lua's false for "no position"), or as Redis
        # sent it to the decider (nil): the same reply either way.
        return self._decision(round_id, [None if value is False else value for value in reply])

    def _select_keys(
        self, round_id: str, offering_id: str, student_id: str, claim: IdempotencyClaim | None
    ) -> list[str]:
        keys = self.keys(round_id)
        return [
            *self._script_keys(round_id, offering_id, student_id, claim),
            keys.rate(student_id),
            *keys.fair_start.select_keys(),
            keys.attempts,
            keys.categories,
        ]

    async def select(self, intent: SelectIntent) -> Decision:
        """Decide a selection; with ``intent.rate``, the request first counts against the
        student's rate limit in the same script (OverRate when over it). In a fair-start window
        a student's select is held instead (Held), and decided when the window ends."""
        student, rate = intent.student, intent.rate
        profile = msgspec.json.encode([student.cohort, student.degree, student.campus])
        reply = await self._run(
            self._scripts.select,
            self._select_keys(intent.round_id, intent.offering_id, student.id, intent.claim),
            (
                student.id,
                intent.offering_id,
                profile,
                _flag(intent.waitlist),
                intent.mode,
                intent.actor,
                intent.role,
                *_claim_args(intent.claim),
                rate.per_second if rate else 0,
                rate.burst if rate else 0,
                self.floor(intent.round_id),
                secrets.token_hex(12),
                "",
            ),
        )
        return self._decision(intent.round_id, reply)

    # --- the fair-start window -----------------------------------------------------------------

    async def window_lease(self, round_id: str, op: str, token: str, ttl_ms: int = 5000) -> WindowLease:
        """The window decider's lease: ``acquire`` (only once the window has ended, with held
        requests undecided), ``renew``, ``release``, ``finish`` (ends the window for good, unless
        a request is held still)."""
        keys = self.keys(round_id)
        fs = keys.fair_start
        reply = await self._run(
            self._scripts.window, [keys.meta, fs.window, fs.held, fs.outcomes, fs.count], (op, token, ttl_ms)
        )
        return WindowLease(
            granted=int(reply[1]) == 1, state=_text(reply[2]), left_ms=int(reply[3]) if len(reply) > 3 else 0
        )

    @_unavailable
    async def held_window(self, round_id: str) -> HeldWindow:
        """The window's seed and every request it still holds (in no order)."""
        keys = self.keys(round_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(keys.meta, "fs_seed")
            pipe.hgetall(keys.fair_start.held)
            seed, held = await pipe.execute()
        return HeldWindow(
            seed=_text(seed) if seed is not None else "",
            requests=[decode_held(_text(ticket), raw) for ticket, raw in held.items()],
        )

    @_unavailable
    async def decide_held(self, round_id: str, requests: Sequence[HeldRequest], lease: str) -> list[Any]:
        """Decide held requests through the select script, in the given order, under the
        window's lease: one round trip, and Redis runs the calls in this order. Returns each
        call's reply ({'gone'} for one decided already; an 'err' 'lease_lost' or 'unavailable'
        for one not decided, after which none of the rest is)."""
        script = self._scripts.select
        await self._redis.script_load(script.source)
        floor = self.floor(round_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for held in requests:
                claim = IdempotencyClaim(held.key, held.fp) if held.idem == "1" else None
                keys = self._select_keys(round_id, held.offering, held.student, claim)
                args = (
                    held.student, held.offering, held.profile, held.waitlist, "student", held.actor, held.role,
                    "2" if claim else "0", held.fp, CLAIM_TTL_SECONDS, held.key, 0, 0, floor, held.ticket, lease,
                )  # fmt: skip
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return [
            [b"err", b"unavailable", str(reply).encode()] if isinstance(reply, Exception) else reply
            for reply in replies
        ]

    @_unavailable
    async def held_outcomes(self, round_id: str, tickets: Sequence[str]) -> tuple[bool, dict[str, list[Any] | None]]:
        """Whether the window is settled (every held request decided, or nothing of it left),
        and per ticket its reply, or None while it is held still; a ticket in neither (the
        window's state was lost with Redis) is left out."""
        fs = self.keys(round_id).fair_start
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(fs.window, "done")
            pipe.exists(fs.window)
            if tickets:
                pipe.hmget(fs.held, list(tickets))
                pipe.hmget(fs.outcomes, list(tickets))
            answers = await pipe.execute()
        settled = answers[0] == b"1" or not answers[1]
        found: dict[str, list[Any] | None] = {}
        if tickets:
            for ticket, held, out in zip(tickets, answers[2], answers[3], strict=True):
                if out is not None:
                    found[ticket] = msgspec.json.decode(out)
                elif held is not None:
                    found[ticket] = None
        return settled, found

    @_unavailable
    async def publish_outcomes(self, round_id: str, message: bytes) -> None:
        await self._redis.publish(self.keys(round_id).fair_start.channel, message)

    def window_channels(self) -> str:
        """The pattern of every round's window channel (the waiters subscribe once for all)."""
        return self._namespace + "{round:*}:fs:ch"

    def pubsub(self) -> aioredis.client.PubSub:
        return self._redis.pubsub()

    async def drop(self, intent: DropIntent) -> Decision:
        """Free a seat or a waitlist place; a freed seat promotes in the same script."""
        waitlists = await self._round_offerings(intent.round_id)
        keys = self.keys(intent.round_id)
        reply = await self._run(
            self._scripts.drop,
            [
                *self._script_keys(intent.round_id, intent.offering_id, intent.student_id, intent.claim),
                *(keys.waitlist(o) for o in waitlists),
            ],
            (
                intent.student_id,
                intent.offering_id,
                self.floor(intent.round_id),
                intent.mode,
                intent.actor,
                intent.role,
                *_claim_args(intent.claim),
                *waitlists,
            ),
        )
        return self._decision(intent.round_id, reply)

    @_unavailable
    async def _round_offerings(self, round_id: str) -> list[str]:
        """The round's offering ids (fixed once the round exists), read once from its catalog."""
        offerings = self._offerings.get(round_id)
        if offerings is None:
            raw = await self._redis.hkeys(self.keys(round_id).catalog)
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
            (offering_id, capacity, self.floor(round_id), actor, _flag(dry_run)),
        )
        return self._decision(round_id, reply)

    async def release_claims(self, changes: Sequence[Change]) -> int:
        """Release the Idempotency-Key claims of changes PostgreSQL refused for good; returns how
        many were released (a claim made since by another request is kept)."""
        released = 0
        by_round: dict[str, list[Change]] = {}
        for change in changes:
            if change.entry.idem is not None and change.entry.fp is not None:
                by_round.setdefault(change.round_id, []).append(change)
        for round_id, claimed in by_round.items():
            keys = self.keys(round_id)
            claim_keys = [keys.idempotency(c.entry.student, c.entry.idem or "") for c in claimed]
            reply = await self._run(
                self._scripts.release,
                [*keys.fixed(), keys.base + "wl:-", keys.base + "idem:-", *claim_keys],
                [c.entry.fp or "" for c in claimed],
            )
            released += int(reply[1])
        return released

    # --- reads ---------------------------------------------------------------------------------

    @_unavailable
    async def live_counts(self, round_id: str) -> SeatCounts:
        """(capacity, enrolled, waiting) per offering, read in one round trip."""
        keys = self.keys(round_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.meta, "loaded")
            pipe.hgetall(keys.capacity)
            pipe.hgetall(keys.enrolled)
            pipe.hgetall(keys.waiting)
            loaded, cap, enr, wlc = await pipe.execute()
        if loaded != b"1":
            raise GateUnavailable(f"the gate state of round {round_id} is not loaded")

        def ints(raw: dict[bytes, bytes]) -> dict[str, int]:
            return {k.decode(): int(v) for k, v in raw.items()}

        return ints(cap), ints(enr), ints(wlc)

    @_unavailable
    async def holding(self, round_id: str, student_id: str) -> list[Holding] | None:
        """What the student holds in the round by the gate's own count, each waitlist place with
        its position; None while the round's gate state is not loaded (ask PostgreSQL then).
        One round trip, two when the student waits for something."""
        keys = self.keys(round_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.meta, "loaded")
            pipe.hget(keys.holdings, student_id)
            loaded, raw = await pipe.execute()
        if loaded != b"1":
            return None
        held: dict[str, str] = msgspec.json.decode(raw)["o"] if raw is not None else {}
        waiting = [offering for offering, status in held.items() if status == "w"]
        ranks: list[int | None] = []
        if waiting:
            async with self._redis.pipeline(transaction=False) as pipe:
                for offering in waiting:
                    pipe.zrank(keys.waitlist(offering), student_id)
                ranks = await pipe.execute()
        positions = {o: r + 1 for o, r in zip(waiting, ranks, strict=True) if r is not None}
        return [
            Holding(offering, "enrolled" if status == "e" else "waitlisted", positions.get(offering))
            for offering, status in held.items()
            if status in ("e", "w")
        ]

    async def loaded_generation(self, round_id: str) -> int | None:
        """The generation of the round's loaded state, or None when it is not loaded."""
        loaded = await self.loaded_state(round_id)
        return loaded.generation if loaded is not None else None

    @_unavailable
    async def loaded_state(self, round_id: str) -> LoadedState | None:
        """What the round's loaded gate state says of itself; None when it is not loaded."""
        loaded, gen, seq, state, version, layout = await self._redis.hmget(
            self.keys(round_id).meta, ["loaded", "gen", "seq", "state", "state_v", "layout"]
        )
        if loaded != b"1" or gen is None:
            return None
        return LoadedState(
            generation=int(gen),
            seq=int(seq or 0),
            state=_text(state) if state is not None else "",
            state_version=int(version or 0),
            layout=int(layout or 0),
        )

    @_unavailable
    async def installed_generation(self, round_id: str) -> int | None:
        """The generation of the round's state in Redis, published or not; None when none."""
        gen = await self._redis.hget(self.keys(round_id).meta, "gen")
        return int(gen) if gen is not None else None

    async def eviction_policy(self) -> str | None:
        """Redis's ``maxmemory-policy``; None where CONFIG is not allowed (a managed Redis)."""
        try:
            policy = await self._redis.config_get("maxmemory-policy")
        except RedisError:
            return None
        value = policy.get("maxmemory-policy")
        return _text(value) if value is not None else None

    @_unavailable
    async def ping(self) -> None:
        await self._redis.ping()

    @_unavailable
    async def pending(
        self, round_id: str, older_than_ms: int | None, count: int = 1000, *, after: str | None = None
    ) -> list[Change]:
        """Entries still in the round's redo stream (only those older than ``older_than_ms`` ago),
        from the start or from just after the entry ``after``."""
        upper = "+" if older_than_ms is None else str(max(0, now_ms() - older_than_ms))
        lower = "-" if after is None else "(" + after
        raw: list[tuple[bytes, dict[bytes, bytes]]] = await self._redis.xrange(  # type: ignore[assignment]
            self.keys(round_id).redo, lower, upper, count=count
        )
        return [Change(round_id, _text(sid), decode_entry(fields[b"e"])) for sid, fields in raw or []]

    # --- attempts, for the fairness report ------------------------------------------------------

    @_unavailable
    async def attempts(self, round_id: str) -> list[Attempt]:
        """The attempts the select script noted in the round and nobody copied yet."""
        found: dict[str, Attempt] = {}
        async for field, value in self._redis.hscan_iter(self.keys(round_id).attempts, count=1000):
            name = _text(field)
            student_id, _, offering_id = name.partition("\t")
            # HSCAN may return a field twice (the hash grew meanwhile): kept once.
            found[name] = Attempt(name, student_id, offering_id, int(value))
        return list(found.values())

    @_unavailable
    async def forget_attempts(self, round_id: str, attempts: Sequence[Attempt]) -> None:
        """Delete copied attempts; one tried again afterwards is noted again, with a later time."""
        key = self.keys(round_id).attempts
        for start in range(0, len(attempts), 1000):
            await self._redis.hdel(key, *(a.field for a in attempts[start : start + 1000]))

    # --- keeping the state in step with PostgreSQL -----------------------------------------------

    async def set_round_state(
        self, round_id: str, state: str, version: int, window: Mapping[str, str] | None = None
    ) -> bool:
        """Take the round's state from PostgreSQL's version ``version``, unless the gate holds
        a newer one already; True when taken. ``window``: the meta fields that come with that
        version (``quota.loader.versioned_meta``: the closing time, the fair-start window's), taken
        with the state: a moved closing time holds from the next request on, and the opening that
        starts a window holds its first selects from its first moment, with no rebuild between."""
        pairs = [item for field in sorted((window or {}).items()) for item in field]
        reply = await self._run(self._scripts.state, self.keys(round_id).fixed(), (state, version, *pairs))
        return bool(int(reply[1]))

    async def publish(self, round_id: str, generation: int) -> bool:
        """Mark the installed state of ``generation`` loaded (after PostgreSQL committed that
        generation); False when Redis holds another generation by now."""
        reply = await self._run(self._scripts.publish, self.keys(round_id).fixed(), (generation,))
        return bool(int(reply[1]))

    @_unavailable
    async def set_catalog_entry(self, round_id: str, offering_id: str, entry_json: bytes) -> None:
        """Replace an offering's catalog entry; its category may have changed, so the round's
        category index is rebuilt from the catalog as it is now."""
        keys = self.keys(round_id)
        await self._redis.hset(keys.catalog, offering_id, entry_json)
        raw: dict[Any, Any] = await self._redis.hgetall(keys.catalog)
        index = category_index({_text(k): v for k, v in raw.items()})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.categories)
            if index:
                pipe.hset(keys.categories, mapping=index)  # type: ignore[arg-type]
            await pipe.execute()

    @_unavailable
    async def acknowledge(self, changes: Sequence[Change]) -> None:
        """Remove committed entries from the redo streams (best effort: recovery re-commits)."""
        by_round: dict[str, list[str]] = {}
        for change in changes:
            by_round.setdefault(change.round_id, []).append(change.stream_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for round_id, ids in by_round.items():
                pipe.xdel(self.keys(round_id).redo, *ids)
            await pipe.execute()

    @_unavailable
    async def stop_decisions(self, round_id: str) -> None:
        """Make the round's scripts answer ``unavailable`` until its state is installed again."""
        meta = self.keys(round_id).meta
        if await self._redis.exists(meta):
            await self._redis.hset(meta, "loaded", "0")

    @_unavailable
    async def install(self, snapshot: RoundSnapshot) -> None:
        """Replace the round's whole state with ``snapshot``, in one Redis transaction, not yet
        loaded: no script decides on it until ``publish`` (after PostgreSQL has committed the
        snapshot's generation)."""
        keys = self.keys(snapshot.round_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys.state_keys(list(snapshot.catalog)))
            pipe.hset(keys.meta, mapping={**snapshot.meta, "loaded": "0"})  # type: ignore[dict-item]
            if snapshot.catalog:
                pipe.hset(keys.catalog, mapping=snapshot.catalog)  # type: ignore[arg-type]
                pipe.hset(keys.categories, mapping=category_index(snapshot.catalog))  # type: ignore[arg-type]
                pipe.hset(keys.capacity, mapping=snapshot.capacity)  # type: ignore[arg-type]
                pipe.hset(keys.enrolled, mapping=snapshot.enrolled)  # type: ignore[arg-type]
                pipe.hset(keys.waiting, mapping=snapshot.waiting)  # type: ignore[arg-type]
            if snapshot.holdings:
                pipe.hset(keys.holdings, mapping=snapshot.holdings)  # type: ignore[arg-type]
            for offering, queue in snapshot.queues.items():
                pipe.zadd(keys.waitlist(offering), queue)
            for claim in snapshot.claims:
                pipe.set(keys.idempotency(claim.student_id, claim.key), claim.fingerprint, ex=claim.ttl_seconds)
            await pipe.execute()
