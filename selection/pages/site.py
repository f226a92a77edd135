"""What every page route stands on: the ``Pages`` object it renders with, its error, and who is
signed in (``signed_in``, ``admin_of``).

The route modules (``routes.py``, and one module per area of the pages) import from here; the
router that gathers them is ``routes.pages_router``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig

from lib.settings import Settings
from quota.connection import pool_options
from selection.pages import i18n
from selection.pages.assets import StaticAssets
from selection.pages.oidc import OidcClient
from selection.pages.sessions import LANGUAGE_COOKIE, PageUser, csrf_config, session_config, user_of

TEMPLATES = Path(__file__).parent / "templates"
#: Connections of a process's session store to Redis.
SESSION_CONNECTIONS = 64


class PageError(HTTPException):
    """An error page of a kind the error template knows (``kind``), with its status."""

    def __init__(self, status_code: int, kind: str) -> None:
        super().__init__(status_code=status_code, detail=kind)
        self.kind = kind


@dataclass
class Pages:
    """What the pages are built from, made once per app."""

    settings: Settings
    assets: StaticAssets
    translations: dict[str, Translations] = field(default_factory=i18n.load_translations)
    oidc: OidcClient | None = None

    def __post_init__(self) -> None:
        self.zone = ZoneInfo(self.settings.timezone)
        self.session = session_config(self.settings)
        self.csrf: CSRFConfig = csrf_config(self.settings)
        if self.oidc is None and self.settings.oidc_issuer:
            self.oidc = OidcClient(self.settings)

    def environment(self) -> Environment:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )

        @pass_context
        def gettext(context: Context, message: str) -> str:
            translations: Translations = context["i18n"]
            return translations.gettext(message)

        @pass_context
        def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
            translations: Translations = context["i18n"]
            return translations.ngettext(singular, plural, n)

        env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]

        @pass_context
        def school_time(context: Context, instant: Any) -> str:
            return i18n.school_time(instant, self.zone, context["lang"], missing="—")

        env.filters["school_time"] = school_time
        env.globals["asset"] = self.assets.url
        env.globals["languages"] = i18n.LANGUAGES
        env.globals["timezone_name"] = self.settings.timezone
        return env

    def template_config(self) -> TemplateConfig[JinjaTemplateEngine]:
        environment = self.environment()
        return TemplateConfig(engine=JinjaTemplateEngine.from_environment(environment))

    def store(self) -> Store:
        if self.settings.redis_url is None:
            # Only an app that is never served (the OpenAPI document's, say) has no Redis.
            return MemoryStore()
        # A blocking pool, as the worker's: at the opening second thousands of page requests load
        # and store their sessions at once, and a request must wait for a connection rather than
        # fail with "too many connections" (which the plain pool does past 100).
        pool = aioredis.BlockingConnectionPool(
            **pool_options(self.settings.redis_url),
            max_connections=SESSION_CONNECTIONS,
            timeout=10,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
        )
        client = aioredis.Redis.from_pool(pool)
        return RedisStore(
            client, namespace=f"{self.settings.redis_namespace}page-sessions", handle_client_shutdown=True
        )

    def language(self, request: Request[Any, Any, Any]) -> str:
        return i18n.chosen_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))

    def render(self, request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any) -> Template:
        lang = self.language(request)
        user = user_of(request, self.settings.dev_sign_in) if "session" in request.scope else None
        return Template(
            template_name=name,
            status_code=status_code,
            context={
                "lang": lang,
                "i18n": i18n.translations_for(self.translations, lang),
                "user": user,
                "dev_sign_in": self.settings.dev_sign_in,
                "sso": self.oidc is not None,
                "here": safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else "")),
                **context,
            },
            headers={"Cache-Control": "no-store", "Content-Language": lang},
        )


def safe_next(value: str | None) -> str:
    """A place on this site to go back to: a path, never another host (``//x``, ``/\\x``) or scheme."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/"
    return value


def signed_in(pages: Pages, request: Request[Any, Any, Any]) -> PageUser:
    """The signed-in user; anybody else is sent to sign in (the router's error handler)."""
    user = user_of(request, pages.settings.dev_sign_in)
    if user is None:
        raise NotAuthorizedException()
    return user


def admin_of(pages: Pages, request: Request[Any, Any, Any]) -> PageUser:
    """The signed-in administrator; a student gets the "administrators only" page."""
    user = signed_in(pages, request)
    if user.role != "admin":
        raise PageError(403, "admins_only")
    return user
