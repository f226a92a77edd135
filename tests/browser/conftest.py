"""The browser tests' fixtures: the system's Chromium driven by Playwright, the service served for real.

The browser is Debian's ``chromium`` (``make test`` installs it when missing); Playwright's own
browsers are never downloaded. A machine without it fails these tests, loudly: they are part of
the suite, not an extra that may quietly go missing. Every request to a host other than the
service's is aborted and recorded, so a page that needs the internet fails its test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, ViewportSize, async_playwright

from tests.live import REPO, LiveRedis, LiveService

AXE = Path(__file__).parent / "vendor" / "axe-4.11.4.min.js"
#: Set (to anything) to write the curated screenshots (tests/browser/test_journey.py) into
#: docs/screenshots/ (``make screenshots``).
SCREENSHOTS_VARIABLE = "SELECTION_TEST_SCREENSHOTS"
SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "the browser tests need Debian's Chromium (/usr/bin/chromium): `apt-get install chromium`, "
            "or `make test`, which installs it when missing"
        )
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def valkey() -> Iterator[LiveRedis]:
    server = LiveRedis()
    try:
        yield server
    finally:
        server.stop()


def dev_service(tmp_path: Path, database_url: str, redis_url: str, **settings: str) -> LiveService:
    """``selection serve --dev`` as ``make run`` starts it, one worker."""
    return LiveService(
        tmp_path,
        {
            "SELECTION_DATABASE_URL": database_url,
            "SELECTION_REDIS_URL": redis_url,
            "SELECTION_DATA_DIR": str(tmp_path / "data"),
            **settings,
        },
        workers=1,
        args=["--dev"],
    )


@dataclass
class Offline:
    """Requests the pages made to any other host than the service's: aborted, and listed here."""

    allowed: str
    #: (the page that asked, the URL it asked for)
    blocked: list[tuple[str, str]] = field(default_factory=list)

    async def route(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == self.allowed:
            await route.continue_()
        else:
            try:
                asking = route.request.frame.url
            except Exception:  # a request of no frame (a worker's)
                asking = ""
            self.blocked.append((asking, url))
            await route.abort()

    def from_service(self) -> list[tuple[str, str]]:
        """What the service's own pages reached for elsewhere (another host's pages may do as they like)."""
        return [(page, url) for page, url in self.blocked if urlsplit(page).netloc in (self.allowed, "")]


async def offline_context(
    browser: Browser, base_url: str, *, viewport: ViewportSize, locale: str, also_allow: str | None = None
) -> tuple[BrowserContext, Offline]:
    """A fresh browser profile that reaches only the service (and ``also_allow``, a host:port)."""
    context = await browser.new_context(base_url=base_url, viewport=viewport, locale=locale)
    offline = Offline(urlsplit(base_url).netloc)
    if also_allow is None:
        await context.route("**/*", offline.route)
    else:

        async def route(route: Route) -> None:
            if urlsplit(route.request.url).netloc == also_allow:
                await route.continue_()
            else:
                await offline.route(route)

        await context.route("**/*", route)
    return context, offline


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


Screenshot = Callable[[Page, str], Awaitable[None]]


def screenshots_folder(tmp_path: Path) -> Path:
    """docs/screenshots/ when ``SELECTION_TEST_SCREENSHOTS`` is set, else a folder beside the test's files."""
    folder = SCREENSHOTS if os.environ.get(SCREENSHOTS_VARIABLE) else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(tmp_path: Path) -> Screenshot:
    """Saves a full-page screenshot beside the test's files (to look at when a test fails). The
    documentation's set is the journey's (tests/browser/test_journey.py), curated in one place."""
    folder = tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> None:
        await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return take
