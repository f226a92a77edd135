"""Page sessions: an id in an HttpOnly, SameSite=Lax cookie, the data in Redis, gone after an idle spell.

Only the pages' routes carry the session and CSRF middleware (``selection/pages/routes.py``):
the bearer-token API is not cookie-authenticated, so no cookie can act for anyone there.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Message, ScopeSession

from lib.settings import Settings

SESSION_COOKIE = "selection_session"
CSRF_COOKIE = "selection_csrf"
CSRF_HEADER = "x-csrf-token"
LANGUAGE_COOKIE = "selection_lang"
#: The name of the Litestar store that keeps the sessions (registered on the app).
STORE = "page_sessions"
#: Set in a request's scope when it signs someone in: the response then gives the session a new id.
_ROTATE = "selection.rotate_session"
_NEW_ID = "selection.new_session_id"
_AS_IT_IS = "selection.session_as_it_is"

PageRole = Literal["student", "admin"]


class PageUser(msgspec.Struct, frozen=True):
    """Who a page session belongs to."""

    sub: str
    role: PageRole
    #: What the pages call them: the provider's ``name`` claim, else their id.
    name: str
    #: Signed in through the development sign-in (the pages then show a banner).
    dev: bool = False


def user_of(connection: ASGIConnection[Any, Any, Any, Any], dev_sign_in: bool) -> PageUser | None:
    """The signed-in user, or None. A development session outlives nothing: served without the
    development sign-in, a session it made (say, kept in Redis across a restart) counts for nobody."""
    raw = connection.scope.get("session") or {}
    data = raw.get("user") if isinstance(raw, dict) else None
    if data is None:
        return None
    try:
        user = msgspec.convert(data, PageUser)
    except msgspec.ValidationError:
        return None
    if user.dev and not dev_sign_in:
        return None
    return user


def sign_in(connection: ASGIConnection[Any, Any, Any, Any], user: PageUser) -> None:
    """Make ``user`` the session's owner, under a new session id: an id known before the sign-in
    (one planted in the browser, say) is worth nothing after it."""
    language = connection.session.get("lang") if connection.scope.get("session") else None
    connection.clear_session()
    connection.set_session({"user": msgspec.to_builtins(user), **({"lang": language} if language else {})})
    connection.scope[_ROTATE] = True  # type: ignore[literal-required]


def leave_session_as_it_is(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Store nothing for this answer: a page's own refresh (the live seats), not the student's
    doing. It saves the opening second a Redis write per refresh, and an open page left alone
    ends its session after the idle limit like any other."""
    connection.scope[_AS_IT_IS] = True  # type: ignore[literal-required]


class _RotatingBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        if connection.scope.get(_ROTATE):
            new_id = connection.scope.get(_NEW_ID)
            if not isinstance(new_id, str):
                new_id = self.generate_session_id()
                connection.scope[_NEW_ID] = new_id  # type: ignore[literal-required]
            return new_id
        return super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if connection.scope.get(_AS_IT_IS) and not connection.scope.get(_ROTATE):
            return
        old = connection.cookies.get(self.config.key)
        if connection.scope.get(_ROTATE) and old:
            await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)


@dataclass
class PageSessionConfig(ServerSideSessionConfig):
    _backend_class = _RotatingBackend


def session_config(settings: Settings) -> PageSessionConfig:
    """The idle limit is both the cookie's and the stored data's lifetime, and every answer to a
    signed-in request stores the session again: a session lives as long as it is used."""
    idle = settings.session_idle_minutes * 60
    return PageSessionConfig(
        key=SESSION_COOKIE,
        max_age=idle,
        httponly=True,
        samesite="lax",
        secure=settings.session_secure,
        store=STORE,
    )


def derived_secret(settings: Settings, purpose: str) -> str:
    """A secret of its own for ``purpose``, derived from the service's one secret: no second
    secret to configure, and none of the derived ones tells anything of the others."""
    assert settings.jwt_secret is not None
    return hmac.new(settings.jwt_secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def csrf_config(settings: Settings) -> CSRFConfig:
    """Double-submit token: a cookie, and the same token in a form's field or an htmx request's header."""
    return CSRFConfig(
        secret=derived_secret(settings, "pages-csrf"),
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=settings.session_secure,
        cookie_httponly=True,
        cookie_samesite="lax",
    )
