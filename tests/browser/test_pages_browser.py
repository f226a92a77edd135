"""The pages in a real browser, against the service served for real (``serve --dev``, demo data).

On a phone-sized and a desktop viewport, in Chinese and in English: the development sign-in as a
student and as the administrator, the pages each may and may not see, the language switch, an
htmx request carrying the CSRF token, axe-core's serious and critical findings (none allowed),
the student page's first load (under 100 KB over the wire), and the API docs with no internet.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from courses.demo import ROUND_ID
from selection.web.auth import mint_token
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Screenshot,
    dev_service,
    offline_context,
    serious_violations,
)
from tests.live import LiveRedis, LiveService, free_port
from tests.pages.oidc_provider import Provider, running_provider

pytestmark = pytest.mark.slow

#: The issue's budget for the student page's first load, compressed, every asset included.
FIRST_LOAD_BUDGET = 100_000
OPENS = dt.datetime(2026, 9, 1, 0, 30, tzinfo=dt.UTC)
CLOSES = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)
#: (Browser locale, the page's language, the word for "Sign in" in it.)
LANGUAGES = [("zh-CN", "zh-Hans", "登录"), ("en-US", "en", "Sign in")]


@pytest.fixture
async def served(tmp_path: Path, database_url: str, valkey: LiveRedis) -> Any:
    """The service with the demo data (loaded by --dev into the empty database), its round open."""
    service = dev_service(tmp_path, database_url, valkey.url)
    service.start()
    try:
        await service.wait_ready(60)
        secret = (tmp_path / "data" / "dev-jwt-secret").read_text().strip()
        admin = {"Authorization": "Bearer " + mint_token(secret, "admin", "admin")}
        async with httpx.AsyncClient(base_url=service.base_url, trust_env=False, timeout=20) as client:
            opened = await client.post(f"/api/v1/admin/rounds/{ROUND_ID}/open", headers=admin)
            assert opened.status_code == 200, opened.text
        # Its schedule, for the pages to show in the school's time: 08:30 to 20:00 in Shanghai.
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE rounds SET opens_at = $1, closes_at = $2 WHERE id = $3", OPENS, CLOSES, ROUND_ID)
        finally:
            await conn.close()
        yield service
    finally:
        service.stop()


async def check_page(page: Page, lang: str, where: str) -> None:
    """Every page: its language declared, one main landmark, a skip link, no serious axe finding."""
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.locator("main#main")).to_have_count(1)
    await expect(page.locator("a.skip-link")).to_have_attribute("href", "#main")
    found = await serious_violations(page)
    assert found == [], f"{where} ({lang}): {found}"


async def first_load_bytes(page: Page) -> int:
    """What the page's first load moved over the wire: the document and every resource, compressed, with headers."""
    sizes: list[int] = await page.evaluate(
        "() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
        ".map(e => e.transferSize)"
    )
    assert all(size > 0 for size in sizes), sizes  # nothing from a cache: a real first load
    return sum(sizes)


async def as_student(
    page: Page, served: LiveService, lang: str, sign_in_word: str, where: str, shot: Screenshot
) -> None:
    # Anonymous: off to sign in, in the browser's language.
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    await expect(page.locator("h1")).to_have_text(sign_in_word)
    await check_page(page, lang, f"sign-in {where}")
    await shot(page, f"sign-in-{where}")
    # The development sign-in, as a demo student.
    await page.locator("a[href^='/dev/sign-in']").click()
    await check_page(page, lang, f"dev sign-in {where}")
    await shot(page, f"dev-sign-in-{where}")
    await page.locator("button[name=student][value=s00001]").click()
    await expect(page).to_have_url(f"{served.base_url}/")
    await expect(page.locator(".dev-banner")).to_be_visible()
    await expect(page.locator("h1")).to_contain_text("s00001")
    await expect(page.locator(f"[data-round='{ROUND_ID}'] .state-open")).to_be_visible()
    # 00:30 UTC, shown as the school's 08:30; the machine-readable instant stays UTC.
    opens = page.locator(f"[data-round='{ROUND_ID}'] time").first
    await expect(opens).to_contain_text("08:30" if lang == "zh-Hans" else "8:30")
    await expect(opens).to_have_attribute("datetime", OPENS.isoformat())
    await check_page(page, lang, f"student {where}")
    await shot(page, f"student-{where}")
    # Not the console.
    await page.goto("/admin")
    await expect(page.locator("h1")).to_have_text("仅限管理员" if lang == "zh-Hans" else "For administrators")
    await check_page(page, lang, f"403 {where}")


