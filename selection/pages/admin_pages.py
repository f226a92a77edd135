"""The administrators' console: the rounds (list, create, edit, open / pause / close, live fill,
capacities inline, forced enrolments and drops, the roster's export) and the catalog of offerings.

Every change goes through the same service call as the ``/api/v1/admin`` route that does it
(``RoundRegistry.create`` / ``edit`` / ``move``, ``OfferingCatalog.patch``, ``Enrollment``), so the
page and the API keep one set of rules. Refusals are shown in words beside what they concern:
the service's errors become ``Problem`` values (a message key and its arguments), which the
templates turn into catalog messages (``admin_round_problems.html``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from courses.cached import CachedCatalog
from courses.models import ID_PATTERN, AdminRound, Offering, OfferingPatch, RoundCreate, RoundPatch
from courses.offerings import OfferingCatalog
from courses.rounds import EDITABLE, Action, RoundRegistry
from courses.students import StudentDirectory
from lib import errors
from quota.intents import DropIntent, SelectIntent
from selection.enrollment import Enrollment
from selection.pages.site import PageError, Pages, admin_of
from selection.roster import OfferingStats, Roster, enrollments_csv, enrollments_json

_ID = re.compile(ID_PATTERN)
#: The session key of the message shown once on the next page (after a redirect).
FLASH = "admin_flash"
LIMIT_KEYS = ("pe", "arts", "labor", "total")
CATEGORIES = ("pe", "arts", "labor")
#: A datetime-local input's value: minutes, in the school's zone.
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
#: The round's actions a button may post; ``close`` asks first.
ACTIONS: tuple[Action, ...] = ("open", "pause", "close")


@dataclass(frozen=True)
class Problem:
    """Something refused, for the templates to say in words: ``code`` picks the message,
    ``args`` fill it (ids, counts, the state)."""

    code: str
    args: Mapping[str, Any] = field(default_factory=dict)


def problem_of(exc: errors.DomainError) -> Problem:
    """A refusal of the rules (a select's, a drop's, a move's, a capacity's) as a Problem."""
    extra = dict(exc.extra)
    if isinstance(exc, errors.InvalidTransition) and "continues" in extra:
        return Problem("continued_not_done", extra)
    if isinstance(exc, errors.Unavailable):
        return Problem("unavailable")
    if isinstance(exc, errors.ValidationFailed):
        return Problem("invalid", {"detail": exc.detail})
    if isinstance(exc, errors.NotFound):
        return Problem("not_found", {"detail": exc.detail})
    if "held" in extra and isinstance(extra["held"], list):
        extra["held"] = ", ".join(extra["held"]) or "—"
    if "alternatives" in extra and isinstance(extra["alternatives"], list):
        extra["alternatives"] = ", ".join(extra["alternatives"])
    return Problem(exc.code, extra)


def _ids(value: object) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def field_problems(exc: errors.DomainError, body: Mapping[str, Any]) -> dict[str, Problem]:
    """A round's create or edit refused: each refusal beside the field it concerns (``""``: the
    form as a whole)."""
    extra = exc.extra
    if isinstance(exc, errors.AlreadyExists):
        return {"id": Problem("id_taken", {"id": extra.get("round_id", "")})}
    if isinstance(exc, errors.RoundNotDraft):
        fields = [f for f in extra.get("fields", []) if isinstance(f, str)]
        found = {_form_field(f): Problem("not_editable", {"state": extra.get("state", "")}) for f in fields}
        return found | {"": Problem("not_editable", {"state": extra.get("state", "")})}
    if not isinstance(exc, errors.ValidationFailed):
        return {"": problem_of(exc)}
    name = str(extra.get("field", ""))
    detail = exc.detail
    if "unknown" in extra:
        return {"offering_ids": Problem("unknown_offerings", {"ids": _ids(extra["unknown"])})}
    if "held" in extra:
        return {"offering_ids": Problem("held_offerings", {"ids": _ids(extra["held"])})}
    if "missing" in extra and name == "continues":
        return {
            "continues": Problem("continues_missing", {"round": body.get("continues"), "ids": _ids(extra["missing"])})
        }
    if "missing" in extra:
        return {
            "offering_ids": Problem(
                "continuing_missing", {"round": extra.get("round_id"), "ids": _ids(extra["missing"])}
            )
        }
    if name == "offering_ids" and "index" in extra:
        return {"offering_ids": Problem("repeated_offering")}
    if name == "closes_at":
        return {"closes_at": Problem("closes_before_opens")}
    if name == "fair_start_seconds":
        return {"fair_start_seconds": Problem("fair_start_lottery")}
    if name == "seed_sha256":
        return {"seed_sha256": Problem("seed_on_fcfs")}
    if name == "continues":
        if "itself" in detail:
            return {"continues": Problem("continues_itself")}
        if "already continues" in detail:
            return {"continues": Problem("continues_loop")}
        return {"continues": Problem("no_such_round")}
    return {_form_field(name): Problem("invalid", {"detail": detail})}


#: What a body's field is called in the form, where the two differ.
_FORM_FIELDS = {"eligibility": "cohorts", "limits": "limit_total"}
#: A shape error of a body's field, by the form's field.
_SHAPE_PROBLEMS = {
    "id": "bad_id",
    "name": "bad_name",
    "offering_ids": "bad_offerings",
    "cohorts": "bad_cohorts",
    "campuses": "bad_campuses",
    "degrees": "bad_degrees",
    "fair_start_seconds": "bad_fair_start",
    "seed_sha256": "bad_seed_hash",
    "continues": "no_such_round",
    "title": "bad_title",
    "teacher": "bad_text",
    "campus": "bad_text",
    "description": "bad_description",
    "capacity": "bad_capacity",
}


def _form_field(name: str) -> str:
    return _FORM_FIELDS.get(name, name)


def shape_problems(exc: msgspec.ValidationError) -> dict[str, Problem]:
    """A body msgspec refused, beside the field its message names (``... - at `$.name` ``)."""
    message = str(exc)
    where = re.search(r"at `\$\.([a-z0-9_]+)(?:\.([a-z0-9_]+))?", message)
    if where is None:
        return {"": Problem("invalid", {"detail": message})}
    name = where.group(2) if where.group(1) == "eligibility" and where.group(2) else where.group(1)
    if where.group(1) == "limits":
        return {f"limit_{where.group(2) or 'total'}": Problem("bad_limit")}
    name = _form_field(name)
    return {name: Problem(_SHAPE_PROBLEMS.get(name, "invalid"), {"detail": message})}


# --- the round's form ----------------------------------------------------------------------------


def _local(value: dt.datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(zone).strftime(LOCAL_FORMAT)


def _list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\uff0c;\uff1b\s]+", text) if part.strip()]


def values_of_round(round_: AdminRound, zone: ZoneInfo) -> dict[str, Any]:
    """A round as its form shows it: times in the school's zone, lists as text."""
    return {
        "id": round_.id,
        "name": round_.name,
        "mode": round_.mode,
        "opens_at": _local(round_.opens_at, zone),
        "closes_at": _local(round_.closes_at, zone),
        "offering_ids": list(round_.offering_ids),
        "cohorts": ", ".join(str(c) for c in round_.eligibility.cohorts),
        "degrees": list(round_.eligibility.degrees),
        "campuses": ", ".join(round_.eligibility.campuses),
        **{f"limit_{key}": str(round_.limits[key]) if key in round_.limits else "" for key in LIMIT_KEYS},
        "allow_drop": round_.allow_drop,
        "waitlist": round_.waitlist,
        "fair_start_seconds": str(round_.fair_start_seconds),
        "continues": round_.continues or "",
        "seed_sha256": round_.seed_sha256 or "",
    }


