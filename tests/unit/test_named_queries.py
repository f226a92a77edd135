"""Every named query is used, and every query the code names exists: read from the source text.

The product reads its ``.sql`` files through ``lib.sql.NamedQueries`` (``-- name: <query>`` blocks)
and asks for a query by name: ``_sql("name")`` for a module-level ``_sql = NamedQueries(...)``, the
same through ``self._sql``, or through a cached factory (``def _sql() -> NamedQueries``) and a
local alias of what it returns (``q = _sql()`` then ``q("name")``, as in courses/demo.py). These
tests find, in each module, which ``.sql`` file each of those names reads, and every name asked of
it; nothing of the product is imported but ``lib.sql`` (its parser, so that the names here are the
names the product sees). A query nobody asks for fails, and so does a name with no query.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lib.sql import NamedQueries

ROOT = Path(__file__).resolve().parents[2]

#: ``_sql = NamedQueries("pkg", "file.sql")``, at module level or as ``self._sql = ...``.
_BINDING = re.compile(
    r"^[ \t]*(?P<name>(?:self\.)?[A-Za-z_]\w*)[ \t]*(?::[^=\n]+)?=[ \t]*"
    r"NamedQueries\(\s*\"(?P<package>[\w.]+)\"\s*,\s*\"(?P<file>[^\"]+)\"\s*\)",
    re.MULTILINE,
)
#: ``def _sql() -> NamedQueries: return NamedQueries("pkg", "file.sql")`` (a docstring allowed).
_FACTORY = re.compile(
    r"^[ \t]*def[ \t]+(?P<name>[A-Za-z_]\w*)\(\)[ \t]*->[ \t]*NamedQueries[ \t]*:\s*"
    r"(?:\"\"\"[\s\S]*?\"\"\"\s*)?"
    r"return[ \t]+NamedQueries\(\s*\"(?P<package>[\w.]+)\"\s*,\s*\"(?P<file>[^\"]+)\"\s*\)",
    re.MULTILINE,
)
#: Every call of the constructor, bound as above or not.
_CONSTRUCTION = re.compile(r"\bNamedQueries\(")
#: A ``-- name:`` line, well-formed for lib.sql or not: one it misreads joins the query above.
_NAME_LINE = re.compile(r"^--[ \t]*name\b.*$", re.MULTILINE | re.IGNORECASE)
_WELL_FORMED = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$")


@dataclass(frozen=True)
class Reference:
    sql_file: str  # "courses/queries.sql"
    query: str
    where: str  # "courses/rounds.py:120"


@dataclass
class Scan:
    references: list[Reference] = field(default_factory=list)
    #: Uses of a query reader whose query name is not a string literal (or a reader bound in a way
    #: these tests do not follow): nothing can say which query they mean.
    unreadable: list[str] = field(default_factory=list)


def _product_packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages: list[str] = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return packages


def _files(suffix: str) -> list[Path]:
    found = [path for package in _product_packages() for path in sorted((ROOT / package).rglob(f"*{suffix}"))]
    return [path for path in found if "__pycache__" not in path.parts]


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _sql_file(package: str, filename: str) -> str:
    return f"{package.replace('.', '/')}/{filename}"


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _defined() -> dict[str, list[str]]:
    """The named queries of every .sql file of the product, by file ("courses/queries.sql")."""
    defined: dict[str, list[str]] = {}
    for path in _files(".sql"):
        relative = path.relative_to(ROOT)
        package, filename = relative.parts[0], "/".join(relative.parts[1:])
        defined[_relative(path)] = NamedQueries(package, filename).names()
    return defined


def _calls(text: str, reader: str) -> list[tuple[int, str | None]]:
    """(offset, query name or None when not a string literal) of each call of `reader` in `text`."""
    calls: list[tuple[int, str | None]] = []
    for match in re.finditer(rf"(?<![\w.]){re.escape(reader)}\(", text):
        literal = re.match(r"\s*(?:\"([^\"\\]*)\"|'([^'\\]*)')\s*\)", text[match.end() :])
        calls.append((match.start(), None if literal is None else literal.group(1) or literal.group(2)))
    return calls


def _scan() -> Scan:
    """Every query name the product's Python code asks of a NamedQueries, with the file it reads."""
    scan = Scan()
    for path in _files(".py"):
        text = path.read_text(encoding="utf-8")
        where = _relative(path)
        if where == "lib/sql.py" or "NamedQueries" not in text:
            continue
        readers: dict[str, str] = {}  # a callable that takes a query name -> the .sql file it reads
        factories: dict[str, str] = {}  # a callable that returns such a reader -> its .sql file
        for match in _BINDING.finditer(text):
            readers[match["name"]] = _sql_file(match["package"], match["file"])
        for match in _FACTORY.finditer(text):
            factories[match["name"]] = _sql_file(match["package"], match["file"])
        constructions = len(_CONSTRUCTION.findall(text))
        if constructions != len(readers) + len(factories):
            scan.unreadable.append(f"{where}: a NamedQueries(...) bound in a way these tests do not follow")
        for factory, sql_file in factories.items():
            for match in re.finditer(
                rf"^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*{re.escape(factory)}\(\)", text, re.MULTILINE
            ):
                readers[match.group(1)] = sql_file
            for offset, _ in _calls(text, factory):
                rest = text[offset + len(factory) :]
                if re.match(r"\(\)\(", rest):
                    continue  # _sql()("name"): read as a reader below
                if text[max(0, offset - 4) : offset] == "def " or re.match(r"\(\)[ \t]*$", rest.split("\n", 1)[0]):
                    continue  # its definition, or `q = _sql()`
                scan.unreadable.append(f"{where}:{_line(text, offset)}: {factory}() used otherwise than called")
            readers[f"{factory}()"] = sql_file
        for reader, sql_file in readers.items():
            for offset, query in _calls(text, reader):
                if query is None:
                    scan.unreadable.append(f"{where}:{_line(text, offset)}: {reader}(...) without a literal name")
                else:
                    scan.references.append(Reference(sql_file, query, f"{where}:{_line(text, offset)}"))
    return scan


