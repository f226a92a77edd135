"""The whole journey, as one story across the pages, against one ``selection serve --dev``.

First half, on a phone in Chinese: the administrator signs in (development sign-in), creates a
first-come round with a waitlist through the console's form, opens it and cuts an offering to
one seat; a student signs in in another browser profile, selects an offering, is refused the full
one and sees the alternatives, takes one, drops it, joins the waitlist; another student drops
(through the API) and the promotion appears on the first student's page without a reload.

Second half, on a desktop in English: the administrator creates a lottery round with a seed made
in the browser (the page shows it, the test keeps it), opens it; the student builds a ranked wish
list, reorders it with the keyboard and sees it saved; the administrator closes the round and
draws it with the kept seed; the student reads what they got and why. Then the console's other
pages (dashboard, audit log, import with a bad row, fairness report, /schema) through its
navigation.

axe-core on every new page state (no serious or critical finding), and no page reaches another
host. This module also writes the documentation's screenshots (``make screenshots``).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, FilePayload, Page, ViewportSize, expect

from courses.demo import demo_offerings
from courses.models import Offering
from selection.pages.student_view import overlaps
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Offline,
    dev_service,
    offline_context,
    screenshots_folder,
    serious_violations,
)
from tests.browser.test_lottery_browser import dom_order, wait_saved
from tests.browser.test_student_browser import Served, promotion
from tests.live import LiveRedis

pytestmark = pytest.mark.slow

FCFS = "pe-add-drop"
LOTTERY = "pe-lottery"
STUDENT = "s00001"
BLOCKER = "s00002"
#: A student file with a degree the service does not know on its second row.
BAD_STUDENTS = (
    "id,name,cohort,degree,campus,college\r\n"
    "t90001,张伟,2024,master,北校区,理学院\r\n"
    "t90002,李娜,2025,博士,南校区,文学院\r\n"
)


def separate_offerings(count: int, skip: set[str]) -> list[Offering]:
    """Physical-education offerings of the demo catalog open to everyone, at times that never meet."""
    open_to_all = [
        o
        for o in demo_offerings()
        if o.category == "pe"
        and o.schedule
        and o.id not in skip
        and not (o.eligibility.cohorts or o.eligibility.degrees or o.eligibility.campuses)
    ]
    for group in itertools.combinations(open_to_all[:40], count):
        if not any(overlaps(a, b) for x, y in itertools.combinations(group, 2) for a in x.schedule for b in y.schedule):
            return list(group)
    raise AssertionError(f"no {count} offerings at separate times in the demo catalog")


@dataclass
class Story:
    served: Served
    shots: Path
    contexts: list[tuple[BrowserContext, Offline]]

    @property
    def base(self) -> str:
        return self.served.service.base_url

    async def context(self, browser: Browser, viewport: ViewportSize, locale: str) -> Page:
        context, offline = await offline_context(browser, self.base, viewport=viewport, locale=locale)
        self.contexts.append((context, offline))
        return await context.new_page()

    async def api(self, method: str, path: str, sub: str, role: Literal["student", "admin"], **kw: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.base, trust_env=False, timeout=20) as client:
            return await client.request(method, "/api/v1" + path, headers=self.served.bearer(sub, role), **kw)

    async def shot(self, page: Page, name: str, *, full_page: bool = False) -> None:
        """A phone shot is what the phone shows (the viewport); a desktop one may be the whole page."""
        await page.screenshot(path=str(self.shots / f"{name}.png"), full_page=full_page)


async def checked(page: Page, lang: str, where: str) -> None:
    """The page is in the expected language, and axe-core finds nothing serious or critical."""
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    found = await serious_violations(page)
    assert found == [], f"{where} ({lang}): {found}"


async def sign_in(page: Page, base: str, *, admin: bool = False) -> None:
    await page.goto("/dev/sign-in")
    if admin:
        await page.locator("button[name=as][value=admin]").click()
        await expect(page).to_have_url(f"{base}/admin")
    else:
        await page.locator(f"button[name=student][value={STUDENT}]").click()
        await expect(page).to_have_url(f"{base}/")


async def new_round(page: Page, story: Story, *, round_id: str, name: str, mode: str, ids: list[str]) -> str | None:
    """Through the console's form: the offerings ticked; a lottery's seed made in the browser. The seed, if any."""
    await page.locator("a[href='/admin/rounds/new']").click()
    await expect(page).to_have_url(f"{story.base}/admin/rounds/new")
    await page.locator("#round-id").fill(round_id)
    await page.locator("#round-name").fill(name)
    await page.locator(f"input[name=mode][value={mode}]").check()
    for offering_id in ids:
        await page.locator(f"input[name=offering_ids][value='{offering_id}']").check()
    await expect(page.locator("#picked-count")).to_contain_text(str(len(ids)))
    seed = None
    if mode == "lottery":
        await page.locator("#limit-total").fill("2")
        await page.locator("#generate-seed").click()
        await expect(page.locator("#seed-shown")).to_be_visible()
        seed = (await page.locator("#seed-value").text_content() or "").strip()
        assert len(seed) == 32
        assert await page.locator("#seed-sha256").input_value() == hashlib.sha256(seed.encode()).hexdigest()
        await checked(page, "en", "new lottery round, its seed shown")
        await page.locator("#seed-shown").scroll_into_view_if_needed()
        await story.shot(page, "console-new-round-seed-desktop-en")
    else:
        await page.locator("input[name=waitlist]").check()
        await page.locator("input[name=allow_drop]").check()
    await page.locator("form.round-form button[type=submit]").click()
    await expect(page).to_have_url(f"{story.base}/admin/rounds/{round_id}")
    await page.locator(f"form[action='/admin/rounds/{round_id}/open'] button").click()
    await expect(page.locator(".state-line .state-open")).to_have_count(1)
    return seed


async def first_come_on_a_phone_in_chinese(browser: Browser, story: Story) -> None:
    admin = await first_come_round_opened(browser, story)
    await student_selects_and_waits(browser, story)
    # The administrator's round page says what happened, and leads to the round's other pages.
    await admin.reload()
    await expect(admin.locator(f"a[href='/admin/rounds/{FCFS}/dashboard']")).to_be_visible()
    await expect(admin.locator(f"a[href='/admin/rounds/{FCFS}/fairness']")).to_be_visible()
    await checked(admin, "zh-Hans", "the round after the students")
    await admin.evaluate("() => window.scrollTo(0, 0)")  # a reload keeps the place the capacity was changed at
    await story.shot(admin, "console-round-phone-zh")
    await admin.locator("nav.admin-nav a[href='/admin']").click()
    await expect(admin.locator(f"tr[data-round='{FCFS}']")).to_be_visible()
    await story.shot(admin, "console-rounds-phone-zh")


async def first_come_round_opened(browser: Browser, story: Story) -> Page:
    """The administrator's part: the round made and opened, one seat left in the first offering, taken."""
    full = story.served.offerings[0]
    admin = await story.context(browser, PHONE, "zh-CN")
    await sign_in(admin, story.base, admin=True)
    await checked(admin, "zh-Hans", "the console's rounds")
    await new_round(
        admin, story, round_id=FCFS, name="体育补退选", mode="fcfs", ids=[o.id for o in story.served.offerings]
    )
    # One seat left in the first offering, changed inline on the round's page.
    capacity = admin.locator(f"#capacity-{full.id}")
    await capacity.fill("1")
    await capacity.press("Enter")
    await expect(admin.locator(f"#capacity-{full.id}-message")).to_contain_text("1")
    await checked(admin, "zh-Hans", "the open round")
    # Another student takes that seat.
    taken = await story.api("POST", f"/rounds/{FCFS}/selections", BLOCKER, "student", json={"offering_id": full.id})
    assert taken.status_code == 201, taken.text
    return admin