NEW_ROUND_VALUES: dict[str, Any] = {
    "id": "",
    "name": "",
    "mode": "fcfs",
    "opens_at": "",
    "closes_at": "",
    "offering_ids": [],
    "cohorts": "",
    "degrees": [],
    "campuses": "",
    **{f"limit_{key}": "" for key in LIMIT_KEYS},
    "allow_drop": True,
    "waitlist": False,
    "fair_start_seconds": "0",
    "continues": "",
    "seed_sha256": "",
}


class FormInput(msgspec.Struct):
    """What a form sent: every value of each field (a checkbox list has several)."""

    fields: dict[str, list[str]]

    def one(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0].strip()

    def every(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]

    def has(self, name: str) -> bool:
        return name in self.fields


async def form_of(request: Request[Any, Any, Any]) -> FormInput:
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return FormInput(fields)


def values_of_form(form: FormInput) -> dict[str, Any]:
    """The form as sent, to show it again beside its refusals."""
    values = dict(NEW_ROUND_VALUES)
    for name in ("id", "name", "mode", "opens_at", "closes_at", "cohorts", "campuses", "fair_start_seconds"):
        values[name] = form.one(name)
    values |= {"continues": form.one("continues"), "seed_sha256": form.one("seed_sha256")}
    values |= {f"limit_{key}": form.one(f"limit_{key}") for key in LIMIT_KEYS}
    values["offering_ids"] = form.every("offering_ids")
    values["degrees"] = form.every("degrees")
    values["allow_drop"] = form.one("allow_drop") == "1"
    values["waitlist"] = form.one("waitlist") == "1"
    return values


