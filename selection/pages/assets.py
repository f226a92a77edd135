"""Static assets under names that carry their content's hash, so browsers may keep them for a year.

A page names an asset through ``asset("pages.css")``, which gives ``/static/pages.<hash>.css``; a
new release with a changed file gives a new name, and no browser keeps an old copy of it. Each
asset is compressed (brotli, else gzip) once per process, on its first request, not on every one.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import anyio.to_thread
import brotli
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

STATIC_DIR = Path(__file__).parent / "static"
#: Long enough that a browser asks again only for a new name.
CACHE_CONTROL = "public, max-age=31536000, immutable"
#: Kinds of file worth compressing (images and fonts are compressed already).
_COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".txt", ".map")


@dataclass
class Asset:
    path: Path
    content: bytes
    media_type: str
    etag: str
    encoded: dict[str, bytes] = field(default_factory=dict)


def _hashed(relative: PurePosixPath, digest: str) -> str:
    """``vendor/htmx.min.js`` -> ``vendor/htmx.min.<digest>.js``."""
    return str(relative.with_name(f"{relative.stem}.{digest}{relative.suffix}"))


class StaticAssets:
    """Every file under ``root``, read once at start, served under its hashed name."""

    def __init__(self, root: Path = STATIC_DIR, prefix: str = "/static") -> None:
        self.prefix = prefix
        self._by_name: dict[str, str] = {}
        self._by_url: dict[str, Asset] = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".LICENSE")):
            relative = PurePosixPath(path.relative_to(root).as_posix())
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()[:12]
            hashed = _hashed(relative, digest)
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type.endswith("javascript"):
                media_type += "; charset=utf-8"
            self._by_name[str(relative)] = hashed
            self._by_url[hashed] = Asset(path, content, media_type, f'"{digest}"')

    def url(self, name: str) -> str:
        """The URL of the asset ``name`` (a path under ``static/``); a KeyError for a missing one,
        so that a template naming a file that is not there fails its test, not a browser."""
        return f"{self.prefix}/{self._by_name[name]}"

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def find(self, hashed: str) -> Asset | None:
        return self._by_url.get(hashed)

    async def encoded(self, asset: Asset, encoding: str) -> bytes:
        if encoding not in asset.encoded:
            compress = _brotli if encoding == "br" else _gzip
            # A large file (the API docs' script) takes a moment: off the event loop.
            asset.encoded[encoding] = await anyio.to_thread.run_sync(compress, asset.content)
        return asset.encoded[encoding]

    def route(self) -> HTTPRouteHandler:
        assets = self

        @get(
            f"{self.prefix}/{{name:path}}",
            include_in_schema=False,
            name="static",
            opt={"skip_session": True, "exclude_from_csrf": True},
        )
        async def static(name: Annotated[str, PathParameter()], request: Request[Any, Any, Any]) -> Response[bytes]:
            asset = assets.find(name.lstrip("/"))
            if asset is None:
                raise NotFoundException()
            headers = {"Cache-Control": CACHE_CONTROL, "ETag": asset.etag, "Vary": "Accept-Encoding"}
            if request.headers.get("if-none-match") == asset.etag:
                return Response(b"", status_code=304, headers=headers)
            body = asset.content
            accepted = request.headers.get("accept-encoding", "")
            if asset.path.suffix in _COMPRESSIBLE and len(body) > 512:
                for encoding in ("br", "gzip"):
                    if encoding in accepted:
                        body = await assets.encoded(asset, encoding)
                        headers["Content-Encoding"] = encoding
                        break
            return Response(body, media_type=asset.media_type, headers=headers)

        return static


def _brotli(content: bytes) -> bytes:
    return bytes(brotli.compress(content, quality=9))


def _gzip(content: bytes) -> bytes:
    return gzip.compress(content, compresslevel=9, mtime=0)
