"""A browser-like student for the opening rehearsal: the student pages as a phone uses them.

Where the API student (``locustfile.Student``) sends bearer-token requests, this one holds a page
session and does what ``selection/pages/static/student.js`` does:

- loads ``/`` and the round's page, and each asset they name once (the assets are immutable and
  cached: a browser fetches them once);
- polls ``/rounds/{id}/seats`` every ``LIVE_SECONDS`` (with jitter, ``If-None-Match``, asking for
  its own selections while it waits in a queue) from the moment the page is open until it leaves;
- selects, joins waitlists and drops through ``/rounds/{id}/select`` and ``/drop`` with the
  page's CSRF token and one ``Idempotency-Key`` per intent (the same key for its retries), then
  reloads its selections and the offerings list (with the list's ETag), as the page does.

Sign-in: the rehearsal serves without ``--dev`` (no development sign-in), so each browser-like
student's session is written into the service's session store before the opening, as the single
sign-on would make it (``plant_sessions``): what the load test measures starts at the first page.
"""

from __future__ import annotations

import random
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from http.cookiejar import Cookie
from typing import Any
from urllib.parse import urlencode

import gevent
import msgspec

from loadtests.journey import Drop, Journey, Seen, Select, draw_wishes, zipf_demand
from loadtests.plan import Journal, Plan

#: The page's refresh period, seconds (``selection.pages.student_pages.LIVE_SECONDS``).
LIVE_SECONDS = 5.0
#: An answer that took t seconds makes the next refresh wait at least this many times t.
SLOW_FACTOR = 20.0
SESSION_COOKIE = "selection_session"
#: As long as an idle page session lives by default (SELECTION_SESSION_IDLE_MINUTES).
SESSION_SECONDS = 30 * 60
MAX_ATTEMPTS = 4
HOME = "/ (page)"
ROUND_PAGE = "/rounds/[round] (page)"
LIST = "/rounds/[round] (list)"
ASSET = "/static/[asset]"
SEATS = "/rounds/[round]/seats"
MINE = "/rounds/[round]/mine"
PAGE_SELECT = "/rounds/[round]/select (page)"
PAGE_DROP = "/rounds/[round]/drop (page)"
CONTRACT_CODES = frozenset(
    (
        "round_not_open",
        "not_eligible",
        "offering_not_in_round",
        "course_full",
        "already_selected",
        "category_limit",
        "total_limit",
        "time_conflict",
        "drop_not_allowed",
        "wrong_mode",
        "not_found",
    )
)
_ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
_OFFERING = re.compile(r'<li class="offering([^"]*)" data-offering="([^"]+)" data-category="([^"]+)"')
_OUTCOME = re.compile(r'data-outcome="([a-z-]+)" data-code="([a-z_]*)"')
_decode_seats = msgspec.json.Decoder(dict[str, Any]).decode
#: The answers a page request counts as the service working: a 409 of the contract, a 304.
OUTCOME_STATUS = {"enrolled": 201, "waitlisted": 202, "dropped": 204}


def session_key(namespace: str, session_id: str) -> str:
    """The session's key in Redis, as the pages' store names it (``Pages.store``)."""
    return f"{namespace}page-sessions:{session_id}"


def plant_sessions(redis_url: str, namespace: str, students: Iterable[str]) -> dict[str, str]:
    """A signed-in page session per student, as the single sign-on writes it; session id by student."""
    import redis

    client = redis.Redis.from_url(redis_url)
    made: dict[str, str] = {}
    try:
        pipe = client.pipeline(transaction=False)
        for student in students:
            session_id = secrets.token_hex(32)
            user = {"sub": student, "role": "student", "name": student, "dev": False}
            pipe.set(session_key(namespace, session_id), msgspec.json.encode({"user": user}), ex=SESSION_SECONDS)
            made[student] = session_id
        pipe.execute()
    finally:
        client.close()
    return made


def host_cookie(name: str, value: str, host: str) -> Cookie:
    return Cookie(0, name, value, None, False, host, False, False, "/", True, False, None, False, None, None, {})