def _same_set(sent: list[Any], kept: list[Any]) -> list[Any]:
    """What the form sent, in the round's own order where it holds the same things (a checkbox
    list comes back in the page's order); new ones after those kept."""
    if set(sent) == set(kept):
        return list(kept)
    return [k for k in kept if k in sent] + [s for s in sent if s not in kept]


def _time(form: FormInput, name: str, zone: ZoneInfo, current: AdminRound | None) -> str | Problem | None:
    text = form.one(name)
    kept: dt.datetime | None = getattr(current, name) if current is not None else None
    if current is not None and text == _local(kept, zone):
        return None if kept is None else kept.isoformat()
    try:
        local = dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return Problem("bad_time")
    if local is not None and local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return None if local is None else local.astimezone(dt.UTC).isoformat()


def _eligibility(form: FormInput, current: AdminRound | None) -> dict[str, Any] | Problem:
    cohorts: list[int] = []
    for text in _list(form.one("cohorts")):
        if not text.isdigit():
            return Problem("bad_cohorts")
        cohorts.append(int(text))
    found: dict[str, Any] = {
        "cohorts": cohorts,
        "degrees": form.every("degrees"),
        "campuses": _list(form.one("campuses")),
    }
    if current is not None:
        was = current.eligibility
        for key, before in (("cohorts", was.cohorts), ("degrees", was.degrees), ("campuses", was.campuses)):
            found[key] = _same_set(found[key], list(before))
    return found


def _limits(form: FormInput) -> tuple[dict[str, int], dict[str, Problem]]:
    limits: dict[str, int] = {}
    problems: dict[str, Problem] = {}
    for key in LIMIT_KEYS:
        text = form.one(f"limit_{key}")
        if not text:
            continue
        if not text.isdigit():
            problems[f"limit_{key}"] = Problem("bad_limit")
            continue
        limits[key] = int(text)
    return limits, problems


def round_body(
    form: FormInput, zone: ZoneInfo, fields: Iterable[str], current: AdminRound | None = None
) -> tuple[dict[str, Any], dict[str, Problem]]:
    """The API's body for the round's ``fields`` from the form (a create's or a patch's), and the
    refusals of what cannot even be read (a time, a year, a limit). With ``current`` (an edit),
    what the form shows as the round has it is sent as the round has it: a time to the second,
    lists in the round's order."""
    wanted = set(fields)
    body: dict[str, Any] = {}
    problems: dict[str, Problem] = {}
    for name in ("id", "name", "mode"):
        if name in wanted:
            body[name] = form.one(name)
    for name in ("opens_at", "closes_at"):
        if name in wanted:
            value = _time(form, name, zone, current)
            if isinstance(value, Problem):
                problems[name] = value
            else:
                body[name] = value
    if "offering_ids" in wanted:
        body["offering_ids"] = form.every("offering_ids")
        if current is not None:
            body["offering_ids"] = _same_set(body["offering_ids"], current.offering_ids)
    if "eligibility" in wanted:
        eligibility = _eligibility(form, current)
        if isinstance(eligibility, Problem):
            problems["cohorts"] = eligibility
        else:
            body["eligibility"] = eligibility
    if "limits" in wanted:
        body["limits"], found = _limits(form)
        problems |= found
    for name in ("allow_drop", "waitlist"):
        if name in wanted:
            body[name] = form.one(name) == "1"
    if "fair_start_seconds" in wanted:
        text = form.one("fair_start_seconds") or "0"
        if text.isdigit():
            body["fair_start_seconds"] = int(text)
        else:
            problems["fair_start_seconds"] = Problem("bad_fair_start")
    if "continues" in wanted:
        body["continues"] = form.one("continues") or None
    if "seed_sha256" in wanted:
        body["seed_sha256"] = form.one("seed_sha256").lower() or None
    # The form hides the other mode's field (a fair start is fcfs's, a seed commitment the
    # lottery's) but still sends it: what it holds then is not what the administrator chose.
    mode = body.get("mode", current.mode if current is not None else None)
    if mode == "lottery" and "fair_start_seconds" in body:
        body["fair_start_seconds"] = 0
    if mode == "fcfs" and "seed_sha256" in body:
        body["seed_sha256"] = None
    return body, problems


