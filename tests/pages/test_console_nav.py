"""The console's navigation, in process: every page of /admin carries it, with its own item
current, and a round's page links to its dashboard, fairness report and (lottery) draw, each of
which links back to the round.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib.settings import Settings
from selection.web.app import create_app
from tests.catalog_data import ADMIN, offering, student
from tests.conftest import bearer
from tests.pages.test_pages import csrf_of, dev_sign_in

Client = AsyncTestClient[Litestar]
ADMIN_HEADERS = bearer("admin-1", "admin")
NAV = re.compile(r'<nav class="admin-nav" aria-label="([^"]+)">(.*?)</nav>', re.S)
CURRENT = re.compile(r'<a href="([^"]+)" aria-current="page">')


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[Client]:
    fields: dict[str, Any] = {f: getattr(settings, f) for f in settings.__struct_fields__}
    async with AsyncTestClient(app=create_app(Settings(**{**fields, "dev_sign_in": True}))) as client:
        catalog = [offering("swim", title="Swimming", capacity=2), offering("yoga", title="Yoga", capacity=2)]
        assert (await client.put(f"{ADMIN}/offerings", json=catalog, headers=ADMIN_HEADERS)).status_code == 200
        assert (await client.put(f"{ADMIN}/students", json=[student("s1")], headers=ADMIN_HEADERS)).status_code == 200
        for body in (
            {"id": "fast", "name": "First come", "offering_ids": ["swim", "yoga"], "waitlist": True},
            {"id": "lot", "name": "Lottery", "mode": "lottery", "offering_ids": ["swim", "yoga"]},
        ):
            made = await client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)
            assert made.status_code == 201, made.text
        yield client


async def as_admin(client: Client, lang: str) -> None:
    client.cookies.set("selection_lang", lang)
    answer = await dev_sign_in(client, **{"as": "admin"})
    assert answer.status_code == 200, answer.text


def nav_of(page: str) -> tuple[str, list[str]]:
    """The navigation's label and the addresses of its current items."""
    found = NAV.findall(page)
    assert len(found) == 1, "no navigation, or more than one"
    label, inside = found[0]
    return label, CURRENT.findall(inside)


async def preview_with_a_bad_row(client: Client) -> str:
    form = await client.get("/admin/import")
    answer = await client.post(
        "/admin/import",
        data={"_csrf_token": csrf_of(form.text), "kind": "students"},
        files={"file": ("s.csv", b"id,name,cohort,degree,campus,college\r\nt1,A,2024,nope,n,c\r\n", "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert 'data-field="degree"' in answer.text
    return answer.text


async def import_done(client: Client) -> str:
    form = await client.get("/admin/import")
    preview = await client.post(
        "/admin/import",
        data={"_csrf_token": csrf_of(form.text), "kind": "students"},
        files={"file": ("s.csv", b"id,name,cohort,degree,campus,college\r\nt1,A,2024,master,n,c\r\n", "text/csv")},
    )
    token = re.search(r'name="token" value="([^"]+)"', preview.text)
    assert token, preview.text
    done = await client.post("/admin/import/confirm", data={"_csrf_token": csrf_of(preview.text), "token": token[1]})
    assert done.status_code == 200, done.text
    return done.text


@pytest.mark.parametrize(("lang", "label"), [("en", "Administration"), ("zh-Hans", "管理")])
async def test_every_console_page_has_the_navigation_with_its_item_current(
    console: Client, lang: str, label: str
) -> None:
    await as_admin(console, lang)
    expected = {
        "/admin": "/admin",
        "/admin/offerings": "/admin/offerings",
        "/admin/rounds/new": "/admin",
        "/admin/rounds/fast": "/admin",
        "/admin/rounds/fast/dashboard": "/admin",
        "/admin/rounds/fast/fairness": "/admin",
        "/admin/rounds/lot/lottery": "/admin",
        "/admin/rounds/lot/fairness": "/admin",
        "/admin/import": "/admin/import",
        "/admin/audit": "/admin/audit",
    }
    labels = set()
    for path, current in expected.items():
        page = await console.get(path)
        assert page.status_code == 200, (path, page.text)
        found, currents = nav_of(page.text)
        labels.add(found)
        assert currents == [current], path
        # The navigation's styles come with it.
        assert re.search(r'href="/static/admin\.[0-9a-f]+\.css"', page.text), path
    for page_text in (await preview_with_a_bad_row(console), await import_done(console)):
        found, currents = nav_of(page_text)
        labels.add(found)
        assert currents == ["/admin/import"]
    # One label for the navigation everywhere, in the page's language.
    assert labels == {label}


async def test_a_round_links_to_its_pages_and_they_link_back(console: Client) -> None:
    await as_admin(console, "en")
    fast = (await console.get("/admin/rounds/fast")).text
    assert 'href="/admin/rounds/fast/dashboard"' in fast
    assert 'href="/admin/rounds/fast/fairness"' in fast
    assert 'href="/admin/rounds/fast/lottery"' not in fast  # no draw in a first-come round
    lot = (await console.get("/admin/rounds/lot")).text
    for page in ("dashboard", "fairness", "lottery"):
        assert f'href="/admin/rounds/lot/{page}"' in lot, page
    for round_id, page in [("fast", "dashboard"), ("fast", "fairness"), ("lot", "lottery"), ("lot", "fairness")]:
        text = (await console.get(f"/admin/rounds/{round_id}/{page}")).text
        assert f'<a href="/admin/rounds/{round_id}">Back to the round</a>' in text, (round_id, page)


async def test_a_student_sees_no_console_navigation(console: Client) -> None:
    console.cookies.set("selection_lang", "en")
    assert (await dev_sign_in(console, student="s1")).status_code == 200
    refused = await console.get("/admin/audit")
    assert refused.status_code == 403
    assert "admin-nav" not in refused.text
