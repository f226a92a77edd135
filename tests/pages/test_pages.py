"""The pages' foundation in process: sign-in and its refusals, sessions, CSRF, language, assets.

Against the real PostgreSQL and Redis of the suite, through the app as ``serve`` builds it; the
development sign-in is the way in here (single sign-on has its own tests, with a real provider).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib.settings import Settings
from selection.pages.sessions import CSRF_COOKIE, SESSION_COOKIE
from selection.web.app import create_app
from tests.builders import add_offering, add_round, add_students

Client = AsyncTestClient[Litestar]
#: 09:30 in Shanghai.
OPENS = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)


@pytest.fixture
def page_settings(settings: Settings) -> Callable[..., Settings]:
    def make(**changes: Any) -> Settings:
        fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
        return Settings(**{**fields, **changes})

    return make


@pytest.fixture
async def dev_client(page_settings: Callable[..., Settings], db: asyncpg.Connection) -> AsyncIterator[Client]:
    await add_students(db, "s1")
    await add_offering(db, "o1")
    await add_round(db, "r-open", ["o1"], state="open")
    await add_round(db, "r-draft", ["o1"], state="draft")
    await db.execute("UPDATE rounds SET opens_at = $1 WHERE id = 'r-open'", OPENS)
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True))) as client:
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert found, page
    return found[1]


async def dev_sign_in(client: Client, **form: str) -> Any:
    page = await client.get("/dev/sign-in")
    assert page.status_code == 200, page.text
    return await client.post("/dev/sign-in", data={"_csrf_token": csrf_of(page.text), **form})


async def test_an_anonymous_visitor_is_sent_to_sign_in(dev_client: Client) -> None:
    for path in ("/", "/admin"):
        answer = await dev_client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/sign-in?next={path}"
    page = await dev_client.get("/sign-in?next=/admin")
    assert page.status_code == 200
    assert 'href="/dev/sign-in?next=/admin"' in page.text
    # No single sign-on configured here: the page says so instead of offering a dead button.
    assert "/auth/sso" not in page.text


async def test_a_student_signs_in_sees_their_rounds_in_the_schools_time_and_not_the_console(
    dev_client: Client,
) -> None:
    answer = await dev_sign_in(dev_client, student="s1")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "s1" in page
    assert 'data-round="r-open"' in page
    assert 'data-round="r-draft"' not in page  # drafts are not shown to students
    # 01:30 UTC is 09:30 in Shanghai; the machine-readable instant stays UTC.
    assert "9:30" in page
    assert 'datetime="2026-03-02T01:30:00+00:00"' in page
    assert "Development sign-in" in page  # the banner, on every page of such a session
    console = await dev_client.get("/admin")
    assert console.status_code == 403
    assert "This page is for the administrators" in console.text


async def test_the_administrator_signs_in_and_sees_every_round(dev_client: Client) -> None:
    answer = await dev_sign_in(dev_client, **{"as": "admin"})
    assert answer.status_code == 200, answer.text
    assert str(answer.url).endswith("/admin")
    assert 'data-round="r-open"' in answer.text
    assert 'data-round="r-draft"' in answer.text
    # The administrator's way to "/" is the console.
    home = await dev_client.get("/", follow_redirects=False)
    assert home.status_code == 303
    assert home.headers["location"] == "/admin"


async def test_an_unregistered_student_gets_the_clear_page_in_both_languages(dev_client: Client) -> None:
    answer = await dev_sign_in(dev_client, student_id="nobody")
    assert answer.status_code == 403
    assert "not on this service's list of students" in answer.text
    dev_client.cookies.set("selection_lang", "zh-Hans")
    answer = await dev_sign_in(dev_client, student_id="nobody")
    assert answer.status_code == 403
    assert "不在本服务的学生名单中" in answer.text
    assert '<html lang="zh-Hans">' in answer.text
    # Not signed in.
    assert (await dev_client.get("/", follow_redirects=False)).status_code == 303


async def test_sign_in_gives_a_new_session_id_and_sign_out_ends_the_session(dev_client: Client) -> None:
    await dev_client.get("/dev/sign-in")
    dev_client.cookies.set(SESSION_COOKIE, "a" * 64, domain="testserver.local")  # planted before the sign-in
    await dev_sign_in(dev_client, student="s1")
    new_id = dev_client.cookies.get(SESSION_COOKIE)
    assert new_id
    assert new_id != "a" * 64
    page = await dev_client.get("/")
    assert page.status_code == 200
    out = await dev_client.post("/sign-out", data={"_csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert (await dev_client.get("/", follow_redirects=False)).status_code == 303
    # The old id is worth nothing either.
    dev_client.cookies.set(SESSION_COOKIE, new_id, domain="testserver.local")
    assert (await dev_client.get("/", follow_redirects=False)).status_code == 303


async def test_cookies_are_httponly_lax_and_expire_when_idle(
    dev_client: Client, redis: aioredis.Redis, settings: Settings
) -> None:
    answer = await dev_sign_in(dev_client, student="s1")
    cookies = list(answer.history[0].headers.get_list("set-cookie"))
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session
    assert "SameSite=lax" in session or "SameSite=Lax" in session
    assert "Max-Age=1800" in session  # the default idle limit, 30 minutes
    assert "Secure" not in session
    # Kept in Redis for the idle limit, and every request starts the count again.
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis_namespace}page-sessions*")]
    assert len(keys) == 1, keys
    key = keys[0]
    await redis.expire(key, 5)
    await dev_client.get("/")
    assert 1790 <= await redis.ttl(key) <= 1800
    # What the idle limit does at its end: the data is gone, and with it the sign-in.
    await redis.delete(key)
    assert (await dev_client.get("/", follow_redirects=False)).status_code == 303


async def test_secure_cookies_and_the_idle_limit_are_settings(
    page_settings: Callable[..., Settings], db: asyncpg.Connection
) -> None:
    await add_students(db, "s1")
    app = create_app(page_settings(dev_sign_in=True, session_secure=True, session_idle_minutes=5))
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        answer = await dev_sign_in(client, student="s1")
        session = next(
            c for c in answer.history[0].headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
        )
        assert "Secure" in session
        assert "Max-Age=300" in session


async def test_every_unsafe_page_request_needs_the_csrf_token(dev_client: Client) -> None:
    page = await dev_client.get("/dev/sign-in")
    token = csrf_of(page.text)
    assert dev_client.cookies.get(CSRF_COOKIE)
    refused = await dev_client.post("/dev/sign-in", data={"student": "s1"})
    assert refused.status_code == 403
    assert "security token" in refused.text
    wrong = await dev_client.post("/language", data={"lang": "en", "_csrf_token": token[:-4] + "AAAA"})
    assert wrong.status_code == 403
    # htmx sends it in a header (static/pages.js), from the page's meta tag.
    assert f'<meta name="csrf-token" content="{token}">' in page.text
    header = await dev_client.post(
        "/language", data={"lang": "zh-Hans", "next": "/sign-in"}, headers={"x-csrf-token": token}
    )
    assert header.status_code == 200
    assert '<html lang="zh-Hans">' in header.text


async def test_a_page_session_does_not_open_the_bearer_api(dev_client: Client) -> None:
    await dev_sign_in(dev_client, **{"as": "admin"})
    assert (await dev_client.get("/api/v1/admin/rounds")).status_code == 401
    # And the API's unsafe requests need no CSRF token: they are not cookie-authenticated.
    assert (await dev_client.post("/api/v1/admin/rounds/r-open/pause")).status_code == 401


async def test_the_development_sign_in_does_not_exist_without_dev(settings: Settings, db: asyncpg.Connection) -> None:
    await add_students(db, "s1")
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.get("/dev/sign-in")).status_code == 404
        assert (await client.post("/dev/sign-in", data={"student": "s1"})).status_code == 404
        page = await client.get("/sign-in")
        assert "/dev/sign-in" not in page.text


async def test_a_development_session_counts_for_nobody_once_served_without_dev(
    page_settings: Callable[..., Settings], db: asyncpg.Connection
) -> None:
    await add_students(db, "s1")
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True))) as client:
        await dev_sign_in(client, student="s1")
        session = client.cookies.get(SESSION_COOKIE)
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=False))) as client:
        client.cookies.set(SESSION_COOKIE, session or "", domain="testserver.local")
        assert (await client.get("/", follow_redirects=False)).status_code == 303


@pytest.mark.parametrize(
    ("accept", "lang", "text"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans", "登录"),
        ("en-GB,en;q=0.9", "en", "Sign in"),
        ("fr-FR, zh-TW;q=0.5", "zh-Hans", "登录"),
        ("de", "en", "Sign in"),
    ],
)
async def test_the_language_follows_accept_language_until_switched(
    dev_client: Client, accept: str, lang: str, text: str
) -> None:
    page = await dev_client.get("/sign-in", headers={"accept-language": accept})
    assert f'<html lang="{lang}">' in page.text
    assert text in page.text
    assert page.headers["content-language"] == lang
    other = "en" if lang == "zh-Hans" else "zh-Hans"
    switched = await dev_client.post(
        "/language", data={"lang": other, "next": "/sign-in", "_csrf_token": csrf_of(page.text)}
    )
    assert f'<html lang="{other}">' in switched.text
    again = await dev_client.get("/sign-in", headers={"accept-language": accept})
    assert f'<html lang="{other}">' in again.text


async def test_the_switch_goes_back_only_to_this_site(dev_client: Client) -> None:
    page = await dev_client.get("/sign-in")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = await dev_client.post(
            "/language",
            data={"lang": "en", "next": target, "_csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/", target


async def test_assets_have_hashed_names_long_cache_and_compression(dev_client: Client) -> None:
    page = (await dev_client.get("/sign-in")).text
    found = re.search(r'src="(/static/vendor/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js)"', page)
    assert found, page
    answer = await dev_client.get(found[1], headers={"accept-encoding": "br"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-encoding"] == "br"
    assert answer.headers["content-type"].startswith("text/javascript")
    assert len(answer.content) > 40_000  # decoded by the client
    raw = await dev_client.get(found[1], headers={"accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    again = await dev_client.get(found[1], headers={"if-none-match": answer.headers["etag"]})
    assert again.status_code == 304
    assert (await dev_client.get("/static/vendor/htmx-2.0.11.min.js")).status_code == 404
    assert (await dev_client.get("/static/vendor/htmx-2.0.11.LICENSE")).status_code == 404


async def test_pages_are_compressed_and_the_api_is_not(dev_client: Client) -> None:
    page = await dev_client.get("/sign-in", headers={"accept-encoding": "br"})
    assert page.headers.get("content-encoding") == "br"
    assert page.headers["cache-control"] == "no-store"
    health = await dev_client.get("/api/v1/rounds", headers={"accept-encoding": "br, gzip"})
    assert "content-encoding" not in health.headers


def test_serve_refuses_the_development_sign_in_without_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from selection.cli.main import main

    monkeypatch.setenv("SELECTION_JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes-for-tests")
    monkeypatch.setenv("SELECTION_DEV_SIGN_IN", "1")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "SELECTION_DEV_SIGN_IN is for serve --dev alone" in result.output


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"SELECTION_TIMEZONE": "Mars/Olympus_Mons"}, "SELECTION_TIMEZONE"),
        ({"SELECTION_SESSION_IDLE_MINUTES": "0"}, "SELECTION_SESSION_IDLE_MINUTES"),
        ({"SELECTION_OIDC_ISSUER": "https://sso.example.edu"}, "oidc_client_id"),
        ({"SELECTION_OIDC_ISUER": "https://sso.example.edu"}, "SELECTION_OIDC_ISSUER"),
    ],
)
def test_the_pages_settings_refuse_what_they_cannot_take(environment: dict[str, str], named: str) -> None:
    with pytest.raises(SystemExit, match=named):
        Settings.from_env(environment)


def test_the_pages_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SELECTION_TIMEZONE": "Europe/Berlin",
            "SELECTION_SESSION_IDLE_MINUTES": "5",
            "SELECTION_SESSION_SECURE": "1",
            "SELECTION_OIDC_ISSUER": "https://sso.example.edu",
            "SELECTION_OIDC_CLIENT_ID": "selection",
            "SELECTION_OIDC_ADMINS": " boss, ,chief ",
        }
    )
    assert settings.timezone == "Europe/Berlin"
    assert settings.session_idle_minutes == 5
    assert settings.session_secure is True
    assert settings.oidc_admin_subjects == frozenset({"boss", "chief"})
    assert settings.oidc_student_claim == "sub"