def _flash(request: Request[Any, Any, Any], code: str, **args: Any) -> None:
    request.session[FLASH] = {"code": code, "args": args}


def _take_flash(request: Request[Any, Any, Any]) -> Problem | None:
    kept = request.session.pop(FLASH, None) if request.scope.get("session") else None
    if not isinstance(kept, dict):
        return None
    return Problem(str(kept.get("code", "")), dict(kept.get("args") or {}))


def _see(path: str) -> Redirect:
    return Redirect(path, status_code=HTTP_303_SEE_OTHER)


@dataclass(frozen=True)
class OfferingRow:
    """One offering of a round's page: the catalog's offering and its live fill."""

    offering: Offering
    stats: OfferingStats


def admin_handlers(pages: Pages) -> list[Any]:
    """The console's routes, under ``/admin``."""
    return [
        *_rounds_handlers(pages),
        *_round_handlers(pages),
        *_capacity_handlers(pages),
        *_change_handlers(pages),
        *_offering_handlers(pages),
    ]


async def _round_or_404(rounds: RoundRegistry, round_id: str) -> AdminRound:
    if not _ID.match(round_id):
        raise PageError(404, "not_found")
    try:
        return await rounds.get(round_id)
    except errors.NotFound:
        raise PageError(404, "not_found") from None


async def _offering_or_404(offerings: OfferingCatalog, offering_id: str) -> Offering:
    if not _ID.match(offering_id):
        raise PageError(404, "not_found")
    try:
        return await offerings.get(offering_id)
    except errors.NotFound:
        raise PageError(404, "not_found") from None


async def _round_form(
    pages: Pages,
    request: Request[Any, Any, Any],
    rounds: RoundRegistry,
    offerings: OfferingCatalog,
    *,
    values: Mapping[str, Any],
    problems: Mapping[str, Problem] | None = None,
    round_: AdminRound | None = None,
    status_code: int = 200,
) -> Template:
    catalog = await offerings.every()
    others = [r for r in await rounds.every() if round_ is None or r.id != round_.id]
    editable = EDITABLE[round_.state] if round_ is not None else tuple(RoundPatch.__struct_fields__)
    return pages.render(
        request,
        "admin_round_form.html",
        status_code=status_code,
        round=round_,
        values=values,
        problems=problems or {},
        catalog=catalog,
        categories=CATEGORIES,
        others=others,
        editable=editable,
        limit_keys=LIMIT_KEYS,
    )


async def _render_round(
    pages: Pages,
    request: Request[Any, Any, Any],
    round_: AdminRound,
    roster: Roster,
    catalog: CachedCatalog,
    *,
    notice: Problem | None = None,
    problem: Problem | None = None,
    status_code: int = 200,
    force: Mapping[str, Any] | None = None,
) -> Template:
    stats = await roster.stats(round_.id)
    by_id = {o.id: o for o in await catalog.offerings(round_.id)}
    rows = [OfferingRow(by_id[s.offering_id], s) for s in stats.offerings if s.offering_id in by_id]
    return pages.render(
        request,
        "admin_round.html",
        status_code=status_code,
        round=round_,
        stats=stats,
        rows=rows,
        notice=notice,
        problem=problem,
        force=force or {},
    )


