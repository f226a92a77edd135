"""Lottery rounds on the pages: the student's ranked wish list and what the draw gave them; the
administrators' commit-reveal draw and the fairness report as plots.

Student pages (``/rounds/{id}/wishes``) save through ``WishBook.put``, the API's own path, so a
list is checked exactly as ``PUT /api/v1/rounds/{id}/wishes`` checks it. Every edit works as a
plain form (each a POST that saves, then back to the page); ``static/wishes.js`` makes the same
page edit in place (buttons, keyboard, drag) and save the whole list at once.

Words are the templates' (refusals travel as a kind and the offerings concerned); this module
holds none of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from courses.cached import CachedCatalog
from courses.draw_input import DrawExplanation, DrawInput
from courses.lottery import Lottery
from courses.models import ID_PATTERN, MAX_WISHES, AdminRound, DrawRequest, Offering, Round, WishList
from courses.rounds import RoundRegistry, student_view
from courses.students import StudentDirectory, StudentProfile
from courses.wishes import WishBook
from lib import errors
from lib.failures import UNREACHABLE
from selection.browse import Browse
from selection.fairness import Fairness
from selection.pages.plots import PLOTTING
from selection.pages.site import PageError, Pages, admin_of, signed_in
from selection.roster import Roster
from selection.worker import Worker

log = logging.getLogger("selection.pages.lottery")
_json = msgspec.json.Encoder()
#: The categories a student may filter by, in the pages' order.
CATEGORIES = ("pe", "arts", "labor")
#: The actions of the wish-list form.
ACTIONS = ("add", "remove", "up", "down", "save")
#: A round's id in a page's path (a bad one is a 400 page).
RoundId = Annotated[str, PathParameter(pattern=ID_PATTERN, max_length=64)]
_ROUND_PAGE = re.compile(r"^/admin/rounds/\{[^}/]+\}$")


@dataclass
class Refusal:
    """Why a hand-in or a draw was refused, for the templates to put in words."""

    kind: str
    status: int
    #: The offerings concerned: the round's offering, or the id where the round has none such.
    offerings: list[Offering | str] = field(default_factory=list)
    #: The refusal's other details (a round's state, the seed's commitment, a limit).
    details: dict[str, Any] = field(default_factory=dict)


def refusal_of(exc: errors.DomainError, titles: dict[str, Offering], wished: Sequence[str] = ()) -> Refusal:
    """A domain error of the wish-list path (for the list ``wished``), as a refusal the templates know."""
    extra = exc.extra
    ids: list[str] = list(extra.get("offering_ids") or [])
    if isinstance(extra.get("index"), int) and 0 <= extra["index"] < len(wished):
        ids = [wished[extra["index"]]]
    named: list[Offering | str] = [titles.get(o, o) for o in ids]
    if isinstance(exc, errors.ValidationFailed):
        if "index" in extra:
            return Refusal("repeated", 400, offerings=named)
        return Refusal("bad_list", 400)
    kinds: dict[type[errors.DomainError], str] = {
        errors.RoundNotOpen: "round_not_open",
        errors.WrongMode: "wrong_mode",
        errors.OfferingNotInRound: "not_in_round",
        errors.NotEligible: "not_eligible",
        errors.RateLimited: "rate_limited",
        errors.NotFound: "not_found",
        errors.Unavailable: "unavailable",
    }
    kind = kinds.get(type(exc), "failed")
    return Refusal(kind, exc.status, offerings=named, details={"state": extra.get("state")})


def edited(current: Sequence[str], action: str, offering_id: str, order: Sequence[str]) -> list[str]:
    """The list after one edit of the form (``save`` hands in ``order`` as it is)."""
    wishes = list(current)
    if action == "save":
        return list(order)
    if action == "add":
        # A repeat is kept, for WishBook to refuse with the contract's words.
        return [*wishes, offering_id]
    if offering_id not in wishes:
        return wishes
    at = wishes.index(offering_id)
    if action == "remove":
        del wishes[at]
    elif action == "up" and at > 0:
        wishes[at - 1], wishes[at] = wishes[at], wishes[at - 1]
    elif action == "down" and at < len(wishes) - 1:
        wishes[at + 1], wishes[at] = wishes[at], wishes[at + 1]
    return wishes


def window(round_: Round, now: dt.datetime) -> str:
    """Whether the round takes wish lists now, and if not why: ``open``, ``draft``, ``not_yet``
    (open, before ``opens_at``), ``ended`` (open, after ``closes_at``), ``paused``, ``closed``."""
    if round_.state != "open":
        return round_.state
    if round_.opens_at is not None and now < round_.opens_at:
        return "not_yet"
    if round_.closes_at is not None and now >= round_.closes_at:
        return "ended"
    return "open"


def searchable(offering: Offering) -> str:
    """What the offerings' search looks in: titles (the Chinese one too) and the teacher."""
    parts = (offering.title, offering.title_in_chinese, offering.teacher, offering.id)
    return " ".join(p for p in parts if p).casefold()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Form:
    """The wish-list form as sent: ``action``, ``offering_id``, and ``order`` (repeated) for a save."""

    def __init__(self, form: FormMultiDict) -> None:
        self.action = str(form.get("action") or "")
        self.offering_id = str(form.get("offering_id") or "")
        self.order = [str(v) for v in form.getall("order", [])]


