"""Students of two kinds racing for popular offerings at a round's opening, under locust.

Run by ``python -m loadtests.fairness`` (``make fairness``) once per round:

    locust -f loadtests/fairness_users.py --headless --fairness-plan PLAN.json --fairness-out OUT.json

Every student sends one select, their first wish, at the opening: a fast student at once, a slow
one after a client-side delay (a slow link, a slow page, a slow hand). Each user plays one
student, records the answer, and stops; when every student is done the run ends by itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gevent
import msgspec
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

from loadtests.keepalive import keep_connections_alive
from loadtests.tokens import mint

keep_connections_alive()


class Racer(msgspec.Struct, frozen=True):
    id: str
    kind: str
    wish: str


class RacePlan(msgspec.Struct, frozen=True):
    round_id: str
    #: When the round opens (Unix time); every student's first request leaves at it.
    opening_at: float
    slow_delay_s: float
    students: list[Racer]


class Answer(msgspec.Struct, frozen=True):
    id: str
    kind: str
    wish: str
    status: int
    code: str
    sent_at: float
    answered_at: float


class _Problem(msgspec.Struct):
    code: str = "-"


class _Run:
    def __init__(self) -> None:
        self.plan: RacePlan | None = None
        self.out: Path | None = None
        self.authorization: dict[str, str] = {}
        self.next_student = 0
        self.answers: list[Answer] = []


RUN = _Run()
#: A moment after the round opens: a request that left before the opening would be refused.
AFTER_OPENING_S = 0.1


def _options(parser: Any) -> None:
    parser.add_argument("--fairness-plan", type=str, required=True)
    parser.add_argument("--fairness-out", type=str, required=True)


def _start(environment: Any, **_: Any) -> None:
    import os

    options = environment.parsed_options
    RUN.plan = msgspec.json.decode(Path(options.fairness_plan).read_bytes(), type=RacePlan)
    RUN.out = Path(options.fairness_out)
    secret = os.environ["SELECTION_JWT_SECRET"]
    RUN.authorization = {s.id: "Bearer " + mint(secret, s.id) for s in RUN.plan.students}
    gevent.spawn(_stop_when_done, environment)


def _stop_when_done(environment: Any) -> None:
    assert RUN.plan is not None
    while len(RUN.answers) < len(RUN.plan.students):
        gevent.sleep(0.1)
    environment.runner.quit()


def _quitting(environment: Any, **_: Any) -> None:
    if RUN.out is not None:
        RUN.out.write_bytes(msgspec.json.encode(RUN.answers))


_hooks: Any = events
_hooks.init_command_line_parser.add_listener(_options)
_hooks.test_start.add_listener(_start)
_hooks.quitting.add_listener(_quitting)


class Student(FastHttpUser):
    wait_time = constant(0)
    concurrency = 1
    connection_timeout = 30.0
    # A select held by a fair-start window is answered when the window ends.
    network_timeout = 120.0

    def on_start(self) -> None:
        plan = RUN.plan
        assert plan is not None
        if RUN.next_student >= len(plan.students):
            raise StopUser()
        self.racer = plan.students[RUN.next_student]
        RUN.next_student += 1
        # Connected before the opening, as a browser with the page open is.
        self.client.get("/health", name="/health")

    @task
    def race(self) -> None:
        plan = RUN.plan
        assert plan is not None
        delay = plan.slow_delay_s if self.racer.kind == "slow" else 0.0
        gevent.sleep(max(0.0, plan.opening_at + AFTER_OPENING_S - time.time()) + delay)
        sent = time.time()
        with self.client.post(
            f"/api/v1/rounds/{plan.round_id}/selections",
            json={"offering_id": self.racer.wish},
            headers={"Authorization": RUN.authorization[self.racer.id]},
            name="select",
            catch_response=True,
        ) as response:
            status = response.status_code or 0
            code = "-"
            if status == 409:
                code = msgspec.json.decode(response.content or b"{}", type=_Problem).code
            if status in (201, 409):
                response.success()
            else:
                response.failure(f"{status}")
        RUN.answers.append(Answer(self.racer.id, self.racer.kind, self.racer.wish, status, code, sent, time.time()))
        raise StopUser()