async def as_admin(page: Page, served: LiveService, lang: str, where: str, shot: Screenshot) -> None:
    # Sign out, then in as the administrator.
    await page.locator("form[action='/sign-out'] button").click()
    await expect(page).to_have_url(re.compile(r"/sign-in$"))
    await page.goto("/dev/sign-in")
    await page.locator("button[name=as][value=admin]").click()
    await expect(page).to_have_url(f"{served.base_url}/admin")
    await expect(page.locator(f"tr[data-round='{ROUND_ID}']")).to_be_visible()
    await expect(page.locator(".dev-banner")).to_be_visible()
    await check_page(page, lang, f"admin {where}")
    await shot(page, f"admin-{where}")


async def switch_language(page: Page, lang: str, where: str) -> None:
    # The switch: the other language, remembered on the next page.
    other = "en" if lang == "zh-Hans" else "zh-Hans"
    await page.locator(f".language-switch button[value='{other}']").click()
    await expect(page.locator("html")).to_have_attribute("lang", other)
    await page.goto("/admin")
    await expect(page.locator("html")).to_have_attribute("lang", other)
    # An htmx request carries the page's CSRF token (static/pages.js); a bare one is refused.
    script = """lang => new Promise(resolve => {
        document.body.addEventListener('htmx:afterRequest', e => resolve(e.detail.xhr.status), {once: true});
        htmx.ajax('POST', '/language', {values: {lang: lang, next: '/admin'}, swap: 'none'});
    })"""
    assert await page.evaluate(script, lang) == 200, where
    bare = "() => fetch('/language', {method: 'POST', body: new URLSearchParams({lang: 'en'})}).then(r => r.status)"
    assert await page.evaluate(bare) == 403, where
    await page.goto("/admin")
    await expect(page.locator("html")).to_have_attribute("lang", lang)


async def test_students_and_the_administrator_in_both_languages_on_phone_and_desktop(
    browser: Browser, served: LiveService, screenshot: Screenshot
) -> None:
    weights: dict[str, int] = {}
    for viewport_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        for locale, lang, sign_in_word in LANGUAGES:
            where = f"{viewport_name}-{lang}"
            context, offline = await offline_context(browser, served.base_url, viewport=viewport, locale=locale)
            page = await context.new_page()
            await as_student(page, served, lang, sign_in_word, where, screenshot)

            # The first load of the student page, in a profile with nothing cached but the sign-in.
            fresh = await browser.new_context(
                base_url=served.base_url, viewport=viewport, locale=locale, storage_state=await context.storage_state()
            )
            first = await fresh.new_page()
            await first.goto("/")
            await expect(first.locator("h1")).to_contain_text("s00001")
            weights[where] = await first_load_bytes(first)
            await fresh.close()

            await as_admin(page, served, lang, where, screenshot)
            await switch_language(page, lang, where)
            assert offline.blocked == [], f"{where}: requests to other hosts: {offline.blocked}"
            await context.close()
    assert max(weights.values()) < FIRST_LOAD_BUDGET, weights
    print(f"student page, first load over the wire (bytes): {weights}")


