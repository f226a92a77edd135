"""CSV imports: the university's exports turned into the Structs the JSON routes take.

Each row becomes a dict of the type's fields and goes through the same ``msgspec.convert`` as a
JSON body, so every rule of a student or an offering is stated once, in ``courses.models``.

Errors name the place of the first fault, as ``row`` and ``field`` members of the 400:

- ``row`` counts the records after the header from 1, blank lines included, so that it is the
  line number minus one in a file without line breaks inside quoted fields;
- ``row`` 0 is the header itself: a missing required column, an unknown or repeated column
  (``field`` is that column's name);
- a body that is not UTF-8 names the line of the first bad byte, and has no ``field``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from courses.models import Body, Offering, Student
from lib import errors

T = TypeVar("T", Student, Offering)

LIST_SEPARATOR = ";"
_AT = re.compile(r"\s+- at `\$\.?([A-Za-z_]*)[^`]*`$")
_ENTRY = re.compile(r"^(?P<when>\S+)\s+(?P<start>[^\s-]+)\s*-\s*(?P<end>\S+)$")
_MISSING = re.compile(r"missing required field `([A-Za-z_]+)`")
_ELIGIBILITY_COLUMNS = ("cohorts", "degrees", "campuses")


class CellError(ValueError):
    """A cell that cannot become the field's value, before the model's own checks."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CsvShape(Generic[T]):
    """The columns of one type's CSV and how a row's cells become the type's fields."""

    type: type[T]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    to_fields: Callable[[dict[str, str]], dict[str, Any]]

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(self.required + self.optional)


def _items(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]


def _schedule(cell: str) -> list[dict[str, str]]:
    """``mon 14:00-15:40;2026-12-05 09:00-11:00``: the model checks the day, date and times."""
    entries = []
    for part in _items(cell):
        match = _ENTRY.match(part)
        if match is None:
            raise CellError("schedule", f"{part!r} is not like 'mon 14:00-15:40' or '2026-12-05 09:00-11:00'")
        when = match["when"]
        key = "date" if when[:1].isdigit() else "day"
        entries.append({key: when.lower() if key == "day" else when, "start": match["start"], "end": match["end"]})
    return entries


def _student_fields(cells: dict[str, str]) -> dict[str, Any]:
    return dict(cells)


def _offering_fields(cells: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    eligibility: dict[str, list[str]] = {}
    for name, cell in cells.items():
        if name in _ELIGIBILITY_COLUMNS:
            eligibility[name] = _items(cell)
        elif name == "schedule":
            fields[name] = _schedule(cell)
        elif name in ("title_zh", "teacher", "campus", "description"):
            fields[name] = cell or None
        else:
            fields[name] = cell
    fields["eligibility"] = eligibility
    return fields


def _fields_of(cls: type[Body]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    info = msgspec.structs.fields(cls)
    required = tuple(f.name for f in info if f.required)
    optional = tuple(f.name for f in info if not f.required)
    return required, optional


_STUDENT_REQUIRED, _STUDENT_OPTIONAL = _fields_of(Student)
_OFFERING_REQUIRED, _OFFERING_OPTIONAL = _fields_of(Offering)

STUDENTS: CsvShape[Student] = CsvShape(Student, _STUDENT_REQUIRED, _STUDENT_OPTIONAL, _student_fields)
OFFERINGS: CsvShape[Offering] = CsvShape(
    Offering,
    _OFFERING_REQUIRED,
    tuple(f for f in _OFFERING_OPTIONAL if f != "eligibility") + _ELIGIBILITY_COLUMNS,
    _offering_fields,
)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise errors.ValidationFailed(
            f"The CSV is not UTF-8: byte {exc.start} (line {line}) cannot be decoded; export it as UTF-8"
        ) from None


def _header(names: list[str], shape: CsvShape[Any]) -> list[str]:
    header = [name.strip() for name in names]
    seen: set[str] = set()
    for name in header:
        if name not in shape.columns:
            expected = ", ".join((*shape.required, *shape.optional))
            raise errors.ValidationFailed(
                f"Header: unknown column {name!r}; the columns are {expected}", row=0, field=name
            )
        if name in seen:
            raise errors.ValidationFailed(f"Header: column {name!r} appears twice", row=0, field=name)
        seen.add(name)
    for name in shape.required:
        if name not in seen:
            raise errors.ValidationFailed(f"Header: the required column {name!r} is missing", row=0, field=name)
    return header


def _bad_row(row: int, field: str, message: str, value: str | None) -> errors.DomainError:
    shown = "" if value is None else f" ({value[:60]!r})"
    return errors.ValidationFailed(f"Row {row}, field {field}{shown}: {message}", row=row, field=field)


def _convert(shape: CsvShape[T], cells: dict[str, str], row: int) -> T:
    try:
        fields = shape.to_fields(cells)
        return msgspec.convert(fields, shape.type, strict=False)
    except CellError as exc:
        raise _bad_row(row, exc.field, str(exc), None) from None
    except msgspec.ValidationError as exc:
        message = str(exc)
        at = _AT.search(message)
        missing = _MISSING.search(message)
        field = at[1] if at and at[1] else (missing[1] if missing else "?")
        if field == "eligibility":
            field = next((c for c in _ELIGIBILITY_COLUMNS if f".{c}" in message), field)
        text = message[: at.start()] if at else message
        raise _bad_row(row, field, text, cells.get(field)) from None


def parse(body: bytes, shape: CsvShape[T]) -> list[T]:
    """Every row of ``body`` as a ``shape.type``, or a 400 naming the first bad row and field.

    Surrounding spaces of a cell are dropped; an empty optional cell means "no value" (null or
    an empty list). A repeated id is an error on the later row: one import says one thing.
    """
    reader = csv.reader(io.StringIO(_text(body), newline=""), strict=True)
    try:
        header = _header(next(reader, []), shape)
        result: list[T] = []
        first_row_of: dict[str, int] = {}
        for row, record in enumerate(reader, start=1):
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) != len(header):
                field = header[len(record)] if len(record) < len(header) else header[-1]
                raise errors.ValidationFailed(
                    f"Row {row}, field {field}: the row has {len(record)} fields; the header has {len(header)}",
                    row=row,
                    field=field,
                )
            cells = {name: cell.strip() for name, cell in zip(header, record, strict=True)}
            item = _convert(shape, cells, row)
            if item.id in first_row_of:
                raise _bad_row(row, "id", f"repeats row {first_row_of[item.id]}", item.id)
            first_row_of[item.id] = row
            result.append(item)
    except csv.Error as exc:
        row = max(reader.line_num - 1, 0)
        raise errors.ValidationFailed(f"Row {row}: not valid CSV: {exc}", row=row, field=None) from None
    return result
