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

import codecs
import csv
import dataclasses
import io
import re
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class RowProblem:
    """One fault of a CSV: where (``row`` 0 is the header), in which column, of what ``kind``, and
    the API's sentence for it (``message``). ``kind`` is one of ``unknown_column``,
    ``repeated_column``, ``missing_column``, ``field_count``, ``repeated_id``, ``bad_value``,
    ``not_csv``: a page words it in its reader's language."""

    row: int
    field: str | None
    kind: str
    message: str
    value: str | None = None

    def error(self) -> errors.DomainError:
        return errors.ValidationFailed(self.message, row=self.row, field=self.field)


def _header_problems(names: list[str], shape: CsvShape[Any]) -> tuple[list[str], list[RowProblem]]:
    header = [name.strip() for name in names]
    problems: list[RowProblem] = []
    seen: set[str] = set()
    for name in header:
        if name not in shape.columns:
            expected = ", ".join((*shape.required, *shape.optional))
            problems.append(
                RowProblem(0, name, "unknown_column", f"Header: unknown column {name!r}; the columns are {expected}")
            )
        elif name in seen:
            problems.append(RowProblem(0, name, "repeated_column", f"Header: column {name!r} appears twice"))
        seen.add(name)
    for name in shape.required:
        if name not in seen:
            problems.append(RowProblem(0, name, "missing_column", f"Header: the required column {name!r} is missing"))
    return header, problems


def _bad_row(row: int, field: str, message: str, value: str | None, kind: str = "bad_value") -> RowProblem:
    shown = "" if value is None else f" ({value[:60]!r})"
    return RowProblem(row, field, kind, f"Row {row}, field {field}{shown}: {message}", value)


def _convert(shape: CsvShape[T], cells: dict[str, str], row: int) -> T | RowProblem:
    try:
        fields = shape.to_fields(cells)
        return msgspec.convert(fields, shape.type, strict=False)
    except CellError as exc:
        problem = _bad_row(row, exc.field, str(exc), None)
        return dataclasses.replace(problem, value=cells.get(exc.field))
    except msgspec.ValidationError as exc:
        message = str(exc)
        at = _AT.search(message)
        missing = _MISSING.search(message)
        field = at[1] if at and at[1] else (missing[1] if missing else "?")
        if field == "eligibility":
            field = next((c for c in _ELIGIBILITY_COLUMNS if f".{c}" in message), field)
        text = message[: at.start()] if at else message
        return _bad_row(row, field, text, cells.get(field))


def _records(text: str, shape: CsvShape[T]) -> Iterator[T | RowProblem]:
    """Each row of ``text`` as a ``shape.type`` or the problem with it, the header's problems
    first (and then no row: a bad header makes every row's reading a guess)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header, problems = _header_problems(next(reader, []), shape)
        if problems:
            yield from problems
            return
        first_row_of: dict[str, int] = {}
        for row, record in enumerate(reader, start=1):
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) != len(header):
                field = header[len(record)] if len(record) < len(header) else header[-1]
                yield RowProblem(
                    row,
                    field,
                    "field_count",
                    f"Row {row}, field {field}: the row has {len(record)} fields; the header has {len(header)}",
                )
                continue
            cells = {name: cell.strip() for name, cell in zip(header, record, strict=True)}
            item = _convert(shape, cells, row)
            if isinstance(item, RowProblem):
                yield item
                continue
            if item.id in first_row_of:
                yield _bad_row(row, "id", f"repeats row {first_row_of[item.id]}", item.id, kind="repeated_id")
                continue
            first_row_of[item.id] = row
            yield item
    except csv.Error as exc:
        row = max(reader.line_num - 1, 0)
        yield RowProblem(row, None, "not_csv", f"Row {row}: not valid CSV: {exc}")


def parse(body: bytes, shape: CsvShape[T]) -> list[T]:
    """Every row of ``body`` as a ``shape.type``, or a 400 naming the first bad row and field.

    Surrounding spaces of a cell are dropped; an empty optional cell means "no value" (null or
    an empty list). A repeated id is an error on the later row: one import says one thing.
    """
    result: list[T] = []
    for item in _records(_text(body), shape):
        if isinstance(item, RowProblem):
            raise item.error()
        result.append(item)
    return result


#: The encodings ``check`` tells apart, as a page names them.
UTF8 = "UTF-8"
UTF8_BOM = "UTF-8 (BOM)"
GB18030 = "GB18030"


class UnreadableText(ValueError):
    """Bytes that are neither UTF-8 nor GB18030 (GBK is part of it): ``line`` of the first bad byte,
    0 when the file is not text at all (NUL bytes, a UTF-16 byte order mark)."""

    def __init__(self, line: int) -> None:
        super().__init__(f"neither UTF-8 nor GB18030 (line {line})")
        self.line = line


def decode(body: bytes) -> tuple[str, str]:
    """The text of an uploaded file and its encoding: UTF-8 (with or without a BOM), else GB18030,
    which the spreadsheets of Chinese Windows write (GBK, "ANSI"). UTF-8 is tried first: a GB18030
    file of Chinese text is almost never valid UTF-8, while the reverse is often true."""
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in body:
        raise UnreadableText(0)
    if body.startswith(codecs.BOM_UTF8):
        try:
            return body.decode("utf-8-sig"), UTF8_BOM
        except UnicodeDecodeError as exc:
            raise UnreadableText(body[: exc.start].count(b"\n") + 1) from None
    try:
        return body.decode("utf-8"), UTF8
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("gb18030"), GB18030
    except UnicodeDecodeError as exc:
        raise UnreadableText(body[: exc.start].count(b"\n") + 1) from None


@dataclass
class Checked(Generic[T]):
    """A whole file read: every good row, and every problem (not only the first)."""

    encoding: str
    items: list[T]
    problems: list[RowProblem]


def check(body: bytes, shape: CsvShape[T]) -> Checked[T]:
    """Like ``parse`` with the same rules, for a preview: UTF-8 or GB18030, and every bad row
    reported instead of the first. Raises ``UnreadableText`` for a file in neither encoding."""
    text, encoding = decode(body)
    items: list[T] = []
    problems: list[RowProblem] = []
    for item in _records(text, shape):
        if isinstance(item, RowProblem):
            problems.append(item)
        else:
            items.append(item)
    return Checked(encoding, items, problems)
