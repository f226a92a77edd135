"""A student's first-come round in a real browser, against the service served for real.

On a phone in Chinese and on a desktop in English: the development sign-in, the round's page,
a select, a refusal (course full) with its alternatives, one taken, a drop, the waitlist, and a
promotion appearing without a reload when another student drops through the API; axe-core on
each state; the first load's weight and a refresh's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from courses.demo import ROUND_ID, demo_offerings
from courses.models import Offering
from selection.pages.student_view import overlaps
from selection.web.auth import mint_token
from tests.browser.conftest import DESKTOP, PHONE, Screenshot, dev_service, offline_context, serious_violations
from tests.live import LiveRedis, LiveService

pytestmark = pytest.mark.slow

FIRST_LOAD_BUDGET = 100_000
REFRESH_BUDGET = 5_000


def four_offerings() -> list[Offering]:
    """Four physical-education offerings of the demo catalog open to everyone, at four times that never meet."""
    open_to_all = [o for o in demo_offerings() if o.category == "pe" and o.eligibility.cohorts == [] and o.schedule]
    open_to_all = [o for o in open_to_all if not (o.eligibility.degrees or o.eligibility.campuses)]
    for group in itertools.combinations(open_to_all[:40], 4):
        if not any(overlaps(a, b) for x, y in itertools.combinations(group, 2) for a in x.schedule for b in y.schedule):
            return list(group)
    raise AssertionError("no four offerings at separate times in the demo catalog")


class Served:
    def __init__(self, service: LiveService, secret: str, offerings: list[Offering]) -> None:
        self.service = service
        self.secret = secret
        self.offerings = offerings

    def bearer(self, sub: str, role: Literal["student", "admin"] = "student") -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_token(self.secret, sub, role)}


@pytest.fixture
async def served(tmp_path: Path, database_url: str, valkey: LiveRedis) -> AsyncIterator[Served]:
    """The service with the demo data; a waitlisted round per journey over four offerings, the
    first of them with a single seat."""
    service = dev_service(tmp_path, database_url, valkey.url)
    service.start()
    try:
        await service.wait_ready(60)
        secret = (tmp_path / "data" / "dev-jwt-secret").read_text().strip()
        served = Served(service, secret, four_offerings())
        admin = served.bearer("admin", "admin")
        ids = [o.id for o in served.offerings]
        async with httpx.AsyncClient(base_url=service.base_url, trust_env=False, timeout=20) as client:
            patched = await client.patch(f"/api/v1/admin/offerings/{ids[0]}", json={"capacity": 1}, headers=admin)
            assert patched.status_code == 200, patched.text
            opened = await client.post(f"/api/v1/admin/rounds/{ROUND_ID}/open", headers=admin)
            assert opened.status_code == 200, opened.text
            # One more, opening in two hours: the home page counts down to it.
            later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
            made = await client.post(
                "/api/v1/admin/rounds",
                json={"id": "pe-later", "name": "PE later", "offering_ids": ids, "opens_at": later},
                headers=admin,
            )
            assert made.status_code == 201, made.text
            assert (await client.post("/api/v1/admin/rounds/pe-later/open", headers=admin)).status_code == 200
            for round_id in ("pe-phone", "pe-desk"):
                made = await client.post(
                    "/api/v1/admin/rounds",
                    json={"id": round_id, "name": f"PE add/drop {round_id}", "offering_ids": ids, "waitlist": True},
                    headers=admin,
                )
                assert made.status_code == 201, made.text
                opened = await client.post(f"/api/v1/admin/rounds/{round_id}/open", headers=admin)
                assert opened.status_code == 200, opened.text
        yield served
    finally:
        service.stop()


async def axe_clean(page: Page, where: str) -> None:
    found = await serious_violations(page)
    assert found == [], f"{where}: {found}"


async def weigh_first_load(
    browser: Browser, served: Served, state: object, viewport: ViewportSize, locale: str, path: str
) -> tuple[int, int]:
    """The round page's first load over the wire (every asset), and its first live refresh."""
    fresh = await browser.new_context(
        base_url=served.service.base_url,
        viewport=viewport,
        locale=locale,
        storage_state=state,  # type: ignore[arg-type]
    )
    page = await fresh.new_page()
    async with page.expect_response(lambda r: "/seats" in r.url, timeout=15_000):
        await page.goto(path)
    await page.wait_for_timeout(200)
    sizes: list[int] = await page.evaluate(
        "() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
        ".filter(e => !e.name.includes('/seats')).map(e => e.transferSize)"
    )
    refresh: list[int] = await page.evaluate(
        "() => performance.getEntriesByType('resource').filter(e => e.name.includes('/seats')).map(e => e.transferSize)"
    )
    await fresh.close()
    assert all(size > 0 for size in sizes), sizes
    assert refresh, "no live refresh was made"
    return sum(sizes), max(refresh)


async def promotion(
    page: Page, served: Served, round_id: str, offering_id: str, blocker: str, *, chinese: bool
) -> None:
    """The other student drops; the seat comes to this page by itself, announced, with no reload."""
    async with httpx.AsyncClient(base_url=served.service.base_url, trust_env=False, timeout=20) as api:
        gone = await api.delete(f"/api/v1/rounds/{round_id}/selections/{offering_id}", headers=served.bearer(blocker))
        assert gone.status_code == 204, gone.text
    await expect(page.locator("#mine [data-promoted]")).to_be_visible(timeout=20_000)
    await expect(page.locator(f"#mine [data-offering='{offering_id}'][data-status=enrolled]")).to_be_visible()
    await expect(page.locator("#announce")).to_contain_text("递补选上" if chinese else "You got a seat in")
    assert await page.evaluate("() => window.__notReloaded === true")
    await axe_clean(page, f"{round_id}: promoted")


