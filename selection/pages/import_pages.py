"""The console's CSV import: ``/admin/import``. Upload, preview, confirm.

The upload (multipart, with the form's CSRF token) is read with the API's rules
(``courses.csv_import``), but every bad row is listed rather than the first, and files from
Chinese Windows (GB18030 / GBK) are read as well as UTF-8; the page says which encoding it found.
The uploaded bytes are kept in Redis, beside the sessions, for ``KEEP_SECONDS`` under a random
key that only the administrator who uploaded them can confirm; the confirmation reads those same
bytes again and imports exactly what was previewed, through the same upsert as the API (one
audit event, ``students.import`` / ``offerings.import``).
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

import anyio
import msgspec
from litestar import Request, post
from litestar import get as get_route
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.response import Template
from litestar.stores.base import NamespacedStore, Store
from litestar.utils.scope.state import ScopeState

from courses import csv_import
from courses.import_preview import ImportCounts
from courses.models import Offering, Student
from courses.offerings import OfferingCatalog
from courses.students import StudentDirectory
from lib import errors
from selection.pages.sessions import STORE
from selection.pages.site import PageError, Pages, admin_of

Kind = Literal["students", "offerings"]
SHAPES: dict[str, csv_import.CsvShape[Any]] = {"students": csv_import.STUDENTS, "offerings": csv_import.OFFERINGS}
#: How long an uploaded file waits for its confirmation.
KEEP_SECONDS = 15 * 60
#: Rows shown as they will be stored.
PREVIEW_ROWS = 10
_TOKEN_BYTES = 24


class Upload(msgspec.Struct):
    """What the store keeps between the preview and the confirmation."""

    kind: str
    actor: str
    filename: str
    body: bytes


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        if "start" in value:  # a schedule entry, written as the CSV writes it
            return f"{value.get('day') or value.get('date')} {value['start']}-{value['end']}"
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items() if v) or "—"
    return str(value)


def preview_table(items: list[Student] | list[Offering]) -> tuple[list[str], list[list[str]]]:
    """The first rows as they will be stored: the type's fields, in its order."""
    if not items:
        return [], []
    columns = list(type(items[0]).__struct_fields__)
    rows = []
    for item in items[:PREVIEW_ROWS]:
        stored = msgspec.to_builtins(item)
        rows.append([_cell(stored.get(c)) for c in columns])
    return columns, rows


def store(request: Request[Any, Any, Any]) -> Store:
    """Where uploads wait: the sessions' Redis store, in a namespace of its own."""
    kept = request.app.stores.get(STORE)
    return kept.with_namespace("imports") if isinstance(kept, NamespacedStore) else kept


def close_uploads(request: Request[Any, Any, Any]) -> None:
    """Close the files of a multipart form parsed for this request (the CSRF middleware parses it
    before any handler runs): a refused upload's spooled file is not left for the collector."""
    form = ScopeState.from_scope(request.scope).form
    if not isinstance(form, dict):
        return
    for value in form.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, UploadFile):
                item.file.close()


def upload_form(
    pages: Pages, request: Request[Any, Any, Any], status: int = 200, problem: str | None = None, **extra: Any
) -> Template:
    """The upload form, with what went wrong (``problem``, a kind ``import.html`` words)."""
    chosen = extra.pop("chosen", "students")
    columns = {kind: (", ".join(shape.required), ", ".join(shape.optional)) for kind, shape in SHAPES.items()}
    return pages.render(
        request, "import.html", status_code=status, problem=problem, chosen=chosen, columns=columns, **extra
    )


async def render_preview(
    pages: Pages,
    request: Request[Any, Any, Any],
    upload: Upload,
    token: str,
    students: StudentDirectory,
    offerings: OfferingCatalog,
    status: int = 200,
    refused: errors.DomainError | None = None,
) -> Template:
    """The preview of an upload: its encoding, every problem, the first rows, the counts."""
    shape = SHAPES[upload.kind]
    try:
        checked = await anyio.to_thread.run_sync(csv_import.check, upload.body, shape)
    except csv_import.UnreadableText as exc:
        return upload_form(pages, request, 400, "encoding", chosen=upload.kind, line=exc.line)
    counts: ImportCounts | None = None
    if checked.items and not checked.problems:
        service = students if upload.kind == "students" else offerings
        counts = await service.compare(checked.items)
    columns, rows = preview_table(checked.items)
    return pages.render(
        request,
        "import_preview.html",
        status_code=status,
        kind=upload.kind,
        filename=upload.filename,
        checked=checked,
        counts=counts,
        columns=columns,
        rows=rows,
        token=token,
        refused=refused,
        keep_minutes=KEEP_SECONDS // 60,
    )


def import_handlers(pages: Pages) -> list[Any]:
    """``GET /admin/import``, ``POST /admin/import`` (the upload, answered with the preview) and
    ``POST /admin/import/confirm``."""

    @get_route("/admin/import", name="import_page")
    async def import_page(request: Request[Any, Any, Any]) -> Template:
        admin_of(pages, request)
        return upload_form(pages, request)

    @post("/admin/import", name="import_upload")
    async def import_upload(
        request: Request[Any, Any, Any],
        students: NamedDependency[StudentDirectory],
        offerings: NamedDependency[OfferingCatalog],
    ) -> Template:
        form = await request.form()
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        try:
            user = admin_of(pages, request)
            kind = form.get("kind")
            if kind not in SHAPES:
                return upload_form(pages, request, 400, "kind")
            file = form.get("file")
            if not isinstance(file, UploadFile):
                return upload_form(pages, request, 400, "no_file", chosen=kind)
            body = await file.read()
            filename = (file.filename or "")[:200]
        finally:
            # The parser spools files to disk; whoever sent them, they are closed here.
            for opened in files:
                await opened.close()
        if not body.strip():
            return upload_form(pages, request, 400, "empty", chosen=kind)
        upload = Upload(kind=kind, actor=user.sub, filename=filename, body=body)
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        await store(request).set(token, msgspec.msgpack.encode(upload), expires_in=KEEP_SECONDS)
        return await render_preview(pages, request, upload, token, students, offerings)

    @post("/admin/import/confirm", name="import_confirm")
    async def import_confirm(
        request: Request[Any, Any, Any],
        students: NamedDependency[StudentDirectory],
        offerings: NamedDependency[OfferingCatalog],
    ) -> Template:
        user = admin_of(pages, request)
        form = await request.form()
        token = form.get("token")
        kept = await store(request).get(token) if isinstance(token, str) and 0 < len(token) <= 64 else None
        upload = msgspec.msgpack.decode(kept, type=Upload) if kept is not None else None
        if upload is None or upload.actor != user.sub or upload.kind not in SHAPES:
            return upload_form(pages, request, 400, "expired")
        assert isinstance(token, str)
        checked = await anyio.to_thread.run_sync(csv_import.check, upload.body, SHAPES[upload.kind])
        if checked.problems or not checked.items:
            return await render_preview(pages, request, upload, token, students, offerings, status=400)
        try:
            if upload.kind == "students":
                count = await students.upsert(checked.items, user.sub, "students.import")
            else:
                count = await offerings.upsert(checked.items, user.sub, "offerings.import")
        except errors.DomainError as exc:
            if exc.status >= 500:
                raise PageError(503, "failed") from exc
            return await render_preview(pages, request, upload, token, students, offerings, status=409, refused=exc)
        await store(request).delete(token)
        return pages.render(
            request,
            "import_done.html",
            kind=upload.kind,
            count=count,
            filename=upload.filename,
            encoding=checked.encoding,
        )

    return [import_page, import_upload, import_confirm]
