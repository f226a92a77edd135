"""The administrators' console in a real browser, against ``serve --dev`` with the demo data.

Two journeys on one served service: on a desktop in Chinese a lottery round (its seed made and
hashed in the browser, only the hash sent), on a phone in English a first-come round with a fair
start. Each: the development sign-in as the administrator, the round created through the form
(offerings found with the search and picked by category), opened, a capacity changed inline
(htmx, Enter), a student enrolled with the override, the roster downloaded; axe-core finds
nothing serious or critical on any page, and no page reaches another host.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from courses.demo import demo_offerings
from tests.browser.conftest import DESKTOP, PHONE, dev_service, offline_context, serious_violations
from tests.live import LiveRedis, LiveService

pytestmark = pytest.mark.slow

YOGA = sorted(o.id for o in demo_offerings() if o.id.startswith("pe-yoga-"))


async def axe_clean(page: Page, lang: str, where: str) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    found = await serious_violations(page)
    assert found == [], f"{where} ({lang}): {found}"


async def journey(
    browser: Browser,
    service: LiveService,
    db: asyncpg.Connection,
    *,
    viewport: ViewportSize,
    locale: str,
    lang: str,
    mode: str,
    round_id: str,
) -> None:
    base = service.base_url
    context, offline = await offline_context(browser, base, viewport=viewport, locale=locale)
    page = await context.new_page()
    await page.goto("/dev/sign-in")
    await page.locator("button[name=as][value=admin]").click()
    await expect(page).to_have_url(f"{base}/admin")
    await axe_clean(page, lang, "rounds")
    await create_round(page, db, base=base, lang=lang, mode=mode, round_id=round_id)
    await work_on_round(page, db, lang=lang, round_id=round_id)
    assert offline.from_service() == []
    await context.close()


async def create_round(page: Page, db: asyncpg.Connection, *, base: str, lang: str, mode: str, round_id: str) -> None:
    """Through the form: the offerings found and picked, a lottery's seed made in the browser."""
    await page.locator("a[href='/admin/rounds/new']").click()
    await expect(page).to_have_url(f"{base}/admin/rounds/new")
    await page.locator("#round-id").fill(round_id)
    await page.locator("#round-name").fill(f"Round {round_id}")
    await page.locator(f"input[name=mode][value={mode}]").check()
    # Find the yoga offerings with the search, then pick every one shown in their category.
    await page.locator("#offering-search").fill("yoga")
    await page.locator("button[data-pick-category=pe][data-pick=all]").click()
    await expect(page.locator("#picked-count")).to_contain_text(str(len(YOGA)))
    await page.locator("#closes-at").fill("2030-01-01T18:00")
    seed = None
    if mode == "lottery":
        await expect(page.locator("fieldset[data-mode-only=fcfs]")).to_be_hidden()
        await page.locator("#generate-seed").click()
        await expect(page.locator("#seed-shown")).to_be_visible()
        seed = (await page.locator("#seed-value").text_content() or "").strip()
        hashed = await page.locator("#seed-sha256").input_value()
        assert len(seed) == 32
        assert hashed == hashlib.sha256(seed.encode()).hexdigest()
        # The vendored fallback (a plain-http host has no SubtleCrypto) makes the same hash.
        assert await page.evaluate("s => window.sha256(s)", seed) == hashed
    else:
        await expect(page.locator("fieldset[data-mode-only=lottery]")).to_be_hidden()
        await page.locator("#fair-start").fill("30")
    await axe_clean(page, lang, "new round, filled in")
    await page.locator("form.round-form button[type=submit]").click()
    await expect(page).to_have_url(f"{base}/admin/rounds/{round_id}")
    row = await db.fetchrow("SELECT mode, seed_sha256, fair_start_seconds FROM rounds WHERE id = $1", round_id)
    assert row is not None
    assert row["mode"] == mode
    if seed is not None:
        # Only the hash reached the service; the seed stayed in the browser.
        assert row["seed_sha256"] == hashlib.sha256(seed.encode()).hexdigest()
        assert await db.fetchval("SELECT count(*) FROM audit_events WHERE detail LIKE '%' || $1 || '%'", seed) == 0
    else:
        assert row["fair_start_seconds"] == 30
    await axe_clean(page, lang, "a draft round")


async def work_on_round(page: Page, db: asyncpg.Connection, *, lang: str, round_id: str) -> None:
    """Open it, change a capacity inline, enroll with the override, download the roster."""
    await page.locator(f"form[action='/admin/rounds/{round_id}/open'] button").click()
    await expect(page.locator(".state-line .state-open")).to_have_count(1)

    # A capacity changed inline: Enter saves, the row says so, the field keeps the focus.
    field = page.locator(f"#capacity-{YOGA[0]}")
    await field.fill("70")
    await field.press("Enter")
    await expect(page.locator(f"#capacity-{YOGA[0]}-message")).to_contain_text("70")
    await expect(page.locator(f"#capacity-{YOGA[0]}")).to_be_focused()
    assert await db.fetchval("SELECT capacity FROM offerings WHERE id = $1", YOGA[0]) == 70

    # A forced enrolment with the override, and what the audit log calls it.
    await page.locator("#enroll-student").fill("s00001")
    await page.locator("#enroll-offering").select_option(YOGA[1])
    await page.locator("#override").check()
    await page.locator(f"form[action='/admin/rounds/{round_id}/force-enroll'] button[type=submit]").click()
    await expect(page.locator(".notice")).to_contain_text("force_enroll_override")
    await axe_clean(page, lang, "an open round")

    async with page.expect_download() as info:
        await page.locator(f"a[href='/admin/rounds/{round_id}/enrollments.csv']").click()
    download = await info.value
    assert download.suggested_filename == f"{round_id}-enrollments.csv"
    content = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    assert f"{round_id},{YOGA[1]},s00001,enrolled," in content

    await page.locator(f"a[href='/admin/rounds/{round_id}/close']").click()
    await axe_clean(page, lang, "close, asked first")
    await page.goto(f"/admin/rounds/{round_id}/edit")
    await expect(page.locator("#round-name")).to_be_enabled()
    await expect(page.locator("#opens-at")).to_be_disabled()
    await axe_clean(page, lang, "an open round's edit")
    await page.goto("/admin/offerings?q=yoga")
    await axe_clean(page, lang, "offerings")


async def test_the_console_on_a_desktop_in_chinese_and_a_phone_in_english(
    browser: Browser, tmp_path: Path, database_url: str, valkey: LiveRedis, db: asyncpg.Connection
) -> None:
    service = dev_service(tmp_path, database_url, valkey.url)
    service.start()
    try:
        await service.wait_ready(60)
        await journey(
            browser, service, db, viewport=DESKTOP, locale="zh-CN", lang="zh-Hans", mode="lottery", round_id="lot-zh"
        )
        await journey(browser, service, db, viewport=PHONE, locale="en-US", lang="en", mode="fcfs", round_id="fcfs-en")
    finally:
        service.stop()
