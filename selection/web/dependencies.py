"""The services each route may ask for by name, taken from the worker made in the lifespan.

A route declares what it uses (``enrollment: NamedDependency[Enrollment]``) and gets that one
service: no route reaches into the worker or runs SQL of its own. The students' routes take one
service each: Litestar resolves two or more dependencies of a route in a task group of their own,
a cost on every request that the opening burst should not pay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.datastructures import State
from litestar.di import Provide

from selection.worker import Worker

#: Dependency name -> the worker's attribute of that name.
SERVICES = (
    "students",
    "rounds",
    "offerings",
    "audit",
    "catalog",
    "enrollment",
    "browse",
    "roster",
    "dead_letters",
    "wishes",
    "lottery",
    "fairness",
)


def _service(name: str) -> Callable[[State], Any]:
    def provide(state: State) -> Any:
        worker: Worker = state.worker
        return getattr(worker, name)

    return provide


def _worker(state: State) -> Worker:
    worker: Worker = state.worker
    return worker


def service_dependencies() -> dict[str, Provide]:
    """``dependencies=`` for the app: every service, and the worker itself (for readiness)."""
    # Each value is the same for the app's whole life: resolved once, not on every request.
    provided = {name: Provide(_service(name), sync_to_thread=False, use_cache=True) for name in SERVICES}
    provided["worker"] = Provide(_worker, sync_to_thread=False)
    return provided
