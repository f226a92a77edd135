"""The student's pages: the home page with the rounds open to them, a first-come round's page
(offerings with live seats, search and filters, select, drop, waitlists, the student's week), and
the small answers the page's script asks for (the live seats, the student's selections, a select's
or a drop's answer in words).

A select or drop goes down the very path the API's does (``Enrollment``), with the request's
``Idempotency-Key`` (sent by ``static/student.js``, one per intent) claimed under the API's own
fingerprint of the request, and counted in the student's rate-limit budget like the API's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import PathParameter, QueryParameter, URLEncodedBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from courses.cached import CachedCatalog
from courses.models import Offering
from courses.students import StudentDirectory, StudentProfile
from lib import errors
from quota.intents import DropIntent, SelectIntent
from quota.outcomes import GateUnavailable
from selection.browse import Browse, OfferingView
from selection.enrollment import Enrollment
from selection.idempotency import HEADER, RecordedAnswer, claim_from
from selection.pages import student_view as view
from selection.pages.sessions import PageUser, leave_session_as_it_is, user_of
from selection.pages.site import PageError, Pages, signed_in
from selection.rate_limit import StudentRateLimit
from selection.roster import Roster

#: The contract's id alphabet: anything else in a path is no round of ours (404).
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
#: How often the page asks for the live seats (static/student.js reads it from the page), in seconds.
LIVE_SECONDS = 5
#: Where a select's answer waits, in the session, for the page a plain form is sent back to.
FLASH = "student_answer"
CATEGORIES = ("pe", "arts", "labor")
_encode = msgspec.json.Encoder().encode
Text = Annotated[str | None, QueryParameter(max_length=200)]
#: Any text: a path that is no id of ours is a 404 page, said by the handler.
RoundId = Annotated[str, PathParameter()]


@dataclass
class LiveSeats:
    """The live seats' answer, encoded once per browse page (a page is rebuilt at most every
    ``BROWSE_SECONDS`` per group of students, and read by all of them in between)."""

    _views: dict[tuple[object, ...], tuple[bytes, list[OfferingView]]] = field(default_factory=dict)
    _bodies: dict[tuple[object, ...], tuple[bytes, bytes]] = field(default_factory=dict)

    def views(self, key: tuple[object, ...], page: bytes) -> list[OfferingView]:
        """The page decoded, once per page (the lists and a press's rows need no seats body)."""
        kept = self._views.get(key)
        if kept is not None and kept[0] is page:
            return kept[1]
        decoded = view.decode_views(page)
        if len(self._views) > 1024:
            self._views.clear()
        self._views[key] = (page, decoded)
        return decoded

    def of(self, key: tuple[object, ...], page: bytes) -> tuple[list[OfferingView], bytes]:
        views = self.views(key, page)
        kept = self._bodies.get(key)
        if kept is not None and kept[0] is page:
            return views, kept[1]
        body = view.seats_body(views, None)
        if len(self._bodies) > 1024:
            self._bodies.clear()
        self._bodies[key] = (page, body)
        return views, body


def _group(round_id: str, profile: StudentProfile) -> tuple[object, ...]:
    """The students who see a round's offerings alike (one browse page between them)."""
    return (round_id, profile.cohort, profile.degree, profile.campus)


def is_script(request: Request[Any, Any, Any]) -> bool:
    """Asked by the page's script (htmx or student.js), which swaps in a fragment."""
    return request.headers.get("hx-request") == "true"


class Kit:
    """What the student's handlers share: the pages, the live seats' cache, rendering a fragment."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.live = LiveSeats()

    def render_text(self, request: Request[Any, Any, Any], name: str, **context: Any) -> str:
        template = self.pages.render(request, name, **context)
        engine = request.app.template_engine
        assert engine is not None
        return str(engine.get_template(name).render(**template.create_template_context(request)))

    def fragment(
        self,
        request: Request[Any, Any, Any],
        name: str,
        status_code: int = 200,
        etag: bool = False,
        **context: Any,
    ) -> Response[Any]:
        """A piece of a page for the script to swap in; with ``etag``, a 304 when unchanged."""
        text = self.render_text(request, name, **context)
        headers = {
            "Cache-Control": "no-cache, private",
            "Content-Language": self.pages.language(request),
            "Vary": "Cookie",
        }
        if etag:
            tag = view.etag_of(text.encode())
            headers["ETag"] = tag
            if status_code == 200 and view.etag_matches(request.headers.get("if-none-match"), tag):
                return Response(b"", status_code=304, headers=headers)
        return Response(text, status_code=status_code, media_type="text/html; charset=utf-8", headers=headers)

    def problem(self, request: Request[Any, Any, Any], error: errors.DomainError) -> Response[Any]:
        """A refusal in words, as a fragment."""
        response = self.fragment(
            request, "_student_answer.html", status_code=error.status, answer=view.refused(error, ""), titles={}
        )
        if error.headers:
            response.headers.update(error.headers)
        return response

    def signed_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """For the script: the session has ended, in words."""
        return self.fragment(request, "_student_answer.html", status_code=401, answer=None, titles={}, signed_out=True)

    async def student_of(
        self, request: Request[Any, Any, Any], students: StudentDirectory
    ) -> tuple[PageUser, StudentProfile]:
        user = signed_in(self.pages, request)
        if user.role == "admin":
            raise _Elsewhere("/admin")
        profile = await students.get(user.sub)
        if profile is None:
            raise PageError(403, "unregistered")
        return user, profile

    async def count(self, request: Request[Any, Any, Any], profile: StudentProfile) -> None:
        """One request in the student's budget for everything but selects, as the API counts it."""
        rate_limit: StudentRateLimit = request.app.state.worker.rate_limit
        await rate_limit.check(profile.id, None)

    async def act(
        self,
        request: Request[Any, Any, Any],
        round_id: RoundId,
        offering_id: str,
        decide: Callable[[], Awaitable[view.Answer]],
        catalog: CachedCatalog,
        after: Callable[[], Awaitable[After]],
    ) -> Response[Any]:
        """Run a select or drop and answer it: a fragment for the script, or back to the round's
        page for a plain form (the answer kept in the session for that page to show)."""
        try:
            answer = await decide()
        except errors.DomainError as error:
            answer = view.refused(error, offering_id)
            if error.headers and "Retry-After" in error.headers:
                answer.facts["retry_after"] = error.headers["Retry-After"]
        known = bool(_ID.match(round_id))
        if not is_script(request):
            request.session[FLASH] = answer.to_session()
            return Redirect(f"/rounds/{round_id}" if known else "/", status_code=HTTP_303_SEE_OTHER)
        titles = await _titles(catalog, round_id) if known else {}
        header = await catalog.round(round_id) if known else None
        status = 200 if answer.outcome != "refused" else answer.status
        context: dict[str, Any] = {}
        if answer.outcome != "refused" and header is not None:
            # A change: the page's selections and the rows it touched come with the answer.
            changed = await after()
            context = {
                "after": changed,
                "mine": changed.mine,
                "week": view.week(changed.mine),
                "digest": view.digest([m.selection for m in changed.mine]),
                "promoted": [],
            }
        response = self.fragment(
            request, "_student_answer.html", status_code=status, answer=answer, titles=titles, header=header, **context
        )
        if answer.retry:
            response.headers["Retry-After"] = str(answer.facts.get("retry_after", 1))
        return response


def student_handlers(pages: Pages) -> list[Any]:
    """The student's routes: ``/``, ``/rounds/{id}`` and what its script asks for."""
    kit = Kit(pages)
    return [*_page_handlers(kit), *_live_handlers(kit), *_action_handlers(kit)]


def _page_handlers(kit: Kit) -> list[Any]:
    pages = kit.pages

    @get("/", name="student_page")
    async def student_home(
        request: Request[Any, Any, Any], browse: NamedDependency[Browse], students: NamedDependency[StudentDirectory]
    ) -> Response[Any]:
        try:
            _, profile = await kit.student_of(request, students)
        except _Elsewhere as elsewhere:
            return Redirect(elsewhere.path, status_code=HTTP_303_SEE_OTHER)
        rounds = await browse.rounds_for(profile, recent=True)
        now = dt.datetime.now(dt.UTC)
        return pages.render(
            request,
            "student.html",
            rounds=rounds,
            profile=profile,
            countdowns={r.id: view.countdown_parts(r.opens_at, now) for r in rounds},
        )

    @get("/rounds/{round_id:str}", name="student_round")
    async def round_page(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        browse: NamedDependency[Browse],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
        students: NamedDependency[StudentDirectory],
        q: Text = None,
        category: Text = None,
        available: Text = None,
    ) -> Response[Any]:
        listing = is_script(request) and request.headers.get("hx-target") == "offerings"
        try:
            _, profile = await kit.student_of(request, students)
        except _Elsewhere as elsewhere:
            return Redirect(elsewhere.path, status_code=HTTP_303_SEE_OTHER)
        except NotAuthorizedException:
            if listing:  # words for the list's place, not the sign-in page inside it
                return kit.signed_out(request)
            raise
        header = await catalog.round(round_id) if _ID.match(round_id) else None
        if header is None:
            if listing:
                return kit.problem(request, errors.NotFound("No such round"))
            raise PageError(404, "not_found")
        if header.mode == "lottery":
            return Redirect(f"/rounds/{round_id}/wishes", status_code=HTTP_303_SEE_OTHER)
        chosen = category if category in CATEGORIES else None
        needle = (q or "").strip() or None
        only_free = available in ("1", "on", "true")
        try:
            await kit.count(request, profile)
            if listing:
                rows = await _rows(kit.live, browse, roster, catalog, round_id, profile, chosen, only_free, needle)
                return kit.fragment(
                    request,
                    "_student_offerings.html",
                    etag=True,
                    rows=rows,
                    round_id=round_id,
                    header=header,
                    needle=needle,
                )
            visible = next((r for r in await browse.rounds_for(profile, recent=True) if r.id == round_id), None)
            if visible is None:
                # Opened a moment ago, perhaps: PostgreSQL says, before the page says "not for you".
                visible = next((r for r in await browse.rounds_for(profile) if r.id == round_id), None)
            if visible is None:
                if header.state == "draft":
                    raise PageError(409, "round_not_open_yet")
                raise PageError(403, "round_not_for_you")
            rows = await _rows(kit.live, browse, roster, catalog, round_id, profile, chosen, only_free, needle)
            mine = await _mine(browse, roster, catalog, round_id, profile.id)
        except errors.DomainError as error:
            if listing:
                return kit.problem(request, error)
            raise PageError(error.status, "round_busy") from error
        flashed = view.Answer.from_session(request.session.pop(FLASH, None)) if request.scope.get("session") else None
        titles = await _titles(catalog, round_id)
        now = dt.datetime.now(dt.UTC)
        return pages.render(
            request,
            "student_round.html",
            round=visible,
            header=header,
            rows=rows,
            mine=mine,
            week=view.week(mine),
            digest=view.digest([m.selection for m in mine]),
            needle=needle,
            category=chosen,
            available=only_free,
            categories=CATEGORIES,
            answer=flashed,
            titles=titles,
            live_seconds=LIVE_SECONDS,
            opens_in=view.countdown_parts(visible.opens_at, now),
            promoted=[],
        )

    return [student_home, round_page]


def _live_handlers(kit: Kit) -> list[Any]:
    pages = kit.pages

    @get("/rounds/{round_id:str}/seats", name="student_seats")
    async def seats(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        browse: NamedDependency[Browse],
        roster: NamedDependency[Roster],
        students: NamedDependency[StudentDirectory],
        mine: Text = None,
    ) -> Response[Any]:
        headers = {"Cache-Control": "no-cache, private"}
        leave_session_as_it_is(request)
        user = user_of(request, pages.settings.dev_sign_in)
        profile = await students.get(user.sub) if user is not None and user.role == "student" else None
        if profile is None or not _ID.match(round_id):
            return Response(b"", status_code=401 if profile is None else 404, headers=headers)
        try:
            await kit.count(request, profile)
            page = await browse.offerings_page(round_id, profile, None, None, None)
            views, body = kit.live.of(_group(round_id, profile), page)
            if mine:
                body = view.seats_body(views, await _held(browse, roster, round_id, profile.id))
        except errors.DomainError as error:
            if error.headers:
                headers.update(error.headers)
            return Response(b"", status_code=error.status, headers=headers)
        tag = view.etag_of(body)
        headers["ETag"] = tag
        if view.etag_matches(request.headers.get("if-none-match"), tag):
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @get("/rounds/{round_id:str}/mine", name="student_mine")
    async def my_selections(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        browse: NamedDependency[Browse],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
        students: NamedDependency[StudentDirectory],
        was: Text = None,
    ) -> Response[Any]:
        try:
            _, profile = await kit.student_of(request, students)
        except (_Elsewhere, NotAuthorizedException, PageError):
            return kit.fragment(
                request, "_student_answer.html", status_code=401, answer=None, titles={}, signed_out=True
            )
        if not _ID.match(round_id):
            return kit.problem(request, errors.NotFound("No such round"))
        try:
            await kit.count(request, profile)
            header = await catalog.require_round(round_id)
            mine = await _mine(browse, roster, catalog, round_id, profile.id)
        except errors.DomainError as error:
            return kit.problem(request, error)
        waited = set((was or "").split(","))
        promoted = [m for m in mine if m.selection.status == "enrolled" and m.selection.offering_id in waited]
        return kit.fragment(
            request,
            "_student_mine.html",
            etag=True,
            mine=mine,
            week=view.week(mine),
            digest=view.digest([m.selection for m in mine]),
            round_id=round_id,
            header=header,
            promoted=promoted,
        )

    return [seats, my_selections]


def _action_handlers(kit: Kit) -> list[Any]:
    @post("/rounds/{round_id:str}/select", name="student_select")
    async def select(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        enrollment: NamedDependency[Enrollment],
        browse: NamedDependency[Browse],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
        students: NamedDependency[StudentDirectory],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        try:
            _, profile = await kit.student_of(request, students)
        except _Elsewhere as elsewhere:
            return Redirect(elsewhere.path, status_code=HTTP_303_SEE_OTHER)
        offering_id = (data.get("offering_id") or "").strip()
        waitlist = data.get("waitlist") in ("1", "on", "true")

        async def decide() -> view.Answer:
            if not _ID.match(round_id) or not _ID.match(offering_id):
                raise errors.ValidationFailed("Not an offering of this service")
            # The API's fingerprint of the same select: a key means one thing on either side.
            body = _encode({"offering_id": offering_id, "waitlist": waitlist})
            claim = claim_from(_key(request), "POST", f"/api/v1/rounds/{round_id}/selections", body)
            await enrollment.require(round_id, offering_id, counting_for=profile.id)
            outcome = await enrollment.select(
                SelectIntent(
                    round_id=round_id,
                    student=profile,
                    offering_id=offering_id,
                    waitlist=waitlist,
                    mode="student",
                    actor=profile.id,
                    role="student",
                    claim=claim,
                    rate=enrollment.student_rate,
                )
            )
            if isinstance(outcome, RecordedAnswer):
                return view.replayed(outcome.status, outcome.body, offering_id)
            return view.selected(outcome)

        return await kit.act(
            request,
            round_id,
            offering_id,
            decide,
            catalog,
            lambda: _after(kit.live, browse, roster, catalog, round_id, profile, offering_id),
        )

    @post("/rounds/{round_id:str}/drop", name="student_drop")
    async def drop(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        enrollment: NamedDependency[Enrollment],
        browse: NamedDependency[Browse],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
        students: NamedDependency[StudentDirectory],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        try:
            _, profile = await kit.student_of(request, students)
        except _Elsewhere as elsewhere:
            return Redirect(elsewhere.path, status_code=HTTP_303_SEE_OTHER)
        offering_id = (data.get("offering_id") or "").strip()

        async def decide() -> view.Answer:
            await kit.count(request, profile)
            if not _ID.match(round_id) or not _ID.match(offering_id):
                raise errors.ValidationFailed("Not an offering of this service")
            claim = claim_from(_key(request), "DELETE", f"/api/v1/rounds/{round_id}/selections/{offering_id}", b"")
            await enrollment.require(round_id, offering_id)
            outcome = await enrollment.drop(
                DropIntent(
                    round_id=round_id,
                    student_id=profile.id,
                    offering_id=offering_id,
                    mode="student",
                    actor=profile.id,
                    role="student",
                    claim=claim,
                )
            )
            if isinstance(outcome, RecordedAnswer):
                return view.replayed(outcome.status, outcome.body, offering_id)
            return view.dropped(offering_id)

        return await kit.act(
            request,
            round_id,
            offering_id,
            decide,
            catalog,
            lambda: _after(kit.live, browse, roster, catalog, round_id, profile, offering_id),
        )

    return [select, drop]


class _Elsewhere(Exception):
    """This page is not for the one signed in: off to theirs."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _key(request: Request[Any, Any, Any]) -> str | None:
    """The request's Idempotency-Key: the header student.js sends, one per intent."""
    return request.headers.get(HEADER)


@dataclass
class After:
    """What a change altered on the round's page."""

    mine: list[view.Mine]
    rows: list[view.Row]


async def _after(
    live: LiveSeats,
    browse: Browse,
    roster: Roster,
    catalog: CachedCatalog,
    round_id: str,
    profile: StudentProfile,
    offering_id: str,
) -> After:
    """The student's selections, and the rows of the offering acted on and of those at overlapping
    times (whose clash with it may have come or gone): not the whole list, re-rendered."""
    offerings = await _titles(catalog, round_id)
    selections = await _held(browse, roster, round_id, profile.id)
    acted = offerings.get(offering_id)
    touched = {offering_id}
    if acted is not None:
        touched.update(
            o.id for o in offerings.values() if any(view.overlaps(a, b) for a in acted.schedule for b in o.schedule)
        )
    page = await browse.offerings_page(round_id, profile, None, None, None)
    views = [v for v in live.views(_group(round_id, profile), page) if v.id in touched]
    return After(view.mine_of(selections, offerings), view.rows(views, selections, offerings, profile))


async def _titles(catalog: CachedCatalog, round_id: str) -> dict[str, Offering]:
    try:
        return {o.id: o for o in await catalog.offerings(round_id)}
    except errors.DomainError:
        return {}


async def _held(browse: Browse, roster: Roster, round_id: str, student_id: str) -> Sequence[view.Held]:
    """The student's selections as the gate counts them (Redis, like the seats beside them: at
    the opening second thousands of pages ask, and PostgreSQL is for the changes); from
    PostgreSQL while the round's gate state is not loaded or Redis does not answer."""
    try:
        held = await browse.holding(round_id, student_id)
    except GateUnavailable:
        held = None
    if held is not None:
        return held
    return await roster.of_student(round_id, student_id)


async def _mine(
    browse: Browse, roster: Roster, catalog: CachedCatalog, round_id: str, student_id: str
) -> list[view.Mine]:
    return view.mine_of(await _held(browse, roster, round_id, student_id), await _titles(catalog, round_id))


async def _rows(
    live: LiveSeats,
    browse: Browse,
    roster: Roster,
    catalog: CachedCatalog,
    round_id: str,
    profile: StudentProfile,
    category: str | None,
    available: bool,
    needle: str | None,
) -> list[view.Row]:
    # The search is the page's (title, Chinese title, teacher); the group's page stays one cache entry.
    page = await browse.offerings_page(round_id, profile, category, available or None, None)
    views = live.views((*_group(round_id, profile), category, available), page)
    if needle:
        views = [v for v in views if view.matches(v, needle)]
    selections = await _held(browse, roster, round_id, profile.id)
    return view.rows(views, selections, await _titles(catalog, round_id), profile)