def _rounds_handlers(pages: Pages) -> list[Any]:
    """Every round; a new one; a round's edit."""

    @get("/admin", name="admin_page")
    async def admin_page(
        request: Request[Any, Any, Any], rounds: NamedDependency[RoundRegistry], roster: NamedDependency[Roster]
    ) -> Template:
        admin_of(pages, request)
        every = await rounds.every()
        counts = {r.id: await roster.stats(r.id) for r in every}
        return pages.render(request, "admin.html", rounds=every, counts=counts, notice=_take_flash(request))

    @get("/admin/rounds/new", name="admin_round_new")
    async def new_round_page(
        request: Request[Any, Any, Any],
        rounds: NamedDependency[RoundRegistry],
        offerings: NamedDependency[OfferingCatalog],
    ) -> Template:
        admin_of(pages, request)
        return await _round_form(pages, request, rounds, offerings, values=NEW_ROUND_VALUES)

    @post("/admin/rounds/new", name="admin_round_create")
    async def create_round(
        request: Request[Any, Any, Any],
        rounds: NamedDependency[RoundRegistry],
        offerings: NamedDependency[OfferingCatalog],
    ) -> Response[Any]:
        user = admin_of(pages, request)
        form = await form_of(request)
        body, problems = round_body(form, pages.zone, ("id", *RoundPatch.__struct_fields__))
        if not problems:
            try:
                created = await rounds.create(msgspec.convert(body, RoundCreate), user.sub)
            except msgspec.ValidationError as exc:
                problems = shape_problems(exc)
            except errors.DomainError as exc:
                problems = field_problems(exc, body)
            else:
                _flash(request, "created", round=created.id)
                return _see(f"/admin/rounds/{created.id}")
        return await _round_form(
            pages, request, rounds, offerings, values=values_of_form(form), problems=problems, status_code=400
        )

    @get("/admin/rounds/{round_id:str}/edit", name="admin_round_edit_page")
    async def edit_round_page(
        request: Request[Any, Any, Any],
        round_id: FromPath[str],
        rounds: NamedDependency[RoundRegistry],
        offerings: NamedDependency[OfferingCatalog],
    ) -> Template:
        admin_of(pages, request)
        round_ = await _round_or_404(rounds, round_id)
        return await _round_form(
            pages, request, rounds, offerings, values=values_of_round(round_, pages.zone), round_=round_
        )

    @post("/admin/rounds/{round_id:str}/edit", name="admin_round_edit")
    async def edit_round(
        request: Request[Any, Any, Any],
        round_id: FromPath[str],
        rounds: NamedDependency[RoundRegistry],
        offerings: NamedDependency[OfferingCatalog],
    ) -> Response[Any]:
        user = admin_of(pages, request)
        round_ = await _round_or_404(rounds, round_id)
        form = await form_of(request)
        # Every field the form carried is sent (a disabled one is not carried): one changed since
        # the round opened, in a form shown while it was a draft, is refused in words, not dropped.
        sent = [name for name in RoundPatch.__struct_fields__ if _PATCH_INPUTS[name] & form.fields.keys()]
        body, problems = round_body(form, pages.zone, sent, round_)
        if not problems:
            try:
                edited = await rounds.edit(round_id, msgspec.convert(body, RoundPatch), user.sub)
            except msgspec.ValidationError as exc:
                problems = shape_problems(exc)
            except errors.DomainError as exc:
                problems = field_problems(exc, body)
            else:
                _flash(request, "edited", round=edited.id)
                return _see(f"/admin/rounds/{edited.id}")
        values = values_of_round(round_, pages.zone) | {
            k: v for k, v in values_of_form(form).items() if k in _editable_inputs(round_.state)
        }
        return await _round_form(
            pages, request, rounds, offerings, values=values, problems=problems, round_=round_, status_code=400
        )

    return [admin_page, new_round_page, create_round, edit_round_page, edit_round]


