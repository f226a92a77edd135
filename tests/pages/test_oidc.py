"""Single sign-on against a real OpenID Connect provider (oidc-provider, run by the test with Node).

The whole dance, as a browser does it: the service sends the user to the provider, the
provider's own login and consent pages are filled in, the provider sends the user back with a
code, the service exchanges it (with the PKCE verifier) and checks the ID token. Then what must
be refused: a state that is not this session's, a code used again, a student not registered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib.settings import Settings
from selection.pages.sessions import SESSION_COOKIE
from selection.web.app import create_app
from tests.builders import add_students
from tests.pages.oidc_provider import Provider, consent_as, running_provider

pytestmark = pytest.mark.slow

Client = AsyncTestClient[Litestar]
BASE = "http://testserver.local"
CALLBACK = f"{BASE}/auth/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider(CALLBACK) as running:
        yield running


@pytest.fixture
def sso_app(settings: Settings, provider: Provider) -> Callable[..., Litestar]:
    def make(**changes: Any) -> Litestar:
        fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
        oidc = {k.removeprefix("SELECTION_").lower(): v for k, v in provider.settings(CALLBACK).items()}
        return create_app(Settings(**{**fields, **oidc, **changes}))

    return make


@pytest.fixture
async def client(sso_app: Callable[..., Litestar], db: asyncpg.Connection) -> AsyncIterator[Client]:
    await add_students(db, "s1")
    async with AsyncTestClient(app=sso_app(), base_url=BASE) as c:
        yield c


async def begin(client: Client, next_path: str = "/") -> str:
    answer = await client.get(f"/auth/sso?next={next_path}", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def local(url: str) -> str:
    """The service's callback URL as the test client asks it: path and query."""
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


async def test_a_student_signs_in_through_the_provider(client: Client, provider: Provider) -> None:
    authorization = await begin(client)
    asked = parse_qs(urlsplit(authorization).query)
    assert authorization.startswith(f"{provider.issuer}/auth?")
    assert asked["response_type"] == ["code"]
    assert asked["code_challenge_method"] == ["S256"]
    assert len(asked["code_challenge"][0]) == 43  # base64url of a SHA-256
    assert asked["state"][0]
    assert asked["nonce"][0]
    assert asked["redirect_uri"] == [CALLBACK]
    back = await consent_as(authorization, "s1")
    assert back.startswith(CALLBACK + "?")
    assert parse_qs(urlsplit(back).query)["state"] == asked["state"]
    answer = await client.get(local(back), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/"
    page = await client.get("/")
    assert page.status_code == 200
    assert "Student s1" in page.text  # the provider's name claim
    assert "Development sign-in" not in page.text


async def test_the_administrator_by_role_claim_or_by_the_admin_list(
    sso_app: Callable[..., Litestar], db: asyncpg.Connection
) -> None:
    async with AsyncTestClient(app=sso_app(), base_url=BASE) as client:
        back = await consent_as(await begin(client), "admin-7")
        answer = await client.get(local(back), follow_redirects=False)
        assert answer.headers["location"] == "/admin"
        assert (await client.get("/admin")).status_code == 200
    # "boss" has the role claim "student", but is on the administrators' list.
    async with AsyncTestClient(app=sso_app(oidc_admins="someone, boss"), base_url=BASE) as client:
        back = await consent_as(await begin(client, "/admin"), "boss")
        answer = await client.get(local(back), follow_redirects=False)
        assert answer.headers["location"] == "/admin"
        assert (await client.get("/admin")).status_code == 200
    # Without the role claim configured, "admin-7" is a student like any other (and not registered).
    async with AsyncTestClient(app=sso_app(oidc_role_claim=None), base_url=BASE) as client:
        back = await consent_as(await begin(client), "admin-7")
        assert (await client.get(local(back))).status_code == 403


async def test_a_state_that_is_not_this_sessions_is_refused(client: Client) -> None:
    back = await consent_as(await begin(client), "s1")
    parts = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    forged = "/auth/callback?" + "&".join(f"{k}={'x' + v if k == 'state' else v}" for k, v in query.items())
    answer = await client.get(forged)
    assert answer.status_code == 400
    assert "Sign-in did not succeed" in answer.text
    # The state is spent even so: the genuine answer, afterwards, is refused too.
    assert (await client.get(local(back))).status_code == 400
    assert (await client.get("/", follow_redirects=False)).status_code == 303
    # And a callback in a session that started no sign-in at all.
    client.cookies.delete(SESSION_COOKIE)
    assert (await client.get(local(back))).status_code == 400


async def test_a_code_used_twice_is_refused(client: Client) -> None:
    back = await consent_as(await begin(client), "s1")
    assert (await client.get(local(back), follow_redirects=False)).status_code == 303
    # Same answer again: this session's sign-in is over.
    assert (await client.get(local(back))).status_code == 400
    # The old code with a new sign-in's state: the provider itself refuses a code used before.
    fresh = await begin(client)
    state = parse_qs(urlsplit(fresh).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    replayed = await client.get(f"/auth/callback?code={code}&state={state}")
    assert replayed.status_code == 400
    assert "Sign-in did not succeed" in replayed.text


async def test_an_unregistered_student_gets_the_clear_page_in_both_languages(client: Client) -> None:
    back = await consent_as(await begin(client), "stranger")
    answer = await client.get(local(back))
    assert answer.status_code == 403
    assert "not on this service's list of students" in answer.text
    assert (await client.get("/", follow_redirects=False)).status_code == 303
    back = await consent_as(await begin(client), "stranger")
    answer = await client.get(local(back), headers={"accept-language": "zh-CN"})
    assert answer.status_code == 403
    assert "不在本服务的学生名单中" in answer.text


async def test_the_sign_in_page_offers_single_sign_on_when_configured(client: Client) -> None:
    page = await client.get("/sign-in?next=/admin")
    assert 'href="/auth/sso?next=/admin"' in page.text
    assert "/dev/sign-in" not in page.text


async def test_a_provider_that_does_not_answer_is_a_clear_page(
    sso_app: Callable[..., Litestar], db: asyncpg.Connection
) -> None:
    from tests.live import free_port

    async with AsyncTestClient(app=sso_app(oidc_issuer=f"http://127.0.0.1:{free_port()}"), base_url=BASE) as client:
        answer = await client.get("/auth/sso")
        assert answer.status_code == 400
        assert "Sign-in did not succeed" in answer.text