async def profile_of(
    pages: Pages, request: Request[Any, Any, Any], students: StudentDirectory
) -> StudentProfile | None:
    """The signed-in student's profile; None for an administrator (sent elsewhere)."""
    user = signed_in(pages, request)
    if user.role == "admin":
        return None
    profile = await students.get(user.sub)
    if profile is None:
        raise PageError(403, "unregistered")
    return profile


async def round_or_404(rounds: RoundRegistry, round_id: str) -> AdminRound:
    try:
        return await rounds.get(round_id)
    except errors.NotFound:
        raise PageError(404, "not_found") from None


async def student_page(
    pages: Pages,
    request: Request[Any, Any, Any],
    *,
    round_: AdminRound,
    profile: StudentProfile,
    catalog: CachedCatalog,
    wishes: WishBook,
    lottery: Lottery,
    roster: Roster,
    browse: Browse,
    q: str | None = None,
    category: str | None = None,
    refusal: Refusal | None = None,
    saved: bool = False,
) -> Template:
    """The wish-list page in the round's state, with the draw's outcome once drawn."""
    public = student_view(round_)
    offerings = await catalog.offerings(round_.id) if round_.state != "draft" else []
    by_id = {o.id: o for o in offerings}
    wished: list[str] = []
    updated_at: dt.datetime | None = None
    if round_.state != "draft":
        stored = await wishes.get(round_.id, profile.id)
        wished, updated_at = stored.offering_ids, stored.updated_at
    admits_round = round_.eligibility.admits(profile.cohort, profile.degree, profile.campus)
    needle = (q or "").strip().casefold()
    wanted = category if category in CATEGORIES else None
    available = []
    barred = 0
    for offering in offerings:
        if not offering.eligibility.admits(profile.cohort, profile.degree, profile.campus):
            barred += 1
            continue
        shown = (not needle or needle in searchable(offering)) and (wanted is None or offering.category == wanted)
        available.append(
            {"offering": offering, "search": searchable(offering), "wished": offering.id in wished, "shown": shown}
        )
    explanation: DrawExplanation | None = None
    selections: list[Any] = []
    continuing: list[Round] = []
    if round_.drawn_seed is not None:
        explanation = await lottery.explain(round_.id, profile.id)
        selections = await roster.of_student(round_.id, profile.id)
        continuing = [r for r in await browse.rounds_for(profile, recent=True) if r.continues == round_.id]
    status = refusal.status if refusal else 200
    return pages.render(
        request,
        "lottery_wishes.html",
        status_code=status,
        round=public,
        window=window(public, dt.datetime.now(dt.UTC)),
        admits_round=admits_round,
        offerings=by_id,
        wished=[(oid, by_id.get(oid)) for oid in wished],
        updated_at=updated_at,
        available=available,
        barred=barred,
        q=q or "",
        category=wanted or "",
        categories=CATEGORIES,
        refusal=refusal,
        saved=saved,
        max_wishes=MAX_WISHES,
        explanation=explanation,
        selections=selections,
        continuing=continuing,
    )


def lottery_handlers(pages: Pages) -> list[Any]:
    """The lottery pages: the student's wish list and draw, the administrators' draw and fairness."""
    return [*student_handlers(pages), *admin_handlers(pages)]


