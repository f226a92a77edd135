"""One request at a time: what each student route costs on an idle service, before any queueing.

    python -m loadtests.probe [--requests 40] [--port 8033]

Starts its own service (embedded stores, the demo, ``--workers 2``), opens the demo round, and
times sequential requests per route from one client. Under a burst every route costs at least
this, so it tells which route a burst's capacity is spent on.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import httpx

from loadtests.stack import exit_on_sigterm, load_demo, local_service, local_stores, open_round
from loadtests.tokens import mint

WARM_UP = 5


def _time(request: Callable[[int], httpx.Response], count: int) -> tuple[list[float], set[int], int]:
    took: list[float] = []
    statuses: set[int] = set()
    size = 0
    for i in range(1, count + WARM_UP + 1):
        began = time.perf_counter()
        answer = request(i)
        elapsed = (time.perf_counter() - began) * 1000
        statuses.add(answer.status_code)
        size = len(answer.content)
        if i > WARM_UP:
            took.append(elapsed)
    return took, statuses, size


@click.command()
@click.option("--requests", "count", type=int, default=40, show_default=True, help="Per route, after 5 to warm up.")
@click.option("--port", type=int, default=8033, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
def main(count: int, port: int, workers: int) -> None:
    """Time each student route alone on an idle service."""
    exit_on_sigterm()
    from courses.demo import ROUND_ID, demo_offerings

    offerings = [o.id for o in demo_offerings()]
    base = f"/api/v1/rounds/{ROUND_ID}"
    with tempfile.TemporaryDirectory(prefix="selection-probe-") as scratch, local_stores() as (database_url, redis_url):
        log = Path(scratch) / "server.log"
        load_demo(database_url, redis_url)
        with local_service(
            port=port, workers=workers, log_path=log, database_url=database_url, redis_url=redis_url
        ) as service:
            open_round(service, ROUND_ID)
            with httpx.Client(base_url=service.base_url, timeout=10.0) as client:

                def auth(i: int) -> dict[str, str]:
                    return {"Authorization": "Bearer " + mint(service.secret, f"s{i:05d}")}

                routes: dict[str, Callable[[int], httpx.Response]] = {
                    "GET offerings (browse)": lambda i: client.get(base + "/offerings", headers=auth(i)),
                    "GET selections": lambda i: client.get(base + "/selections", headers=auth(i)),
                    "POST selections": lambda i: client.post(
                        base + "/selections",
                        headers=auth(i),
                        json={"offering_id": offerings[100 + i % 60], "waitlist": False},
                    ),
                }
                for name, request in routes.items():
                    took, statuses, size = _time(request, count)
                    click.echo(
                        f"{name:24} median {statistics.median(took):6.1f} ms  max {max(took):6.1f} ms  "
                        f"statuses {sorted(statuses)}  {size} bytes"
                    )


if __name__ == "__main__":
    main()
