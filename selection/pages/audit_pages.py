"""The console's audit log: ``/admin/audit``, every recorded change, newest first, with filters.

The filter form is a plain GET form (it works without JavaScript); with htmx it asks for the
results alone (``HX-Request``) and swaps them in, pushing the filtered address into the history.
Times are typed and shown in the school's zone; the trail itself keeps UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date, format_time
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from courses.audit import ACTIONS, AuditFilter, AuditTrail
from courses.rounds import RoundRegistry
from selection.pages import i18n
from selection.pages.site import Pages, admin_of

#: Events per page.
PAGE_SIZE = 50
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
#: What ``<input type="datetime-local">`` sends (seconds optional).
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?\Z")
#: The filters, in the order of the form: (query parameter, the filter's field).
FIELDS = ("round", "student", "offering", "action", "actor", "since", "until")


@dataclass
class AuditQuery:
    """The form as typed (to write back into it) and what it asks for, or the fields it got wrong."""

    typed: dict[str, str]
    where: AuditFilter
    before: int | None
    invalid: list[str]

    def link(self, **changes: str | int | None) -> str:
        """This query's address with some parameters changed (``None`` removes one)."""
        params: dict[str, Any] = {k: v for k, v in self.typed.items() if v}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return "/admin/audit" + (f"?{urlencode(params)}" if params else "")


def read_query(params: dict[str, str], zone: Any) -> AuditQuery:
    typed = {name: (params.get(name) or "").strip() for name in FIELDS}
    invalid: list[str] = []

    def an_id(name: str) -> str | None:
        value = typed[name]
        if not value:
            return None
        if not _ID.match(value):
            invalid.append(name)
            return None
        return value

    def an_instant(name: str) -> dt.datetime | None:
        value = typed[name]
        if not value:
            return None
        if not _LOCAL.match(value):
            invalid.append(name)
            return None
        try:
            return dt.datetime.fromisoformat(value).replace(tzinfo=zone).astimezone(dt.UTC)
        except ValueError:
            invalid.append(name)
            return None

    action = typed["action"] or None
    if action is not None and action not in ACTIONS:
        invalid.append("action")
        action = None
    actor = typed["actor"] or None
    if actor is not None and len(actor) > 255:
        invalid.append("actor")
        actor = None
    where = AuditFilter(
        round_id=an_id("round"),
        student_id=an_id("student"),
        offering_id=an_id("offering"),
        action=action,
        actor=actor,
        since=an_instant("since"),
        until=an_instant("until"),
    )
    before: int | None = None
    raw_before = (params.get("before") or "").strip()
    if raw_before:
        if raw_before.isdigit() and 0 < int(raw_before) < 2**63:
            before = int(raw_before)
        else:
            invalid.append("before")
    return AuditQuery(typed=typed, where=where, before=before, invalid=invalid)


def audit_handlers(pages: Pages) -> list[Any]:
    """``GET /admin/audit``: the page, or its results alone for htmx."""

    def when(instant: dt.datetime, lang: str) -> str:
        """To the second: at an opening, the second is what matters."""
        locale = i18n.LANGUAGES.get(lang, i18n.LANGUAGES[i18n.DEFAULT]).locale
        local = instant.astimezone(pages.zone)
        return (
            f"{format_date(local, format='medium', locale=locale)} {format_time(local, format='medium', locale=locale)}"
        )

    @get("/admin/audit", name="audit_page")
    async def audit_page(
        request: Request[Any, Any, Any],
        audit: NamedDependency[AuditTrail],
        rounds: NamedDependency[RoundRegistry],
    ) -> Template:
        admin_of(pages, request)
        query = read_query(dict(request.query_params), pages.zone)
        events = [] if query.invalid else await audit.page(before=query.before, limit=PAGE_SIZE + 1, where=query.where)
        older = events[PAGE_SIZE - 1].id if len(events) > PAGE_SIZE else None
        fragment = request.headers.get("hx-request") == "true" and not request.headers.get("hx-history-restore-request")
        context = {
            "query": query,
            "events": events[:PAGE_SIZE],
            "older": query.link(before=older) if older is not None else None,
            "newest": query.link(before=None) if query.before is not None else None,
            "when": lambda instant: when(instant, pages.language(request)),
        }
        # An htmx swap wants a 200 (it leaves a 4xx unswapped); a plain form gets the 400 it earned.
        status = 400 if query.invalid and not fragment else 200
        if fragment:
            return pages.render(request, "audit_results.html", status_code=status, **context)
        every_round = await rounds.every()
        return pages.render(request, "audit.html", status_code=status, rounds=every_round, actions=ACTIONS, **context)

    return [audit_page]
