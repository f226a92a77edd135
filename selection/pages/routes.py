"""The pages' routes: sign-in (single sign-on, and the development sign-in under ``--dev``), the
language switch, the student page and the administrators' console; and their error pages.

Built by ``pages_router(pages)`` from one ``Pages`` object (settings, catalogs, assets, the OIDC
client): nothing here is a module-level global a test could not replace.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
import redis.asyncio as aioredis
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar import Request, Response, Router, get, post
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression import CompressionMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import QueryParameter, URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig

from courses.rounds import RoundRegistry
from courses.students import StudentDirectory
from lib.settings import Settings
from quota.connection import pool_options
from selection.browse import Browse
from selection.pages import i18n
from selection.pages.assets import StaticAssets
from selection.pages.oidc import OidcClient, Pending, SignInFailed
from selection.pages.sessions import (
    LANGUAGE_COOKIE,
    PageUser,
    csrf_config,
    session_config,
    sign_in,
    user_of,
)

log = logging.getLogger("selection.pages")
TEMPLATES = Path(__file__).parent / "templates"
#: A few of the demo data's students, offered by the development sign-in.
DEMO_STUDENTS = ("s00001", "s00002", "s00003", "s00004", "s00005")
#: The student id alphabet of the contract (``lib``'s ids), for what the development sign-in is typed.
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
#: Paths the pages answer; the bearer-token middleware leaves them alone.
PAGE_PATHS = [
    "^/$",
    "^/admin$",
    "^/admin/",
    "^/rounds/",
    "^/sign-in$",
    "^/sign-out$",
    "^/auth/",
    "^/dev/",
    "^/language$",
    "^/static/",
]
#: The pages' own compression (the assets compress themselves, the API is not compressed).
PAGE_COMPRESSION = CompressionConfig(backend="brotli", brotli_gzip_fallback=True)
#: A year: the language switch is remembered as long as a browser keeps it.
LANGUAGE_SECONDS = 365 * 24 * 3600
#: Where to go once signed in (checked by ``_safe_next``).
NextPath = Annotated[str | None, QueryParameter()]


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
        client = aioredis.Redis.from_pool(aioredis.ConnectionPool(**pool_options(self.settings.redis_url)))
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
                "here": _safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else "")),
                **context,
            },
            headers={"Cache-Control": "no-store", "Content-Language": lang},
        )


def _safe_next(value: str | None) -> str:
    """A place on this site to go back to: a path, never another host (``//x``, ``/\\x``) or scheme."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/"
    return value


def pages_router(pages: Pages) -> Router:
    """Every page route, behind the session and CSRF middleware, with HTML error pages."""

    def signed_in(request: Request[Any, Any, Any]) -> PageUser:
        user = user_of(request, pages.settings.dev_sign_in)
        if user is None:
            raise NotAuthorizedException()
        return user

    @get("/", name="student_page")
    async def student_page(
        request: Request[Any, Any, Any], browse: NamedDependency[Browse], students: NamedDependency[StudentDirectory]
    ) -> Response[Any]:
        user = signed_in(request)
        if user.role == "admin":
            return Redirect("/admin", status_code=HTTP_303_SEE_OTHER)
        profile = await students.get(user.sub)
        if profile is None:
            raise PageError(403, "unregistered")
        rounds = await browse.rounds_for(profile)
        return pages.render(request, "student.html", rounds=rounds, profile=profile)

    @get("/admin", name="admin_page")
    async def admin_page(request: Request[Any, Any, Any], rounds: NamedDependency[RoundRegistry]) -> Template:
        user = signed_in(request)
        if user.role != "admin":
            raise PageError(403, "admins_only")
        return pages.render(request, "admin.html", rounds=await rounds.every())

    @get("/sign-in", name="sign_in_page")
    async def sign_in_page(request: Request[Any, Any, Any], next: NextPath = None) -> Template:
        return pages.render(request, "sign_in.html", next=_safe_next(next))

    @post("/sign-out", name="sign_out")
    async def sign_out(request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/sign-in", status_code=HTTP_303_SEE_OTHER)

    @post("/language", name="language")
    async def language(
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        chosen = data.get("lang")
        target = _safe_next(data.get("next"))
        if chosen not in i18n.LANGUAGES:
            raise PageError(400, "bad_request")
        return Redirect(
            target,
            status_code=HTTP_303_SEE_OTHER,
            cookies=[
                Cookie(
                    key=LANGUAGE_COOKIE,
                    value=chosen,
                    max_age=LANGUAGE_SECONDS,
                    httponly=True,
                    samesite="lax",
                    secure=pages.settings.session_secure,
                )
            ],
        )

    handlers: list[Any] = [student_page, admin_page, sign_in_page, sign_out, language, *sso_handlers(pages)]
    if pages.settings.dev_sign_in:
        handlers += dev_sign_in_handlers(pages)

    return Router(
        path="/",
        route_handlers=handlers,
        # On this router alone: the API's hot path goes through none of them.
        middleware=[
            DefineMiddleware(CompressionMiddleware, config=PAGE_COMPRESSION),
            pages.session.middleware,
            DefineMiddleware(CSRFMiddleware, config=pages.csrf),
        ],
        exception_handlers={HTTPException: page_error(pages), SignInFailed: page_error(pages)},
        include_in_schema=False,
    )


def sso_handlers(pages: Pages) -> list[Any]:
    """Single sign-on: off to the provider, and back."""

    @get("/auth/sso", name="sso_begin")
    async def sso_begin(request: Request[Any, Any, Any], next: NextPath = None) -> Redirect:
        if pages.oidc is None:
            raise NotFoundException()
        callback = str(request.url_for("sso_callback"))
        url, pending = await pages.oidc.begin(callback, _safe_next(next))
        request.session["oidc"] = msgspec.to_builtins(pending)
        return Redirect(url, status_code=HTTP_303_SEE_OTHER)

    @get("/auth/callback", name="sso_callback")
    async def sso_callback(request: Request[Any, Any, Any], students: NamedDependency[StudentDirectory]) -> Redirect:
        if pages.oidc is None:
            raise NotFoundException()
        # One use: whatever happens next, this sign-in's state is spent.
        kept = request.session.pop("oidc", None) if request.scope.get("session") else None
        if kept is None:
            raise SignInFailed("no sign-in under way in this session")
        try:
            pending = msgspec.convert(kept, Pending)
        except msgspec.ValidationError as exc:
            raise SignInFailed("the session's sign-in is unreadable") from exc
        identity = await pages.oidc.finish(pending, dict(request.query_params))
        if identity.role == "student" and (
            not _ID.match(identity.student_id) or await students.get(identity.student_id) is None
        ):
            log.info("sign-in of an unregistered student", extra={"sub": identity.sub})
            raise PageError(403, "unregistered")
        sign_in(request, PageUser(sub=identity.student_id, role=identity.role, name=identity.name))
        target = "/admin" if identity.role == "admin" and pending.next == "/" else pending.next
        return Redirect(target, status_code=HTTP_303_SEE_OTHER)

    return [sso_begin, sso_callback]


def page_error(pages: Pages) -> Any:
    """The pages' answer to an error: a page in the visitor's language, or off to sign in."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if isinstance(exc, NotAuthorizedException):
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(f"/sign-in?next={_quote(path)}", status_code=HTTP_303_SEE_OTHER)
        if isinstance(exc, SignInFailed):
            log.warning("sign-in refused", extra={"reason": exc.reason})
            return pages.render(request, "error.html", status_code=400, kind="sign_in_failed")
        if isinstance(exc, PageError):
            return pages.render(request, "error.html", status_code=exc.status_code, kind=exc.kind)
        if isinstance(exc, PermissionDeniedException):
            # The CSRF middleware's refusal: a form sent without this site's token.
            return pages.render(request, "error.html", status_code=403, kind="csrf")
        if isinstance(exc, NotFoundException):
            return pages.render(request, "error.html", status_code=404, kind="not_found")
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status >= 500:
            log.exception("page failed", exc_info=exc)
        return pages.render(request, "error.html", status_code=status, kind="bad_request" if status < 500 else "failed")

    return handle


def dev_sign_in_handlers(pages: Pages) -> list[Any]:
    """``/dev/sign-in``: who you like, without a password. Registered only when the app is served
    with ``--dev`` (``dev_sign_in``); otherwise the path does not exist (404)."""

    @get("/dev/sign-in", name="dev_sign_in_page")
    async def dev_sign_in_page(request: Request[Any, Any, Any], next: NextPath = None) -> Template:
        return pages.render(request, "dev_sign_in.html", demo_students=DEMO_STUDENTS, next=_safe_next(next))

    @post("/dev/sign-in", name="dev_sign_in")
    async def dev_sign_in(
        request: Request[Any, Any, Any],
        students: NamedDependency[StudentDirectory],
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        target = _safe_next(data.get("next"))
        if data.get("as") == "admin":
            sign_in(request, PageUser(sub="admin", role="admin", name="admin", dev=True))
            return Redirect(target if target != "/" else "/admin", status_code=HTTP_303_SEE_OTHER)
        student_id = (data.get("student") or data.get("student_id") or "").strip()
        if not _ID.match(student_id) or await students.get(student_id) is None:
            raise PageError(403, "unregistered")
        sign_in(request, PageUser(sub=student_id, role="student", name=student_id, dev=True))
        return Redirect(target, status_code=HTTP_303_SEE_OTHER)

    return [dev_sign_in_page, dev_sign_in]


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
