"""A lottery round in a real browser, against the service served for real (``serve --dev``).

A student on a phone, in Chinese, builds a wish list, reorders it by keyboard and by dragging,
and sees it saved; the administrator on a desktop, in English, draws the round with the seed
committed to (a wrong seed is caught by the page before it is sent); the student then reads what
they got and why. axe-core finds nothing serious or critical on any of these pages.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from courses.demo import ROUND_ID
from selection.web.auth import mint_token
from tests.browser.conftest import DESKTOP, PHONE, Screenshot, dev_service, offline_context, serious_violations
from tests.live import LiveRedis, LiveService

pytestmark = pytest.mark.slow

LOT = "lot-browser"
SEED = "browser seed: 42 apples"
STUDENT = "s00001"


class Served:
    def __init__(self, service: LiveService, admin: dict[str, str], student: dict[str, str]) -> None:
        self.service = service
        self.admin = admin
        self.student = student

    async def api(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.service.base_url, trust_env=False, timeout=20) as client:
            return await client.request(method, "/api/v1" + path, headers=headers, **kwargs)


@pytest.fixture
async def served(tmp_path: Path, database_url: str, valkey: LiveRedis) -> Any:
    """The service with the demo data, and an open lottery round of a dozen demo offerings,
    committed to the sha256 of ``SEED``."""
    service = dev_service(tmp_path, database_url, valkey.url)
    service.start()
    try:
        await service.wait_ready(60)
        secret = (tmp_path / "data" / "dev-jwt-secret").read_text().strip()
        admin = {"Authorization": "Bearer " + mint_token(secret, "admin", "admin")}
        student = {"Authorization": "Bearer " + mint_token(secret, STUDENT, "student")}
        served = Served(service, admin, student)
        demo = (await served.api("GET", f"/admin/rounds/{ROUND_ID}", admin)).json()
        body = {
            "id": LOT,
            "name": "PE lottery",
            "mode": "lottery",
            "offering_ids": demo["offering_ids"][:12],
            "seed_sha256": hashlib.sha256(SEED.encode()).hexdigest(),
        }
        assert (await served.api("POST", "/admin/rounds", admin, json=body)).status_code == 201
        assert (await served.api("POST", f"/admin/rounds/{LOT}/open", admin)).status_code == 200
        yield served
    finally:
        service.stop()


async def check_page(page: Page, lang: str, where: str) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    found = await serious_violations(page)
    assert found == [], f"{where} ({lang}): {found}"


async def dom_order(page: Page) -> list[str]:
    order: list[str] = await page.locator("#wish-list li.wish").evaluate_all(
        "items => items.map(li => li.dataset.offering)"
    )
    return order


async def saved_order(served: Served) -> list[str]:
    answer = await served.api("GET", f"/rounds/{LOT}/wishes", served.student)
    stored: list[str] = answer.json()["offering_ids"]
    return stored


async def wait_saved(page: Page) -> None:
    await expect(page.locator("#wish-status .wish-state")).to_have_attribute("data-state", "saved", timeout=10_000)


async def filter_offerings(page: Page) -> None:
    """Typing filters the offerings at once (by the Chinese title, here)."""
    offers = page.locator("#offer-list li.offer:not([hidden])")
    before = await offers.count()
    first_title = (await offers.first.get_attribute("data-title")) or ""
    await page.locator("#offer-q").fill(first_title)
    await expect(page.locator("#offer-count")).to_contain_text("显示")
    assert await offers.count() < before
    await page.locator("#offer-q").fill("")
    await expect(offers).to_have_count(before)


async def build_wish_list(page: Page, served: Served, shot: Screenshot) -> list[str]:
    """Phone, Chinese: add three offerings, move one up by keyboard, one down by its button, drag one down."""
    await page.goto(f"/dev/sign-in?next=/rounds/{LOT}/wishes")
    await page.locator(f"button[name=student][value={STUDENT}]").click()
    await expect(page).to_have_url(re.compile(f"/rounds/{LOT}/wishes$"))
    await expect(page.locator("h1")).to_have_text("志愿清单\uff1aPE lottery")
    await check_page(page, "zh-Hans", "wishes, empty")
    await filter_offerings(page)
    offers = page.locator("#offer-list li.offer:not([hidden])")

    chosen = [str(await offers.nth(i).get_attribute("data-offering")) for i in range(3)]
    for _ in range(3):
        await offers.first.locator("button[value=add]").click()
    await expect(page.locator("#wish-list li.wish")).to_have_count(3)
    await expect(page.locator("#wish-list .rank")).to_have_text(["1", "2", "3"])
    await wait_saved(page)
    assert await saved_order(served) == chosen

    # The keyboard: the third wish, focused, goes up with Alt+ArrowUp.
    third = page.locator("#wish-list li.wish").nth(2)
    await third.focus()
    await page.keyboard.press("Alt+ArrowUp")
    await expect(page.locator("#wish-announce")).to_contain_text("第 2 志愿")
    expected = [chosen[0], chosen[2], chosen[1]]
    assert await dom_order(page) == expected
    await expect(page.locator("#wish-status .wish-state")).to_have_attribute("data-state", "unsaved")
    await wait_saved(page)
    assert await saved_order(served) == expected

    # The Down button: the first wish goes one down, and its button keeps the focus.
    down = page.locator("#wish-list li.wish").first.locator("button[value=down]")
    await down.click()
    expected = [chosen[2], chosen[0], chosen[1]]
    assert await dom_order(page) == expected
    await expect(page.locator("#wish-list li.wish").nth(1).locator("button[value=down]")).to_be_focused()
    await wait_saved(page)
    assert await saved_order(served) == expected

    # A drag: the first wish, by its handle, below the last.
    handle = page.locator("#wish-list li.wish").first.locator(".drag-handle")
    await expect(handle).to_be_visible()
    await page.locator("#wish-list").evaluate("list => list.scrollIntoView({block: 'center'})")
    grip = await handle.bounding_box()
    last = await page.locator("#wish-list li.wish").last.bounding_box()
    assert grip is not None
    assert last is not None
    await page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(grip["x"] + grip["width"] / 2, last["y"] + last["height"] + 10, steps=12)
    await page.mouse.up()
    expected = [chosen[0], chosen[1], chosen[2]]
    assert await dom_order(page) == expected
    await wait_saved(page)
    assert await saved_order(served) == expected
    await expect(page.locator("#wish-list .rank")).to_have_text(["1", "2", "3"])
    await expect(page.locator("#wish-save")).to_be_hidden()
    await check_page(page, "zh-Hans", "wishes, saved")
    await shot(page, "lottery-wishes-phone-zh-Hans")
    return expected


async def session_ends(page: Page, served: Served, expected: list[str]) -> None:
    """The session ends (idle, say): the next save says so, and keeps the change on the page."""
    await page.context.clear_cookies(name="selection_session")
    await page.locator("#wish-list li.wish").first.locator("button[value=down]").click()
    await expect(page.locator("#wish-status .wish-state")).to_have_attribute("data-state", "error", timeout=10_000)
    await expect(page.locator("#wish-status")).to_contain_text("你已退出登录")
    await expect(page.locator("#wish-save")).to_be_visible()
    assert await saved_order(served) == expected
    # Signed in again (leaving the page with unsaved changes asks first: yes), the list is as saved.
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"/dev/sign-in?next=/rounds/{LOT}/wishes")
    await page.locator(f"button[name=student][value={STUDENT}]").click()
    await expect(page.locator("#wish-list li.wish")).to_have_count(3)
    assert await dom_order(page) == expected


async def draw_as_admin(page: Page, served: Served, shot: Screenshot) -> None:
    """Desktop, English: the commitment, a wrong seed caught by the page, the right one drawn."""
    assert (await served.api("POST", f"/admin/rounds/{LOT}/close", served.admin)).status_code == 200
    await page.goto(f"/dev/sign-in?next=/admin/rounds/{LOT}/lottery")
    await page.locator("button[name=as][value=admin]").click()
    await expect(page).to_have_url(re.compile(f"/admin/rounds/{LOT}/lottery$"))
    await expect(page.locator("#commitment")).to_have_text(hashlib.sha256(SEED.encode()).hexdigest())
    await check_page(page, "en", "draw form")
    await page.locator("#seed").fill(SEED + "!")
    await page.locator("#draw-form button[type=submit]").click()
    await expect(page.locator("#seed-check")).to_contain_text("does not match the commitment")
    assert (await served.api("GET", f"/admin/rounds/{LOT}", served.admin)).json()["drawn_seed"] is None
    await page.locator("#seed").fill(SEED)
    await page.locator("#draw-form button[type=submit]").click()
    await expect(page.locator("#drawn-seed")).to_have_text(SEED)
    await expect(page.locator("#commitment-check")).to_contain_text("Matches")
    await expect(page.locator("#wish-lists")).to_have_text("1")
    await check_page(page, "en", "drawn")
    await shot(page, "lottery-drawn-desktop-en")
    await page.locator("a[href$='/fairness']").first.click()
    await expect(page.locator("svg.plot").first).to_be_visible()
    await check_page(page, "en", "fairness")
    await shot(page, "lottery-fairness-desktop-en")


async def test_a_wish_list_built_drawn_and_explained(browser: Browser, served: Served, screenshot: Screenshot) -> None:
    base = served.service.base_url
    phone, phone_offline = await offline_context(browser, base, viewport=PHONE, locale="zh-CN")
    student = await phone.new_page()
    await session_ends(student, served, await build_wish_list(student, served, screenshot))

    desktop, desktop_offline = await offline_context(browser, base, viewport=DESKTOP, locale="en-US")
    await draw_as_admin(await desktop.new_page(), served, screenshot)

    # The student, back on the phone: what they got, and why.
    await student.reload()
    await expect(student.locator("#result-heading")).to_have_text("你的抽签结果")
    await expect(student.locator(".outcome")).to_have_count(3)
    await expect(student.locator(".outcome").first).to_have_attribute("data-outcome", "placed")
    await expect(student.locator(".outcome-placed .outcome-words").first).to_contain_text("已中签")
    await check_page(student, "zh-Hans", "result")
    await screenshot(student, "lottery-result-phone-zh-Hans")
    assert phone_offline.blocked == [], phone_offline.blocked
    assert desktop_offline.blocked == [], desktop_offline.blocked
    await phone.close()
    await desktop.close()