def _round_handlers(pages: Pages) -> list[Any]:
    """A round's page, its moves (close asks first) and its roster's downloads."""

    @get("/admin/rounds/{round_id:str}", name="admin_round")
    async def round_page(
        request: Request[Any, Any, Any],
        round_id: FromPath[str],
        rounds: NamedDependency[RoundRegistry],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
    ) -> Template:
        admin_of(pages, request)
        round_ = await _round_or_404(rounds, round_id)
        return await _render_round(pages, request, round_, roster, catalog, notice=_take_flash(request))

    @get("/admin/rounds/{round_id:str}/close", name="admin_round_close_page")
    async def close_page(
        request: Request[Any, Any, Any],
        round_id: FromPath[str],
        rounds: NamedDependency[RoundRegistry],
        roster: NamedDependency[Roster],
    ) -> Template:
        admin_of(pages, request)
        round_ = await _round_or_404(rounds, round_id)
        return pages.render(request, "admin_round_close.html", round=round_, stats=await roster.stats(round_id))

    def mover(action: Action) -> Any:
        """``POST /admin/rounds/{id}/<action>``: one move of the state machine; ``close`` only with
        ``confirm=yes`` (sent by its confirmation page), else that page is shown first."""

        @post(f"/admin/rounds/{{round_id:str}}/{action}", name=f"admin_round_{action}")
        async def move_round(
            request: Request[Any, Any, Any],
            round_id: FromPath[str],
            rounds: NamedDependency[RoundRegistry],
            roster: NamedDependency[Roster],
            catalog: NamedDependency[CachedCatalog],
        ) -> Response[Any]:
            user = admin_of(pages, request)
            round_ = await _round_or_404(rounds, round_id)
            form = await form_of(request)
            if action == "close" and form.one("confirm") != "yes":
                return _see(f"/admin/rounds/{round_id}/close")
            try:
                moved = await rounds.move(round_id, action, user.sub)
            except errors.InvalidTransition as exc:
                problem = problem_of(exc) if "continues" in exc.extra else Problem("invalid_transition", exc.extra)
                # The state that refused the move may be newer than the page that asked for it.
                round_ = await _round_or_404(rounds, round_id)
                return await _render_round(pages, request, round_, roster, catalog, problem=problem, status_code=409)
            except errors.DomainError as exc:
                return await _render_round(
                    pages, request, round_, roster, catalog, problem=problem_of(exc), status_code=exc.status
                )
            _flash(request, f"moved_{action}", round=moved.id)
            return _see(f"/admin/rounds/{round_id}")

        return move_round

    def exporter(kind: str) -> Any:
        """``GET /admin/rounds/{id}/enrollments.<kind>``: the API's export stream, as a download."""

        @get(f"/admin/rounds/{{round_id:str}}/enrollments.{kind}", name=f"admin_round_export_{kind}")
        async def export(
            request: Request[Any, Any, Any], round_id: FromPath[str], roster: NamedDependency[Roster]
        ) -> Stream:
            admin_of(pages, request)
            if not _ID.match(round_id):
                raise PageError(404, "not_found")
            try:
                await roster.require_round(round_id)
            except errors.NotFound:
                raise PageError(404, "not_found") from None
            rows = roster.enrollments(round_id)
            headers = {
                "Content-Disposition": f'attachment; filename="{round_id}-enrollments.{kind}"',
                "Cache-Control": "no-store",
            }
            if kind == "csv":
                return Stream(enrollments_csv(rows), media_type="text/csv", headers=headers)
            return Stream(enrollments_json(rows), media_type="application/json", headers=headers)

        return export

    return [round_page, close_page, *(mover(action) for action in ACTIONS), exporter("csv"), exporter("json")]


def _capacity_handlers(pages: Pages) -> list[Any]:
    """A capacity changed inline on a round's page (htmx: one row back), or by a plain form."""

    @post("/admin/rounds/{round_id:str}/capacity/{offering_id:str}", name="admin_round_capacity")
    async def change_capacity(
        request: Request[Any, Any, Any],
        round_id: FromPath[str],
        offering_id: FromPath[str],
        rounds: NamedDependency[RoundRegistry],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
        offerings: NamedDependency[OfferingCatalog],
    ) -> Response[Any]:
        user = admin_of(pages, request)
        round_ = await _round_or_404(rounds, round_id)
        if offering_id not in round_.offering_ids:
            raise PageError(404, "not_found")
        form = await form_of(request)
        text = form.one("capacity")
        before = _stats_of(await roster.stats(round_id), offering_id)
        problem: Problem | None = None
        notice: Problem | None = None
        status = 200
        if not text.isdigit() or int(text) > 1_000_000:
            problem, status = Problem("bad_capacity"), 400
        else:
            try:
                await offerings.patch(offering_id, OfferingPatch(capacity=int(text)), user.sub)
            except errors.DomainError as exc:
                problem, status = problem_of(exc), exc.status
        after = _stats_of(await roster.stats(round_id), offering_id)
        if problem is None:
            # The promotions the raise made: the seats taken by students who were waiting (another
            # student's select or drop at the same moment can blur this count, never the seats).
            promoted = max(0, min(after.enrolled - before.enrolled, before.waitlisted - after.waitlisted))
            notice = Problem("capacity_saved", {"capacity": after.capacity, "promoted": promoted})
        if request.headers.get("hx-request") != "true":
            if problem is not None:
                return await _render_round(pages, request, round_, roster, catalog, problem=problem, status_code=status)
            assert notice is not None
            _flash(request, notice.code, **notice.args)
            return _see(f"/admin/rounds/{round_id}")
        offering = next((o for o in await catalog.offerings(round_id) if o.id == offering_id), None)
        if offering is None:
            raise PageError(404, "not_found")
        return pages.render(
            request,
            "admin_round_row.html",
            status_code=status,
            round=round_,
            row=OfferingRow(offering, after),
            row_notice=notice,
            row_problem=problem,
            typed=text,
        )

    return [change_capacity]