async def open_round(context: BrowserContext, base: str, student: str, round_id: str) -> Page:
    """Signed in as the student, from the home page to the round's page."""
    page = await context.new_page()
    await page.goto("/dev/sign-in")
    await page.locator(f"button[name=student][value={student}]").click()
    await expect(page).to_have_url(f"{base}/")
    # The countdown ticks by itself, in the page's language.
    countdown = page.locator("[data-round='pe-later'] .countdown")
    before = await countdown.text_content()
    await expect(countdown).not_to_have_text(before or "", timeout=3_000)
    await expect(countdown).to_contain_text(re.compile(r"(Opens in|距开放还有) .*1 (h|小时)"))
    await axe_clean(page, "the home page with a countdown")
    await page.locator(f"a.button[href='/rounds/{round_id}']").click()
    await expect(page).to_have_url(f"{base}/rounds/{round_id}")
    await axe_clean(page, f"{round_id}: the round's page")
    return page


async def journey(
    browser: Browser,
    served: Served,
    shot: Screenshot,
    *,
    viewport: ViewportSize,
    locale: str,
    student: str,
    blocker: str,
    round_id: str,
) -> tuple[int, int]:
    base = served.service.base_url
    full, *_ = served.offerings
    others = {o.id for o in served.offerings[1:]}
    # Another student holds the only seat of the first offering.
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=20) as api:
        taken = await api.post(
            f"/api/v1/rounds/{round_id}/selections", json={"offering_id": full.id}, headers=served.bearer(blocker)
        )
        assert taken.status_code == 201, taken.text

    context, offline = await offline_context(browser, base, viewport=viewport, locale=locale)
    page = await open_round(context, base, student, round_id)
    await page.evaluate("() => { window.__notReloaded = true; }")

    # 1. A select that succeeds.
    held = served.offerings[3]
    await page.locator(f"#offerings li[data-offering='{held.id}'] form.act-select button").click()
    await expect(page.locator("#answer [data-outcome=enrolled]")).to_be_visible()
    await expect(page.locator(f"#mine [data-offering='{held.id}'][data-status=enrolled]")).to_be_visible()
    await expect(page.locator(".week .slot-enrolled")).to_have_count(1)

    # 2. The full one: refused, with the alternatives as choices and the waitlist offered.
    await page.locator(f"#offerings li[data-offering='{full.id}'] form.act-select button").click()
    await expect(page.locator("#answer [data-code=course_full]")).to_be_visible()
    chinese = locale.startswith("zh")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if chinese else "en")
    await expect(page.locator("#answer")).to_contain_text("已无余量" if chinese else "No seat is left")
    choices = page.locator("#answer .alternatives form")
    await expect(choices.first).to_be_visible()
    await expect(page.locator("#answer form.act-waitlist")).to_be_visible()
    await axe_clean(page, f"{round_id}: course full")
    await shot(page, f"student-round-full-{round_id}")

    # 3. One press on an alternative takes it.
    alternative = await choices.first.locator("input[name=offering_id]").get_attribute("value")
    assert alternative in others
    await choices.first.locator("button").click()
    await expect(page.locator(f"#answer [data-outcome=enrolled][data-offering='{alternative}']")).to_be_visible()
    await expect(page.locator(f"#mine [data-offering='{alternative}'][data-status=enrolled]")).to_be_visible()

    # 4. Drop it: the first press asks, the second drops.
    drop = page.locator(f"#mine [data-offering='{alternative}'] form.act-drop button")
    await drop.click()
    await expect(page.locator("#answer [data-outcome=dropped]")).to_have_count(0)
    await drop.click()
    await expect(page.locator("#answer [data-outcome=dropped]")).to_be_visible()
    await expect(page.locator(f"#mine [data-offering='{alternative}']")).to_have_count(0)

    # 5. The waitlist of the full one.
    await page.locator(f"#offerings li[data-offering='{full.id}'] form.act-waitlist button").click()
    await expect(page.locator("#answer [data-outcome=waitlisted]")).to_be_visible()
    await expect(page.locator(f"#mine [data-offering='{full.id}'][data-status=waitlisted]")).to_be_visible()
    await expect(page.locator(".week .slot-waitlisted").first).to_be_visible()
    await axe_clean(page, f"{round_id}: waitlisted")

    await promotion(page, served, round_id, full.id, blocker, chinese=chinese)
    await shot(page, f"student-round-promoted-{round_id}")

    # Weighed on the demo round's page: all 180 offerings.
    weights = await weigh_first_load(
        browser, served, await context.storage_state(), viewport, locale, f"/rounds/{ROUND_ID}"
    )
    assert offline.blocked == [], offline.blocked
    await context.close()
    return weights


async def test_a_students_round_on_a_phone_in_chinese_and_a_desktop_in_english(
    browser: Browser, served: Served, screenshot: Screenshot
) -> None:
    phone = await journey(
        browser,
        served,
        screenshot,
        viewport=PHONE,
        locale="zh-CN",
        student="s00001",
        blocker="s00002",
        round_id="pe-phone",
    )
    desktop = await journey(
        browser,
        served,
        screenshot,
        viewport=DESKTOP,
        locale="en-US",
        student="s00003",
        blocker="s00004",
        round_id="pe-desk",
    )
    print(f"round page first load / live refresh (bytes): phone {phone}, desktop {desktop}")
    for first_load, refresh in (phone, desktop):
        assert first_load < FIRST_LOAD_BUDGET
        assert refresh < REFRESH_BUDGET