async def student_selects_and_waits(browser: Browser, story: Story) -> None:
    """The student's part: a select, a refusal and its alternatives, a drop, the waitlist, a promotion."""
    full, *others = story.served.offerings
    held = others[-1]
    page = await story.context(browser, PHONE, "zh-CN")
    await sign_in(page, story.base)
    await expect(page.locator(f"li.round[data-round='{FCFS}']")).to_be_visible()
    await checked(page, "zh-Hans", "the student's home")
    await story.shot(page, "student-home-phone-zh")
    await page.locator(f"a.button[href='/rounds/{FCFS}']").click()
    await expect(page).to_have_url(f"{story.base}/rounds/{FCFS}")
    await checked(page, "zh-Hans", "the round's page")
    await page.evaluate("() => { window.__notReloaded = true; }")

    # A select that succeeds.
    await page.locator(f"#offerings li[data-offering='{held.id}'] form.act-select button").click()
    await expect(page.locator(f"#answer [data-outcome=enrolled][data-offering='{held.id}']")).to_be_visible()
    # The full one: refused, with what else could be taken and the waitlist.
    await page.locator(f"#offerings li[data-offering='{full.id}'] form.act-select button").click()
    await expect(page.locator("#answer [data-code=course_full]")).to_be_visible()
    await expect(page.locator("#answer")).to_contain_text("已无余量")
    choices = page.locator("#answer .alternatives form")
    await expect(choices.first).to_be_visible()
    await expect(page.locator("#answer form.act-waitlist")).to_be_visible()
    await checked(page, "zh-Hans", "course full, with alternatives")
    await story.shot(page, "student-round-refusal-phone-zh")
    # One press on an alternative takes it; then it is dropped (the first press asks).
    alternative = await choices.first.locator("input[name=offering_id]").get_attribute("value")
    assert alternative in {o.id for o in others[:-1]}
    await choices.first.locator("button").click()
    await expect(page.locator(f"#mine [data-offering='{alternative}'][data-status=enrolled]")).to_be_visible()
    drop = page.locator(f"#mine [data-offering='{alternative}'] form.act-drop button")
    await drop.click()
    await drop.click()
    await expect(page.locator("#answer [data-outcome=dropped]")).to_be_visible()
    await expect(page.locator(f"#mine [data-offering='{alternative}']")).to_have_count(0)
    # The waitlist of the full one; the other student drops; the seat comes by itself.
    await page.locator(f"#offerings li[data-offering='{full.id}'] form.act-waitlist button").click()
    await expect(page.locator(f"#mine [data-offering='{full.id}'][data-status=waitlisted]")).to_be_visible()
    await checked(page, "zh-Hans", "waitlisted")
    await promotion(page, story.served, FCFS, full.id, BLOCKER, chinese=True)
    await expect(page.locator(".week .slot-enrolled")).to_have_count(len(held.schedule) + len(full.schedule))
    await page.locator("#mine").evaluate("mine => mine.scrollIntoView({block: 'start'})")
    await story.shot(page, "student-timetable-phone-zh")