def test_the_product_has_named_queries_and_asks_for_them() -> None:
    defined = _defined()
    assert {"courses/queries.sql", "courses/demo.sql", "quota/queries.sql", "selection/queries.sql"} <= {
        file for file, names in defined.items() if names
    }
    referenced_files = {reference.sql_file for reference in _scan().references}
    assert {"courses/queries.sql", "courses/demo.sql", "quota/queries.sql", "selection/queries.sql"} <= referenced_files


def test_every_name_line_names_a_query() -> None:
    malformed = [
        f"{_relative(path)}:{_line(text, match.start())}: {match.group(0)!r}"
        for path in _files(".sql")
        for text in [path.read_text(encoding="utf-8")]
        for match in _NAME_LINE.finditer(text)
        if not _WELL_FORMED.match(match.group(0))
    ]
    assert not malformed, "lib.sql does not read these as `-- name: <query>` lines:\n" + "\n".join(malformed)


def test_every_query_is_asked_for_by_literal_name() -> None:
    unreadable = _scan().unreadable
    assert not unreadable, "which query these ask for cannot be read from the source:\n" + "\n".join(unreadable)


def test_every_named_query_is_used() -> None:
    used = {(reference.sql_file, reference.query) for reference in _scan().references}
    dead = [f"{file}: {name}" for file, names in _defined().items() for name in names if (file, name) not in used]
    assert not dead, (
        "named queries the Python code never asks for (through a NamedQueries of their own file):\n" + "\n".join(dead)
    )


def test_every_query_asked_for_exists() -> None:
    defined = _defined()
    missing = [
        f"{reference.where}: {reference.query!r}, not in {reference.sql_file}"
        + ("" if reference.sql_file in defined else " (no such .sql file)")
        for reference in _scan().references
        if reference.query not in defined.get(reference.sql_file, [])
    ]
    assert not missing, "queries asked for by a name no .sql file defines:\n" + "\n".join(missing)
