"""The console's dashboard, audit log and import in a real browser, against ``serve --dev`` with
the demo data: on a desktop in English, the dashboard draws its plots and follows a select made
through the API, and the audit log is filtered (htmx); on a phone in Chinese, a GBK file with a
bad row is previewed, fixed and imported, and the dashboard draws too. axe-core on each page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FilePayload, Page, expect

from courses.demo import ROUND_ID
from selection.web.auth import mint_token
from tests.browser.conftest import DESKTOP, PHONE, Screenshot, dev_service, offline_context, serious_violations
from tests.live import LiveRedis, LiveService

pytestmark = pytest.mark.slow

STUDENTS = "id,name,cohort,degree,campus,college\r\n"
GOOD = STUDENTS + "t90001,张伟,2024,master,北校区,理学院\r\nt90002,李娜,2025,phd,南校区,文学院\r\n"
#: Row 2 has a degree the service does not know.
BAD = STUDENTS + "t90001,张伟,2024,master,北校区,理学院\r\nt90002,李娜,2025,博士,南校区,文学院\r\n"


@pytest.fixture
async def served(tmp_path: Path, database_url: str, valkey: LiveRedis) -> AsyncIterator[tuple[LiveService, str]]:
    """The service with the demo data, its round open; and the dev JWT secret, for API calls."""
    service = dev_service(tmp_path, database_url, valkey.url)
    service.start()
    try:
        await service.wait_ready(60)
        secret = (tmp_path / "data" / "dev-jwt-secret").read_text().strip()
        admin = {"Authorization": "Bearer " + mint_token(secret, "admin", "admin")}
        async with httpx.AsyncClient(base_url=service.base_url, trust_env=False, timeout=20) as client:
            opened = await client.post(f"/api/v1/admin/rounds/{ROUND_ID}/open", headers=admin)
            assert opened.status_code == 200, opened.text
        yield service, secret
    finally:
        service.stop()


async def no_serious_findings(page: Page, where: str) -> None:
    found = await serious_violations(page)
    assert found == [], f"{where}: {found}"


async def sign_in_as_admin(page: Page, base_url: str) -> None:
    await page.goto("/dev/sign-in")
    await page.locator("button[name=as][value=admin]").click()
    await expect(page).to_have_url(f"{base_url}/admin")


async def select_through_the_api(base_url: str, secret: str, student: str) -> str:
    """``student`` selects the first offering of the round with seats that they may take."""
    headers = {"Authorization": "Bearer " + mint_token(secret, student, "student")}
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=20) as client:
        listed = await client.get(f"/api/v1/rounds/{ROUND_ID}/offerings", headers=headers)
        assert listed.status_code == 200, listed.text
        items: list[dict[str, Any]] = listed.json()
        for offering in items:
            if not offering["eligible"] or offering["remaining"] < 1:
                continue
            offering_id = offering["id"]
            answer = await client.post(
                f"/api/v1/rounds/{ROUND_ID}/selections", json={"offering_id": offering_id}, headers=headers
            )
            if answer.status_code == 201:
                return str(offering_id)
    raise AssertionError(f"{student} could select nothing")


async def dashboard_draws(page: Page, where: str) -> None:
    await page.goto(f"/admin/rounds/{ROUND_ID}/dashboard")
    dashboard = page.locator("#dashboard")
    # Two readings make the first rates: the lines are drawn from then on.
    await expect(dashboard).to_have_attribute("data-samples", "2", timeout=15_000)
    assert await page.locator("#plot-fill rect").count() == await page.locator("#fill-table tbody tr").count() > 100
    await expect(page.locator("#plot-requests path.series")).to_have_count(4)
    await expect(page.locator("#plot-commit path.series")).to_have_count(2)
    await expect(page.locator("#table-requests tbody tr")).to_have_count(4)
    await no_serious_findings(page, f"dashboard {where}")


async def test_the_console_on_a_desktop_in_english_and_a_phone_in_chinese(
    browser: Browser, served: tuple[LiveService, str], screenshot: Screenshot
) -> None:
    """One service for the module: starting it (the demo data) is most of the time."""
    service, secret = served
    await desktop_in_english(browser, service, secret, screenshot)
    await phone_in_chinese(browser, service, screenshot)


async def desktop_in_english(browser: Browser, service: LiveService, secret: str, screenshot: Screenshot) -> None:
    context, offline = await offline_context(browser, service.base_url, viewport=DESKTOP, locale="en-US")
    page = await context.new_page()
    await sign_in_as_admin(page, service.base_url)
    await dashboard_draws(page, "desktop-en")
    await expect(page.locator("#dash-status")).to_have_text("Live: updated every 2 seconds while this page is shown.")
    # A select through the API: the fill follows within a poll or two, and so does the select line.
    offering_id = await select_through_the_api(service.base_url, secret, "s00001")
    row = page.locator(f'#fill-table tr[data-offering="{offering_id}"]')
    await expect(row).to_have_attribute("data-enrolled", "1", timeout=10_000)
    await expect(page.locator("#dash-enrolled")).to_have_text("1")
    selects = page.locator('#table-requests tr[data-series="selects"] td').nth(1)  # the mean over the window
    await expect(selects).not_to_have_text("0", timeout=10_000)
    # Pausing stops the updates, and says so.
    await page.locator("#dash-toggle").click()
    await expect(page.locator("#dash-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#dash-status")).to_have_text("Updates paused.")
    await screenshot(page, "dashboard-desktop-en")

    # The audit log, filtered by the student with the form (htmx swaps the results in).
    await page.goto("/admin/audit")
    await no_serious_findings(page, "audit desktop-en")
    await page.locator("#f-student").fill("s00001")
    await page.locator(".filters button[type=submit]").click()
    await expect(page).to_have_url(
        f"{service.base_url}/admin/audit?round=&student=s00001&offering=&action=&actor=&since=&until="
    )
    events = page.locator("#audit-results li.event")
    await expect(events).to_have_count(1, timeout=10_000)
    await expect(events.first).to_have_attribute("data-action", "select")
    await expect(events.first).to_contain_text(offering_id)
    await expect(events.first).to_contain_text("The student selected an offering")
    await page.locator("#f-action").select_option("round.open")
    await page.locator("#f-student").fill("")
    await page.locator(".filters button[type=submit]").click()
    await expect(events.first).to_have_attribute("data-action", "round.open")
    await no_serious_findings(page, "audit filtered desktop-en")
    await screenshot(page, "audit-desktop-en")
    assert offline.from_service() == [], offline.blocked
    await context.close()


async def phone_in_chinese(browser: Browser, service: LiveService, screenshot: Screenshot) -> None:
    context, offline = await offline_context(browser, service.base_url, viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await sign_in_as_admin(page, service.base_url)
    await page.goto("/admin/import")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    await no_serious_findings(page, "import phone-zh")
    # A GBK file, as Excel writes it on Chinese Windows, with a bad row: previewed, not importable.
    await page.locator("input[name=kind][value=students]").check()
    await page.locator("#import-file").set_input_files(
        files=FilePayload(name="学生.csv", mimeType="text/csv", buffer=BAD.encode("gbk"))
    )
    await page.locator(".import-form button[type=submit]").click()
    await expect(page.locator(".encoding")).to_have_text("检测到的编码：GB18030")
    await expect(page.locator('tr[data-row="2"][data-field="degree"]')).to_be_visible()
    await expect(page.locator("form[action='/admin/import/confirm']")).to_have_count(0)
    await no_serious_findings(page, "import preview with a problem phone-zh")
    await screenshot(page, "import-preview-phone-zh")
    # Fixed, previewed, confirmed.
    await page.goto("/admin/import")
    await page.locator("#import-file").set_input_files(
        files=FilePayload(name="学生.csv", mimeType="text/csv", buffer=GOOD.encode("gbk"))
    )
    await page.locator(".import-form button[type=submit]").click()
    await expect(page.locator(".counts")).to_contain_text("新增 2 条，变更 0 条，未变 0 条")
    await expect(page.locator(".preview-table")).to_contain_text("张伟")
    await no_serious_findings(page, "import preview phone-zh")
    await page.locator("form[action='/admin/import/confirm'] button").click()
    await expect(page.locator(".done")).to_have_text("已导入学生 2 名。")
    await no_serious_findings(page, "import done phone-zh")

    await dashboard_draws(page, "phone-zh")
    await expect(page.locator("#dash-status")).to_have_text("实时：页面显示期间每 2 秒更新一次。")
    await screenshot(page, "dashboard-phone-zh")
    assert offline.from_service() == [], offline.blocked
    await context.close()
