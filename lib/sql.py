"""Named SQL queries read once from a package's ``.sql`` file (``-- name: <query>`` blocks)."""

from __future__ import annotations

import re
from importlib import resources
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


class NamedQueries:
    """The queries of one ``.sql`` file, by name; a typo'd name fails loudly."""

    def __init__(self, package: str, filename: str) -> None:
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
        parts = _NAME.split(text)
        self._where = f"{package}/{filename}"
        self._queries: dict[str, str] = {}
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in self._queries:
                raise ValueError(f"query {name!r} is named twice in {self._where}")
            self._queries[name] = body.strip()

    def __call__(self, name: str) -> str:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no query {name!r} in {self._where}") from None

    def names(self) -> list[str]:
        return list(self._queries)


#: A connection, pooled or not: what query-running functions accept.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