def _change_handlers(pages: Pages) -> list[Any]:
    """Forced changes on a round's page: an enrolment (with or without the override), a drop."""

    @post("/admin/rounds/{round_id:str}/force-enroll", name="admin_force_enroll")
    async def force_enroll(
        request: Request[Any, Any, Any],
        round_id: FromPath[str],
        rounds: NamedDependency[RoundRegistry],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
        students: NamedDependency[StudentDirectory],
        enrollment: NamedDependency[Enrollment],
    ) -> Response[Any]:
        user = admin_of(pages, request)
        round_ = await _round_or_404(rounds, round_id)
        form = await form_of(request)
        student_id, offering_id = form.one("student_id"), form.one("offering_id")
        override = form.one("override") == "1"
        kept = {"enroll_student": student_id, "enroll_offering": offering_id, "override": override}
        problem: Problem | None = None
        status = 409
        student = await students.get(student_id) if _ID.match(student_id) else None
        if student is None:
            problem, status = Problem("no_student", {"student": student_id}), 404
        elif offering_id not in round_.offering_ids:
            problem = Problem("offering_not_in_round", {"offering": offering_id})
        else:
            try:
                await enrollment.select(
                    SelectIntent(
                        round_id=round_id,
                        student=student,
                        offering_id=offering_id,
                        waitlist=False,
                        mode="override" if override else "admin",
                        actor=user.sub,
                        role="admin",
                    )
                )
            except errors.DomainError as exc:
                problem, status = problem_of(exc), exc.status
        if problem is not None:
            return await _render_round(
                pages, request, round_, roster, catalog, problem=problem, status_code=status, force=kept
            )
        action = "force_enroll_override" if override else "force_enroll"
        _flash(request, "enrolled", student=student_id, offering=offering_id, action=action)
        return _see(f"/admin/rounds/{round_id}")

    @post("/admin/rounds/{round_id:str}/force-drop", name="admin_force_drop")
    async def force_drop(
        request: Request[Any, Any, Any],
        round_id: FromPath[str],
        rounds: NamedDependency[RoundRegistry],
        roster: NamedDependency[Roster],
        catalog: NamedDependency[CachedCatalog],
        students: NamedDependency[StudentDirectory],
        enrollment: NamedDependency[Enrollment],
    ) -> Response[Any]:
        user = admin_of(pages, request)
        round_ = await _round_or_404(rounds, round_id)
        form = await form_of(request)
        student_id, offering_id = form.one("student_id"), form.one("offering_id")
        kept = {"drop_student": student_id, "drop_offering": offering_id}
        problem: Problem | None = None
        status = 409
        if not _ID.match(student_id) or await students.get(student_id) is None:
            problem, status = Problem("no_student", {"student": student_id}), 404
        elif offering_id not in round_.offering_ids:
            problem = Problem("offering_not_in_round", {"offering": offering_id})
        else:
            try:
                await enrollment.drop(
                    DropIntent(
                        round_id=round_id,
                        student_id=student_id,
                        offering_id=offering_id,
                        mode="admin",
                        actor=user.sub,
                        role="admin",
                    )
                )
            except errors.NotFound:
                problem, status = Problem("nothing_to_drop", {"student": student_id, "offering": offering_id}), 404
            except errors.DomainError as exc:
                problem, status = problem_of(exc), exc.status
        if problem is not None:
            return await _render_round(
                pages, request, round_, roster, catalog, problem=problem, status_code=status, force=kept
            )
        _flash(request, "dropped", student=student_id, offering=offering_id)
        return _see(f"/admin/rounds/{round_id}")

    return [force_enroll, force_drop]


