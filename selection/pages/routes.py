"""The pages' routes: sign-in (single sign-on, and the development sign-in under ``--dev``), the
language switch, the student page and the administrators' console; and their error pages.

Built by ``pages_router(pages)`` from one ``Pages`` object (settings, catalogs, assets, the OIDC
client): nothing here is a module-level global a test could not replace.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.config.compression import CompressionConfig
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression import CompressionMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from courses.students import StudentDirectory
from selection.pages import i18n
from selection.pages.admin_pages import admin_handlers
from selection.pages.audit_pages import audit_handlers
from selection.pages.dashboard_pages import dashboard_handlers
from selection.pages.import_pages import close_uploads, import_handlers
from selection.pages.lottery_pages import lottery_handlers
from selection.pages.oidc import Pending, SignInFailed
from selection.pages.sessions import (
    LANGUAGE_COOKIE,
    PageUser,
    sign_in,
)
from selection.pages.site import PageError, Pages, safe_next
from selection.pages.student_pages import student_handlers

log = logging.getLogger("selection.pages")
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
#: Where to go once signed in (checked by ``safe_next``).
NextPath = Annotated[str | None, QueryParameter()]


def pages_router(pages: Pages) -> Router:
    """Every page route, behind the session and CSRF middleware, with HTML error pages."""

    @get("/sign-in", name="sign_in_page")
    async def sign_in_page(request: Request[Any, Any, Any], next: NextPath = None) -> Template:
        return pages.render(request, "sign_in.html", next=safe_next(next))

    @post("/sign-out", name="sign_out")
    async def sign_out(request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/sign-in", status_code=HTTP_303_SEE_OTHER)

    @post("/language", name="language")
    async def language(
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        chosen = data.get("lang")
        target = safe_next(data.get("next"))
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

    handlers: list[Any] = [sign_in_page, sign_out, language, *sso_handlers(pages)]
    # Each area of the pages adds its routes here, one line each.
    handlers += student_handlers(pages)
    handlers += admin_handlers(pages)
    handlers += [*dashboard_handlers(pages), *audit_handlers(pages), *import_handlers(pages)]
    handlers += lottery_handlers(pages)
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
        url, pending = await pages.oidc.begin(callback, safe_next(next))
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
        close_uploads(request)
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
        return pages.render(request, "dev_sign_in.html", demo_students=DEMO_STUDENTS, next=safe_next(next))

    @post("/dev/sign-in", name="dev_sign_in")
    async def dev_sign_in(
        request: Request[Any, Any, Any],
        students: NamedDependency[StudentDirectory],
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        target = safe_next(data.get("next"))
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