def student_handlers(pages: Pages) -> list[Any]:
    """The student's wish list, and what the draw gave them."""

    @get("/rounds/{round_id:str}/wishes", name="lottery_wishes")
    async def wishes_page(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        students: NamedDependency[StudentDirectory],
        rounds: NamedDependency[RoundRegistry],
        catalog: NamedDependency[CachedCatalog],
        wishes: NamedDependency[WishBook],
        lottery: NamedDependency[Lottery],
        roster: NamedDependency[Roster],
        browse: NamedDependency[Browse],
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        category: Annotated[str | None, QueryParameter(max_length=20)] = None,
        saved: Annotated[str | None, QueryParameter(max_length=8)] = None,
    ) -> Response[Any]:
        profile = await profile_of(pages, request, students)
        if profile is None:
            return Redirect(f"/admin/rounds/{round_id}/lottery", status_code=HTTP_303_SEE_OTHER)
        round_ = await round_or_404(rounds, round_id)
        if round_.mode != "lottery":
            return Redirect(f"/rounds/{round_id}", status_code=HTTP_303_SEE_OTHER)
        return await student_page(
            pages,
            request,
            round_=round_,
            profile=profile,
            catalog=catalog,
            wishes=wishes,
            lottery=lottery,
            roster=roster,
            browse=browse,
            q=q,
            category=category,
            saved=saved == "1",
        )

    @post("/rounds/{round_id:str}/wishes", name="lottery_wishes_save", status_code=200)
    async def wishes_save(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        students: NamedDependency[StudentDirectory],
        rounds: NamedDependency[RoundRegistry],
        catalog: NamedDependency[CachedCatalog],
        wishes: NamedDependency[WishBook],
        lottery: NamedDependency[Lottery],
        roster: NamedDependency[Roster],
        browse: NamedDependency[Browse],
        worker: NamedDependency[Worker],
    ) -> Response[Any]:
        profile = await profile_of(pages, request, students)
        if profile is None:
            return Redirect(f"/admin/rounds/{round_id}/lottery", status_code=HTTP_303_SEE_OTHER)
        form = _Form(await request.form())
        fragment = request.headers.get("hx-request") == "true"
        round_ = await round_or_404(rounds, round_id)
        if round_.mode != "lottery":
            return Redirect(f"/rounds/{round_id}", status_code=HTTP_303_SEE_OTHER)
        titles = {o.id: o for o in await catalog.offerings(round_id)} if round_.state != "draft" else {}
        wished: list[str] | None = None
        try:
            # The API's order: the rate limit, then the list's shape, then WishBook's rules.
            await worker.rate_limit.check(profile.id, None)
            if form.action not in ACTIONS:
                raise errors.ValidationFailed("unknown action", field="action")
            current = [] if form.action == "save" else (await wishes.get(round_id, profile.id)).offering_ids
            wished = edited(current, form.action, form.offering_id, form.order)
            if len(wished) > MAX_WISHES:
                raise _TooMany()
            try:
                body = msgspec.convert({"offering_ids": wished}, WishList)
            except msgspec.ValidationError:
                raise errors.ValidationFailed("offering_ids: not offering ids", field="offering_ids") from None
            stored = await wishes.put(round_id, profile, body)
        except _TooMany:
            refusal = Refusal("too_many", 400, details={"count": len(wished or []), "limit": MAX_WISHES})
        except errors.DomainError as exc:
            refusal = refusal_of(exc, titles, wished or [])
        except UNREACHABLE as exc:
            log.warning("wish list not saved: a store did not answer", extra={"error": repr(exc)})
            refusal = Refusal("unavailable", 503)
        else:
            if fragment:
                return pages.render(
                    request, "lottery_wish_status.html", refusal=None, updated_at=stored.updated_at, count=len(wished)
                )
            anchor = f"#wish-{form.offering_id}" if form.action in ("up", "down") and form.offering_id else ""
            return Redirect(f"/rounds/{round_id}/wishes?saved=1{anchor}", status_code=HTTP_303_SEE_OTHER)
        if fragment:
            return pages.render(
                request,
                "lottery_wish_status.html",
                status_code=refusal.status,
                refusal=refusal,
                updated_at=None,
                count=len(wished or []),
            )
        return await student_page(
            pages,
            request,
            round_=round_,
            profile=profile,
            catalog=catalog,
            wishes=wishes,
            lottery=lottery,
            roster=roster,
            browse=browse,
            refusal=refusal,
        )

    return [wishes_page, wishes_save]


def round_page_link(request: Request[Any, Any, Any], round_id: str) -> str:
    """The round's page in the console when the app has one; else the console itself."""
    has_round_page = any(_ROUND_PAGE.match(route.path) for route in request.app.routes)
    return f"/admin/rounds/{round_id}" if has_round_page else "/admin"


async def admin_lottery_page(
    pages: Pages,
    request: Request[Any, Any, Any],
    round_: AdminRound,
    lottery: Lottery,
    *,
    refusal: Refusal | None = None,
    seed: str = "",
) -> Template:
    document: DrawInput | None = None
    if round_.mode == "lottery" and round_.state != "draft":
        document = await lottery.draw_input(round_.id)
    placed = unplaced = 0
    if document is not None and document.placements is not None:
        got = {p.student_id for p in document.placements}
        placed = len(document.placements)
        unplaced = sum(1 for s in document.students if s.id not in got)
    drawn_hash = sha256_hex(round_.drawn_seed) if round_.drawn_seed is not None else None
    return pages.render(
        request,
        "admin_lottery.html",
        status_code=refusal.status if refusal else 200,
        round=round_,
        back=round_page_link(request, round_.id),
        wish_lists=len(document.students) if document is not None else None,
        placed=placed,
        unplaced=unplaced,
        drawn_hash=drawn_hash,
        commitment_kept=drawn_hash is not None and drawn_hash == round_.seed_sha256,
        refusal=refusal,
        seed=seed,
        commands=[
            f"python3 docs/redraw.py draw-input-{round_.id}.json",
            f"selection draw --verify --round {round_.id}",
        ],
    )


