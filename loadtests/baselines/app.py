"""The bench app: the product's app, plus the naive baseline and the no-op floor on the same stack.

granian --interface asgi --factory --workers 2 loadtests.baselines.app:create_bench_app
"""

from __future__ import annotations

from litestar import Litestar

from lib.settings import Settings
from loadtests.baselines.naive import create_table, naive_select
from loadtests.baselines.noop import noop_select
from selection.web.app import create_app_from_env


def create_bench_app() -> Litestar:
    app = create_app_from_env()
    app.register(naive_select)
    app.register(noop_select)
    database_url = Settings.from_env().database_url

    async def baseline_table() -> None:
        if database_url:
            await create_table(database_url)

    app.on_startup.append(baseline_table)
    return app