async def test_the_api_docs_work_with_no_internet(
    browser: Browser, served: LiveService, screenshot: Screenshot
) -> None:
    context, offline = await offline_context(browser, served.base_url, viewport=DESKTOP, locale="en-US")
    page = await context.new_page()
    await page.goto("/schema")
    # Scalar renders the document (its title, a problem of the contract) from the service's own files.
    await expect(page.get_by_text("Course selection").first).to_be_visible(timeout=20_000)
    await expect(page.get_by_text("Body over the limit").first).to_be_attached(timeout=20_000)
    await screenshot(page, "api-docs-desktop-en")
    assert offline.blocked == [], f"the API docs reached for other hosts: {offline.blocked}"
    await context.close()


async def test_the_development_sign_in_is_404_without_dev(
    browser: Browser, tmp_path: Path, database_url: str, valkey: LiveRedis, db: asyncpg.Connection
) -> None:
    await db.execute(
        "INSERT INTO students (id, name, cohort, degree, campus, college) VALUES ('s1', 's1', 2024, 'master', 'n', 'c')"
    )
    service = LiveService(
        tmp_path,
        {
            "SELECTION_DATABASE_URL": database_url,
            "SELECTION_REDIS_URL": valkey.url,
            "SELECTION_JWT_SECRET": "a-secret-of-at-least-thirty-two-bytes-for-tests",
        },
        workers=1,
    )
    service.start()
    try:
        await service.wait_ready(30)
        context, offline = await offline_context(browser, service.base_url, viewport=PHONE, locale="en-US")
        page = await context.new_page()
        answer = await page.goto("/dev/sign-in")
        assert answer is not None
        assert answer.status == 404
        await page.goto("/sign-in")
        await expect(page.locator("a[href^='/dev/sign-in']")).to_have_count(0)
        assert offline.blocked == []
        await context.close()
    finally:
        service.stop()


async def test_single_sign_on_with_a_real_provider(
    browser: Browser, tmp_path: Path, database_url: str, valkey: LiveRedis, db: asyncpg.Connection
) -> None:
    await db.execute(
        "INSERT INTO students (id, name, cohort, degree, campus, college) VALUES ('s1', 's1', 2024, 'master', 'n', 'c')"
    )
    provider_port = free_port()
    service = LiveService(
        tmp_path,
        {
            "SELECTION_DATABASE_URL": database_url,
            "SELECTION_REDIS_URL": valkey.url,
            "SELECTION_JWT_SECRET": "a-secret-of-at-least-thirty-two-bytes-for-tests",
            # The callback is derived from the request: no SELECTION_OIDC_REDIRECT_URL.
            **Provider(f"http://127.0.0.1:{provider_port}", provider_port).settings(),
        },
        workers=1,
    )
    with running_provider(f"{service.base_url}/auth/callback", provider_port) as provider:
        service.start()
        try:
            await service.wait_ready(30)
            context, offline = await offline_context(
                browser, service.base_url, viewport=PHONE, locale="en-US", also_allow=f"127.0.0.1:{provider.port}"
            )
            page = await context.new_page()
            await page.goto("/")
            await check_page(page, "en", "sign-in with SSO")
            await page.locator("a[href^='/auth/sso']").click()
            # The provider's own pages: its login form, then its consent.
            await expect(page).to_have_url(re.compile(rf"^{provider.issuer}/interaction/"))
            await page.locator("input[name=login]").fill("s1")
            await page.locator("input[name=password]").fill("any")
            await page.locator("button[type=submit]").click()
            await page.locator("button[type=submit]").click()
            await expect(page).to_have_url(f"{service.base_url}/")
            await expect(page.locator("h1")).to_contain_text("Student s1")
            await expect(page.locator(".dev-banner")).to_have_count(0)
            await check_page(page, "en", "student after SSO")
            # Signed out: the service's session is over (the provider's own is the provider's).
            await page.locator("form[action='/sign-out'] button").click()
            await expect(page).to_have_url(re.compile(r"/sign-in$"))
            await page.goto("/")
            await expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
            # The provider's development pages load a web font; the service's pages reach for nothing.
            assert offline.from_service() == []
            await context.close()
        finally:
            service.stop()