def _offering_handlers(pages: Pages) -> list[Any]:
    """The catalog of offerings, and an offering's edit."""

    @get("/admin/offerings", name="admin_offerings")
    async def offerings_page(
        request: Request[Any, Any, Any], offerings: NamedDependency[OfferingCatalog], q: FromQuery[str] = ""
    ) -> Template:
        admin_of(pages, request)
        every = await offerings.every()
        wanted = q.strip().casefold()
        shown = [(o, r) for o, r in every if not wanted or wanted in _searchable(o)]
        return pages.render(
            request, "admin_offerings.html", rows=shown, total=len(every), q=q.strip(), notice=_take_flash(request)
        )

    @get("/admin/offerings/{offering_id:str}", name="admin_offering")
    async def offering_page(
        request: Request[Any, Any, Any], offering_id: FromPath[str], offerings: NamedDependency[OfferingCatalog]
    ) -> Template:
        admin_of(pages, request)
        offering = await _offering_or_404(offerings, offering_id)
        return pages.render(
            request, "admin_offering_form.html", offering=offering, values=_offering_values(offering), problems={}
        )

    @post("/admin/offerings/{offering_id:str}", name="admin_offering_save")
    async def save_offering(
        request: Request[Any, Any, Any], offering_id: FromPath[str], offerings: NamedDependency[OfferingCatalog]
    ) -> Response[Any]:
        user = admin_of(pages, request)
        offering = await _offering_or_404(offerings, offering_id)
        form = await form_of(request)
        values = {name: form.one(name) for name in OFFERING_FIELDS if form.has(name)}
        body: dict[str, Any] = {name: (value or None) for name, value in values.items()}
        problems: dict[str, Problem] = {}
        if "title" in body:
            body["title"] = values["title"]
        if "capacity" in values:
            if values["capacity"].isdigit():
                body["capacity"] = int(values["capacity"])
            else:
                problems["capacity"] = Problem("bad_capacity")
        if not problems:
            try:
                await offerings.patch(offering_id, msgspec.convert(body, OfferingPatch), user.sub)
            except msgspec.ValidationError as exc:
                problems = shape_problems(exc)
            except errors.CapacityBelowEnrolled as exc:
                problems = {"capacity": problem_of(exc)}
            except errors.DomainError as exc:
                problems = {"": problem_of(exc)}
            else:
                _flash(request, "offering_saved", offering=offering_id)
                return _see(f"/admin/offerings?q={offering_id}")
        return pages.render(
            request,
            "admin_offering_form.html",
            status_code=409 if any(p.code == "capacity_below_enrolled" for p in problems.values()) else 400,
            offering=offering,
            values=_offering_values(offering) | values,
            problems=problems,
        )

    return [offerings_page, offering_page, save_offering]


#: A patch's field -> the form inputs that carry it.
_PATCH_INPUTS: dict[str, set[str]] = {
    "name": {"name"},
    "offering_ids": {"offering_ids", "offering_ids_sent"},
    "mode": {"mode"},
    "opens_at": {"opens_at"},
    "closes_at": {"closes_at"},
    "eligibility": {"cohorts", "campuses", "degrees", "eligibility_sent"},
    "limits": {f"limit_{key}" for key in LIMIT_KEYS},
    "allow_drop": {"allow_drop", "flags_sent"},
    "waitlist": {"waitlist", "flags_sent"},
    "fair_start_seconds": {"fair_start_seconds"},
    "continues": {"continues"},
    "seed_sha256": {"seed_sha256"},
}


def _editable_inputs(state: str) -> set[str]:
    names = EDITABLE[state]  # type: ignore[index]
    inputs = {i for name in names for i in _PATCH_INPUTS.get(name, set())}
    return inputs | {f"limit_{key}" for key in LIMIT_KEYS if "limits" in names}


def _stats_of(stats: Any, offering_id: str) -> OfferingStats:
    for row in stats.offerings:
        if row.offering_id == offering_id:
            found: OfferingStats = row
            return found
    raise PageError(404, "not_found")


#: The offering's fields its form edits ("keep it simple": not its schedule, category or eligibility).
OFFERING_FIELDS = tuple(
    name
    for name in ("title", "title_zh", "teacher", "campus", "description", "capacity")
    if name in OfferingPatch.__struct_fields__
)


def _offering_values(offering: Offering) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in OFFERING_FIELDS:
        value = getattr(offering, name, None)
        values[name] = "" if value is None or value is msgspec.UNSET else str(value)
    return values


def _searchable(offering: Offering) -> str:
    zh = getattr(offering, "title_zh", None)
    parts = [offering.id, offering.title, offering.teacher or "", offering.campus or ""]
    return " ".join([*parts, zh if isinstance(zh, str) else ""]).casefold()