async def lottery_on_a_desktop_in_english(browser: Browser, story: Story) -> Page:
    """The lottery half; the administrator's page, left on the drawn round's page."""
    ids = [o.id for o in separate_offerings(3, {o.id for o in story.served.offerings})]
    admin = await story.context(browser, DESKTOP, "en-US")
    await sign_in(admin, story.base, admin=True)
    seed = await new_round(admin, story, round_id=LOTTERY, name="PE lottery", mode="lottery", ids=ids)
    assert seed is not None

    page = await story.context(browser, DESKTOP, "en-US")
    await sign_in(page, story.base)
    await page.locator(f"a.button[href='/rounds/{LOTTERY}/wishes']").click()
    await expect(page).to_have_url(f"{story.base}/rounds/{LOTTERY}/wishes")
    await checked(page, "en", "an empty wish list")
    for offering_id in ids:
        await page.locator(f"#offer-{offering_id} button[value=add]").click()
    await expect(page.locator("#wish-list li.wish")).to_have_count(3)
    await wait_saved(page)
    # The third wish, focused, goes up with Alt+ArrowUp; saved by itself.
    await page.locator("#wish-list li.wish").nth(2).focus()
    await page.keyboard.press("Alt+ArrowUp")
    ranked = [ids[0], ids[2], ids[1]]
    assert await dom_order(page) == ranked
    await wait_saved(page)
    await expect(page.locator("#wish-status")).to_contain_text("Saved")
    stored = await story.api("GET", f"/rounds/{LOTTERY}/wishes", STUDENT, "student")
    assert stored.json()["offering_ids"] == ranked
    await checked(page, "en", "the wish list, saved")
    await story.shot(page, "student-wishes-desktop-en", full_page=True)

    # Closed (asked first), then drawn with the seed the form showed.
    await admin.locator(f"a[href='/admin/rounds/{LOTTERY}/close']").click()
    await checked(admin, "en", "close, asked first")
    await admin.locator(f"form[action='/admin/rounds/{LOTTERY}/close'] button[type=submit]").click()
    await expect(admin.locator(".state-line .state-closed")).to_have_count(1)
    await admin.locator(f"a[href='/admin/rounds/{LOTTERY}/lottery']").click()
    await expect(admin.locator("nav.admin-nav a[aria-current=page]")).to_have_attribute("href", "/admin")
    await admin.locator("#seed").fill(seed)
    await admin.locator("#draw-form button[type=submit]").click()
    await expect(admin.locator("#drawn-seed")).to_have_text(seed)
    await expect(admin.locator("#commitment-check")).to_contain_text("Matches")
    await checked(admin, "en", "drawn")
    await story.shot(admin, "console-draw-desktop-en", full_page=True)
    await admin.locator(".crumbs a", has_text="Back to the round").click()
    await expect(admin).to_have_url(f"{story.base}/admin/rounds/{LOTTERY}")

    # What the student got, and why: two seats, and the third wish over the limit in all.
    await page.reload()
    await expect(page.locator("#result-heading")).to_have_text("What the draw gave you")
    outcomes = page.locator(".outcome")
    await expect(outcomes).to_have_count(3)
    assert await outcomes.evaluate_all("items => items.map(li => li.dataset.outcome)") == [
        "placed",
        "placed",
        "total_limit",
    ]
    await expect(outcomes.nth(2)).to_contain_text("limit on seats in all")
    await checked(page, "en", "the draw's result")
    await story.shot(page, "student-draw-result-desktop-en", full_page=True)
    return admin


