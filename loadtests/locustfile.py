"""A round's opening under locust: every student arrives, browses once, selects their wishes.

Run by ``python -m loadtests.opening`` (``make loadtest``) as its own process:

    locust -f loadtests/locustfile.py --headless --plan PLAN.json --journal OUT.json ...

A 409 with a contract ``code`` is the service doing its job and counts as a success; a 5xx, a
transport error or any other 4xx is a failure. Each user plays one student once, then stops;
when every student is done the run ends by itself.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
import msgspec
from locust import FastHttpUser, constant, events, task
from locust import stats as locust_stats
from locust.exception import StopUser

from loadtests.browser_user import BrowserStudent, demand_for, is_browser, plant_sessions
from loadtests.journey import Drop, Journey, Seen, Select, draw_wishes, zipf_demand
from loadtests.keepalive import keep_connections_alive
from loadtests.plan import Journal, Plan, read_plan, write_journal
from loadtests.tokens import mint

keep_connections_alive()

# The stats history's percentiles cover this many trailing seconds; locust's default of ten
# would smear a burst that lasts twenty.
locust_stats.CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW = 2

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
    )
)
MAX_ATTEMPTS = 4
#: Seconds between the start of spawning and the first student's arrival.
ARRIVAL_LEAD_S = 1.0
BROWSE = "/api/v1/rounds/[round]/offerings"
SELECT = "/api/v1/rounds/[round]/selections"
DROP = "/api/v1/rounds/[round]/selections/[offering]"


class _Problem(msgspec.Struct):
    code: str = "-"


_decode_offerings = msgspec.json.Decoder(list[Seen]).decode
_decode_problem = msgspec.json.Decoder(_Problem).decode


class _Run:
    """State shared by every user of this process (one gevent thread: no locks needed)."""

    def __init__(self) -> None:
        self.plan: Plan | None = None
        self.journal_path: Path | None = None
        #: Each student's Authorization header, minted before the first arrival: students log in
        #: before the round opens, and the opening's seconds are the load generator's to spend.
        self.authorization: dict[str, str] = {}
        self.next_student = 0
        #: When the first student is due (Unix time): a moment after the spawning starts.
        self.opening_at = 0.0
        self.expected = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self.last_done: float | None = None
        self.outcomes: Counter[str] = Counter()
        self.journal = Journal(students_planned=0)
        self.demand: dict[str, float] = {}
        #: Session id of each student who comes through the pages (--browser-share).
        self.browser_sessions: dict[str, str] = {}
        self.browser_stay_seconds = 30.0


RUN = _Run()


def _options(parser: Any) -> None:
    parser.add_argument("--plan", type=str, required=True, help="The plan JSON written by loadtests.opening")
    parser.add_argument("--journal", type=str, required=True, help="Where to write the run's journal JSON")
    parser.add_argument("--max-p99-ms", type=float, default=0.0, help="Exit code 3 when p99 is above (0: none)")
    parser.add_argument("--browser-share", type=float, default=0.0, help="Share of students using the pages")
    parser.add_argument(
        "--browser-stay-seconds", type=float, default=30.0, help="A page kept open after the last press"
    )


def _start(environment: Any, **_: Any) -> None:
    import os

    options = environment.parsed_options
    RUN.plan = read_plan(Path(options.plan))
    RUN.journal_path = Path(options.journal)
    secret = os.environ["SELECTION_JWT_SECRET"]
    RUN.expected = min(len(RUN.plan.students), int(options.num_users or 0))
    RUN.authorization = {s: "Bearer " + mint(secret, s) for s in RUN.plan.students[: RUN.expected]}
    RUN.journal = Journal(students_planned=RUN.expected)
    share = float(getattr(options, "browser_share", 0.0) or 0.0)
    browsing = [s for s in RUN.plan.students[: RUN.expected] if is_browser(RUN.plan, s, share)]
    if browsing:
        # Signed in before the opening, as the single sign-on would have done it.
        RUN.browser_sessions = plant_sessions(
            os.environ["SELECTION_REDIS_URL"], os.environ.get("SELECTION_REDIS_NAMESPACE", ""), browsing
        )
        RUN.browser_stay_seconds = float(options.browser_stay_seconds)
    RUN.opening_at = time.time() + ARRIVAL_LEAD_S
    gevent.spawn(_stop_when_done, environment)


def _stop_when_done(environment: Any) -> None:
    while RUN.journal.students_done + RUN.journal.students_interrupted < RUN.expected:
        gevent.sleep(0.1)
    environment.runner.quit()


def _quitting(environment: Any, **_: Any) -> None:
    journal = RUN.journal
    journal.outcomes = dict(RUN.outcomes)
    if RUN.first_arrival is not None:
        if RUN.last_arrival is not None:
            journal.last_arrival_s = round(RUN.last_arrival - RUN.first_arrival, 3)
        if RUN.last_done is not None and journal.students_done >= RUN.expected:
            journal.all_done_s = round(RUN.last_done - RUN.first_arrival, 3)
    if RUN.journal_path is not None:
        write_journal(journal, RUN.journal_path)
    total = environment.stats.total
    limit = float(getattr(environment.parsed_options, "max_p99_ms", 0.0) or 0.0)
    if total.num_failures:
        environment.process_exit_code = 1
    elif limit and total.num_requests and total.get_response_time_percentile(0.99) > limit:
        environment.process_exit_code = 3


# locust's event hooks are untyped; registering through Any keeps the handlers' own types checked.
_hooks: Any = events
_hooks.init_command_line_parser.add_listener(_options)
_hooks.test_start.add_listener(_start)
_hooks.quitting.add_listener(_quitting)


class Student(FastHttpUser):
    """One student at the opening; the round, the students and popularity come from the plan."""

    wait_time = constant(0)
    # One connection per student, as browsers keep one; a connection refused is an error, not a wait.
    concurrency = 1
    connection_timeout = 30.0
    network_timeout = 30.0

    student_id: str | None = None

    def on_start(self) -> None:
        plan = RUN.plan
        assert plan is not None
        if RUN.next_student >= RUN.expected:
            raise StopUser()
        index = RUN.next_student
        self.student_id = plan.students[index]
        RUN.next_student += 1
        if plan.arrivals_per_s:
            gevent.sleep(max(0.0, RUN.opening_at + index / plan.arrivals_per_s - time.time()))
        now = time.time()
        RUN.journal.arrivals.append(now)
        RUN.first_arrival = RUN.first_arrival or now
        RUN.last_arrival = now
        RUN.journal.students_started += 1
        self._auth = RUN.authorization[self.student_id]
        self._base = f"/api/v1/rounds/{plan.round_id}"

    @task
    def opening(self) -> None:
        plan = RUN.plan
        assert plan is not None
        try:
            session = RUN.browser_sessions.get(self.student_id or "")
            if session is not None:
                self._browse_pages(plan, session)
            else:
                self._journey(plan)
        except BaseException:
            # Stopped at --run-time (GreenletExit) or broken: this student did not finish.
            RUN.journal.students_interrupted += 1
            raise
        RUN.journal.students_done += 1
        RUN.last_done = time.time()
        RUN.journal.finishes.append(RUN.last_done)
        raise StopUser()

    def _browse_pages(self, plan: Plan, session: str) -> None:
        """The opening through the student pages (loadtests/browser_user.py)."""
        assert self.student_id is not None
        BrowserStudent(
            self.client,
            plan,
            self.student_id,
            session,
            urlsplit(str(self.host)).hostname or "127.0.0.1",
            RUN.journal,
            RUN.outcomes,
            demand_for(plan),
            RUN.browser_stay_seconds,
        ).run()

    def _journey(self, plan: Plan) -> None:
        status, body = self._call("GET", self._base + "/offerings", BROWSE)
        if status != 200:
            return
        seen = _decode_offerings(body)
        if not RUN.demand:
            RUN.demand = plan.demand or zipf_demand([s.offering_id for s in seen], plan.seed)
        rng = random.Random(f"{plan.seed}:{self.student_id}")
        wishes = draw_wishes(seen, RUN.demand, plan.limits, rng)
        journey = Journey(wishes, plan.limits, rng, waitlist_share=plan.waitlist_share, drop_share=plan.drop_share)
        while (action := journey.next()) is not None:
            if plan.think_seconds:
                gevent.sleep(rng.uniform(0.5, 1.5) * plan.think_seconds)
            if isinstance(action, Select):
                status, body = self._call(
                    "POST",
                    self._base + "/selections",
                    SELECT,
                    {"offering_id": action.offering_id, "waitlist": action.waitlist},
                )
            else:
                status, body = self._call("DELETE", f"{self._base}/selections/{action.offering_id}", DROP)
            code = _decode_problem(body).code if status >= 400 and body else None
            journey.record(action, status, code)
            if status == 201:
                RUN.journal.enrolled += 1
            elif status == 202:
                RUN.journal.waitlisted += 1
            elif status == 204 and isinstance(action, Drop):
                RUN.journal.dropped += 1
        if not journey.enrolled and not journey.waiting:
            RUN.journal.empty_handed += 1

    def _call(self, method: str, path: str, name: str, payload: dict[str, Any] | None = None) -> tuple[int, bytes]:
        """One request, repeated with the same Idempotency-Key after a 429, a 503 or a lost connection."""
        headers = {"Authorization": self._auth}
        if method != "GET":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        status, body = 0, b""
        lost = 0
        for _attempt in range(MAX_ATTEMPTS):
            with self.client.request(
                method, path, name=name, json=payload, headers=headers, catch_response=True
            ) as response:
                status = int(response.status_code or 0)
                body = response.content or b""
                retry_after = _judge(response, name, status, body)
            if retry_after is None:
                break
            if status == 0:
                # A student reloads once after a dead connection; more would only feed a collapse.
                lost += 1
                if lost > 1:
                    break
            gevent.sleep(retry_after)
        return status, body


def _judge(response: Any, name: str, status: int, body: bytes) -> float | None:
    """Mark the response a success or a failure; return the seconds to wait before a retry, if any."""
    journal = RUN.journal
    code = "-"
    if status >= 400 and body:
        try:
            code = _decode_problem(body).code
        except msgspec.DecodeError:
            code = "?"
    RUN.outcomes[f"{name}|{status}|{code}"] += 1
    if status == 0:
        journal.transport_errors += 1
        response.failure(f"transport error: {response.error!r}")
        return 1.0
    if status < 400:
        response.success()
        return None
    if status == 409 and code in CONTRACT_CODES:
        response.success()
        return None
    if status == 429:
        # The service asked the student to slow down: a rule working, not a fault.
        response.success()
        return _retry_after(response)
    if status >= 500:
        journal.server_errors += 1
        response.failure(f"{status} {code}")
        return _retry_after(response) if status == 503 else None
    journal.unexpected += 1
    response.failure(f"{status} {code}")
    return None


def _retry_after(response: Any) -> float:
    try:
        return min(5.0, float(response.headers.get("Retry-After", "1")))
    except (TypeError, ValueError):
        return 1.0