async def draw_refusal(round_: AdminRound, seed: str, confirmed: bool, lottery: Lottery) -> Refusal | None:
    """The page's own checks, in the API's order, before the draw (which checks them again)."""
    if round_.mode != "lottery":
        return Refusal("wrong_mode", 409)
    if round_.state != "closed":
        return Refusal("not_closed", 409, details={"state": round_.state})
    if round_.seed_sha256 is not None and sha256_hex(seed) != round_.seed_sha256:
        return Refusal("wrong_seed", 400, details={"commitment": round_.seed_sha256})
    if round_.drawn_seed is not None:
        return None if round_.drawn_seed == seed else Refusal("drawn", 409)
    if not confirmed and not (await lottery.draw_input(round_.id)).students:
        return Refusal("empty", 409)
    return None


def admin_handlers(pages: Pages) -> list[Any]:
    """The administrators' draw (commit-reveal) and the fairness report."""

    @get("/admin/rounds/{round_id:str}/lottery", name="admin_lottery")
    async def admin_lottery(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        rounds: NamedDependency[RoundRegistry],
        lottery: NamedDependency[Lottery],
    ) -> Template:
        admin_of(pages, request)
        return await admin_lottery_page(pages, request, await round_or_404(rounds, round_id), lottery)

    @post("/admin/rounds/{round_id:str}/lottery/draw", name="admin_lottery_draw", status_code=200)
    async def admin_lottery_draw(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        rounds: NamedDependency[RoundRegistry],
        lottery: NamedDependency[Lottery],
    ) -> Response[Any]:
        admin = admin_of(pages, request)
        form = await request.form()
        seed = str(form.get("seed") or "")
        round_ = await round_or_404(rounds, round_id)
        refusal: Refusal | None = None
        try:
            request_body = msgspec.convert({"seed": seed}, DrawRequest)
        except msgspec.ValidationError:
            refusal = Refusal("bad_seed", 400)
        else:
            refusal = await draw_refusal(round_, request_body.seed, form.get("confirm_empty") == "yes", lottery)
            if refusal is None:
                try:
                    await lottery.draw(round_id, request_body.seed, admin.sub)
                except errors.ValidationFailed as exc:
                    refusal = Refusal("wrong_seed", 400, details={"commitment": exc.extra.get("seed_sha256")})
                except errors.InvalidTransition as exc:
                    state = exc.extra.get("state")
                    refusal = Refusal("drawn" if state == "closed" else "not_closed", 409, details={"state": state})
                except errors.WrongMode:
                    refusal = Refusal("wrong_mode", 409)
                except errors.Unavailable:
                    refusal = Refusal("gate_unavailable", 503)
                except errors.NotFound:
                    raise PageError(404, "not_found") from None
        if refusal is None:
            return Redirect(f"/admin/rounds/{round_id}/lottery", status_code=HTTP_303_SEE_OTHER)
        # The round as it is now; the seed typed is kept in the form only when it was not the problem.
        round_ = await round_or_404(rounds, round_id)
        keep = seed if refusal.kind in ("empty", "gate_unavailable") else ""
        return await admin_lottery_page(pages, request, round_, lottery, refusal=refusal, seed=keep)

    @get("/admin/rounds/{round_id:str}/lottery/draw-input.json", name="admin_lottery_draw_input")
    async def admin_draw_input(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        rounds: NamedDependency[RoundRegistry],
        lottery: NamedDependency[Lottery],
    ) -> Response[bytes]:
        admin_of(pages, request)
        round_ = await round_or_404(rounds, round_id)
        if round_.mode != "lottery":
            raise PageError(404, "not_found")
        document = await lottery.draw_input(round_id)
        return Response(
            _json.encode(document),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="draw-input-{round_id}.json"',
                "Cache-Control": "no-store",
            },
        )

    @get("/admin/rounds/{round_id:str}/fairness", name="admin_fairness")
    async def admin_fairness(
        request: Request[Any, Any, Any],
        round_id: RoundId,
        rounds: NamedDependency[RoundRegistry],
        fairness: NamedDependency[Fairness],
    ) -> Template:
        admin_of(pages, request)
        round_ = await round_or_404(rounds, round_id)
        report = await fairness.report(round_id)
        return pages.render(
            request,
            "admin_fairness.html",
            round=round_,
            report=report,
            back=round_page_link(request, round_id),
            gate_missing="did not answer" in report.basis,
            **PLOTTING,
        )

    return [admin_lottery, admin_lottery_draw, admin_draw_input, admin_fairness]


class _TooMany(Exception):
    """More wishes than a list may hold (the API's 400 on the body's shape)."""