async def console_on_a_desktop_in_english(admin: Page, story: Story) -> None:
    """From the drawn round: its fairness report, the other round's dashboard, the audit log and the
    import through the navigation, and the API's docs."""
    await admin.locator(f"a[href='/admin/rounds/{LOTTERY}/fairness']").first.click()
    await expect(admin.locator("svg.plot").first).to_be_visible()
    await checked(admin, "en", "fairness")
    await story.shot(admin, "console-fairness-desktop-en", full_page=True)
    await admin.locator(".crumbs a", has_text="Back to the round").click()
    await expect(admin).to_have_url(f"{story.base}/admin/rounds/{LOTTERY}")

    await admin.locator("nav.admin-nav a[href='/admin']").click()
    await checked(admin, "en", "the console's rounds")
    await story.shot(admin, "console-rounds-desktop-en", full_page=True)
    await admin.locator(f"tr[data-round='{FCFS}'] a").click()
    await admin.locator(f"a[href='/admin/rounds/{FCFS}/dashboard']").click()
    await expect(admin.locator("#dashboard")).to_have_attribute("data-samples", "2", timeout=15_000)
    await expect(admin.locator("#dash-enrolled")).to_have_text("2")
    await checked(admin, "en", "the dashboard")
    await story.shot(admin, "console-dashboard-desktop-en", full_page=True)
    await admin.locator(".back a", has_text="Back to the round").click()
    await expect(admin).to_have_url(f"{story.base}/admin/rounds/{FCFS}")

    await admin.locator("nav.admin-nav a[href='/admin/audit']").click()
    await expect(admin.locator("nav.admin-nav a[aria-current=page]")).to_have_attribute("href", "/admin/audit")
    await admin.locator("#f-round").select_option(FCFS)
    await admin.locator(".filters button[type=submit]").click()
    await expect(admin.locator("#audit-results li.event[data-action=promote]").first).to_be_visible(timeout=10_000)
    await checked(admin, "en", "the audit log")
    await story.shot(admin, "console-audit-desktop-en", full_page=True)

    await admin.locator("nav.admin-nav a[href='/admin/import']").click()
    await admin.locator("input[name=kind][value=students]").check()
    await admin.locator("#import-file").set_input_files(
        files=FilePayload(name="students.csv", mimeType="text/csv", buffer=BAD_STUDENTS.encode("gbk"))
    )
    await admin.locator(".import-form button[type=submit]").click()
    await expect(admin.locator('tr[data-row="2"][data-field="degree"]')).to_be_visible()
    await expect(admin.locator("nav.admin-nav a[aria-current=page]")).to_have_attribute("href", "/admin/import")
    await checked(admin, "en", "an import preview with a bad row")
    await story.shot(admin, "console-import-preview-desktop-en", full_page=True)

    await admin.goto("/schema")
    await expect(admin.get_by_text("Course selection").first).to_be_visible(timeout=20_000)
    await expect(admin.get_by_text("Body over the limit").first).to_be_attached(timeout=20_000)
    await story.shot(admin, "api-docs-desktop-en")


async def test_the_whole_journey_on_a_phone_in_chinese_and_a_desktop_in_english(
    browser: Browser, tmp_path: Path, database_url: str, valkey: LiveRedis
) -> None:
    service = dev_service(tmp_path, database_url, valkey.url)
    service.start()
    try:
        await service.wait_ready(60)
        secret = (tmp_path / "data" / "dev-jwt-secret").read_text().strip()
        story = Story(Served(service, secret, separate_offerings(4, set())), screenshots_folder(tmp_path), [])
        await first_come_on_a_phone_in_chinese(browser, story)
        admin = await lottery_on_a_desktop_in_english(browser, story)
        await console_on_a_desktop_in_english(admin, story)
        for context, offline in story.contexts:
            assert offline.from_service() == [], offline.blocked
            await context.close()
    finally:
        service.stop()


def test_the_screenshots_are_named_plainly() -> None:
    """Each picture of docs/screenshots/ is one this module writes, and the README lists each."""
    written = set(re.findall(r'shot\([a-z]+, "([a-z0-9-]+)"', Path(__file__).read_text()))
    folder = Path(__file__).parents[2] / "docs" / "screenshots"
    assert {p.stem for p in folder.glob("*.png")} == written
    readme = (folder / "README.md").read_text()
    for name in written:
        assert f"{name}.png" in readme, name