class BrowserStudent:
    """One student's opening through the pages, on a locust user's HTTP client."""

    def __init__(
        self,
        client: Any,
        plan: Plan,
        student_id: str,
        session_id: str,
        host: str,
        journal: Journal,
        outcomes: dict[str, int],
        demand: Callable[[list[Seen]], dict[str, float]],
        stay_seconds: float,
    ) -> None:
        self.client = client
        self.plan = plan
        self.student_id = student_id
        self.journal = journal
        self.outcomes = outcomes
        self.demand = demand
        self.stay_seconds = stay_seconds
        self.round = f"/rounds/{plan.round_id}"
        self.csrf = ""
        self.seats_etag: str | None = None
        self.list_etag: str | None = None
        self.waiting: set[str] = set()
        self.leaving = False
        self.assets: set[str] = set()
        client.cookiejar.set_cookie(host_cookie(SESSION_COOKIE, session_id, host))

    # ---- One request, judged as the service doing its job or not ----
    def request(
        self,
        method: str,
        path: str,
        name: str,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> tuple[int, bytes, Any]:
        headers = dict(headers or {})
        payload = None
        if data is not None:
            payload = urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        with self.client.request(
            method, path, name=name, headers=headers, data=payload, catch_response=True
        ) as response:
            status = int(response.status_code or 0)
            body = response.content or b""
            code = "-"
            if status >= 400 and body:
                found = _OUTCOME.search(body.decode("utf-8", "replace"))
                code = found[2] if found and found[2] else "?"
            self.outcomes[f"{name}|{status}|{code}"] = self.outcomes.get(f"{name}|{status}|{code}", 0) + 1
            if status == 0:
                self.journal.transport_errors += 1
                response.failure(f"transport error: {response.error!r}")
            elif status < 400 or status == 429 or (status in (404, 409) and code in CONTRACT_CODES):
                response.success()
            elif status >= 500:
                self.journal.server_errors += 1
                response.failure(f"{status} {code}")
            else:
                self.journal.unexpected += 1
                response.failure(f"{status} {code}")
            return status, body, response

    # ---- The pages ----
    def load(self, path: str, name: str) -> str:
        status, body, _ = self.request("GET", path, name)
        text = body.decode("utf-8", "replace") if status == 200 else ""
        found = _CSRF.search(text)
        if found:
            self.csrf = found[1]
        for asset in _ASSET.findall(text):
            if asset not in self.assets:
                self.assets.add(asset)
                self.request("GET", asset, ASSET, headers={"Accept-Encoding": "gzip"})
        return text

    def poll(self) -> None:
        """The page's live seats, while it is open."""
        rng = random.Random(f"{self.plan.seed}:{self.student_id}:poll")
        delay = LIVE_SECONDS
        while not self.leaving:
            gevent.sleep(delay * rng.uniform(0.9, 1.1))
            if self.leaving:
                return
            asked = time.monotonic()
            self.refresh_seats()
            # As the page does: a slow answer makes the next refresh wait longer (student.js).
            delay = min(max(LIVE_SECONDS, (time.monotonic() - asked) * SLOW_FACTOR), 60.0)

    def refresh_seats(self) -> None:
        headers = {"HX-Request": "true"}
        if self.seats_etag:
            headers["If-None-Match"] = self.seats_etag
        path = f"{self.round}/seats" + ("?mine=1" if self.waiting else "")
        status, body, response = self.request("GET", path, SEATS, headers=headers)
        if status == 200:
            self.seats_etag = response.headers.get("ETag")
            seen = _decode_seats(body)
            mine = {m[0]: m[1] for m in seen.get("m") or []}
            promoted = [o for o in self.waiting if mine.get(o) == "enrolled"]
            if promoted:
                self.waiting.difference_update(promoted)
                self.after_answer(promoted)

    def after_answer(self, was: list[str]) -> None:
        """What the page asks for when a seat comes by itself: its selections, then the list."""
        self.request(
            "GET", f"{self.round}/mine" + ("?was=" + ",".join(was) if was else ""), MINE, {"HX-Request": "true"}
        )
        headers = {"HX-Request": "true", "HX-Target": "offerings"}
        if self.list_etag:
            headers["If-None-Match"] = self.list_etag
        status, _, response = self.request("GET", self.round, LIST, headers=headers)
        if status == 200:
            self.list_etag = response.headers.get("ETag")

    def act(self, path: str, name: str, offering_id: str, waitlist: bool) -> tuple[int, str | None]:
        """One press: one Idempotency-Key, repeated after a 429, a 503 or a lost connection."""
        key = uuid.uuid4().hex
        headers = {"HX-Request": "true", "X-CSRF-Token": self.csrf, "Idempotency-Key": key}
        data = {"offering_id": offering_id, **({"waitlist": "1"} if waitlist else {})}
        status, code = 0, None
        for attempt in range(MAX_ATTEMPTS):
            status, body, response = self.request("POST", path, name, headers=headers, data=data)
            if status not in (0, 429, 503):
                found = _OUTCOME.search(body.decode("utf-8", "replace"))
                if found and found[1] in OUTCOME_STATUS:
                    return OUTCOME_STATUS[found[1]], None
                return status, (found[2] if found else None)
            if attempt < MAX_ATTEMPTS - 1:
                try:
                    wait = min(5.0, float(response.headers.get("Retry-After", "1")))
                except (TypeError, ValueError, AttributeError):
                    wait = 1.0
                gevent.sleep(wait)
        return status, code

    def run(self) -> None:
        self.load("/", HOME)
        text = self.load(self.round, ROUND_PAGE)
        seen = [
            Seen(offering_id=m[2], category=m[3], eligible="not-for-me" not in m[1]) for m in _OFFERING.finditer(text)
        ]
        poller = gevent.spawn(self.poll)
        try:
            self._journey(seen)
            # A student keeps the page open a while after their last press, and it keeps polling.
            gevent.sleep(self.stay_seconds)
        finally:
            self.leaving = True
            poller.kill(block=False)

    def _journey(self, seen: list[Seen]) -> None:
        plan = self.plan
        rng = random.Random(f"{plan.seed}:{self.student_id}")
        wishes = draw_wishes(seen, self.demand(seen), plan.limits, rng)
        journey = Journey(wishes, plan.limits, rng, waitlist_share=plan.waitlist_share, drop_share=plan.drop_share)
        while (action := journey.next()) is not None:
            # A person reads and presses: never faster than this.
            gevent.sleep(rng.uniform(0.5, 1.5) * max(plan.think_seconds, 1.0))
            if isinstance(action, Select):
                status, code = self.act(f"{self.round}/select", PAGE_SELECT, action.offering_id, action.waitlist)
            else:
                status, code = self.act(f"{self.round}/drop", PAGE_DROP, action.offering_id, False)
            journey.record(action, status, code)
            if status == 201:
                self.journal.enrolled += 1
            elif status == 202:
                self.journal.waitlisted += 1
                self.waiting.add(action.offering_id)
            elif status == 204 and isinstance(action, Drop):
                self.journal.dropped += 1
                self.waiting.discard(action.offering_id)
            if status in (201, 202, 204) or code in CONTRACT_CODES:
                # A change's answer carries the page's new selections and rows; the seats are asked at once.
                self.refresh_seats()
        if not journey.enrolled and not journey.waiting:
            self.journal.empty_handed += 1


def demand_for(plan: Plan) -> Callable[[list[Seen]], dict[str, float]]:
    """The plan's demand, or the Zipf ranking of what the page lists."""
    kept: dict[str, float] = dict(plan.demand)

    def demand(seen: list[Seen]) -> dict[str, float]:
        if not kept:
            kept.update(zipf_demand([s.offering_id for s in seen], plan.seed))
        return kept

    return demand


def is_browser(plan: Plan, student_id: str, share: float) -> bool:
    """Whether this student comes through the pages (a fixed draw per seed and student)."""
    return share > 0 and random.Random(f"{plan.seed}:{student_id}:browser").random() < share
