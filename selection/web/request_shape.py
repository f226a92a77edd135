"""Request-shape checks (415, 413, 400) that Litestar does not make itself, made after auth and
before anything is decided; the id path parameter.

A route says what its body is in its ``opt``: ``body`` (``json`` or ``csv``) and, for JSON, the
``schema`` it is decoded to. A route that takes no body (a GET, a round's open, pause or close)
has no ``body`` and its Content-Type is not looked at. The JSON body is decoded here once more, strictly, because the
framework's own conversion is lenient (``"2024"`` for an integer) and reports a fault in a list
of 20,000 students without saying which one.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.params import PathParameter

from courses.models import ID_PATTERN
from lib import errors

#: A path segment that is an id: anything else is a 400 before the route looks anything up.
PathId = Annotated[str, PathParameter(pattern=ID_PATTERN, max_length=64, description="1 to 64 of [A-Za-z0-9_.-]")]
#: ``opt`` of a route whose body is CSV.
CSV_BODY: dict[str, Any] = {"body": "csv"}


class BodySchema:
    """The type a JSON body decodes to, kept in a route's ``opt`` (which the framework deep-copies)."""

    def __init__(self, schema: Any) -> None:
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(schema)

    def __deepcopy__(self, memo: dict[int, Any]) -> BodySchema:
        return self


def json_body(schema: Any) -> dict[str, Any]:
    """``opt`` of a route whose body is JSON of this type."""
    return {"body": "json", "schema": BodySchema(schema)}


_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_ACCEPTED = {
    "json": ("application/json",),
    "csv": ("text/csv", "application/csv"),
}
_CHARSETS = frozenset(("utf-8", "utf8", "us-ascii"))
_AT = re.compile(r"\s+- at `\$(?:\[(\d+)\])?\.?([A-Za-z_]*)[^`]*`$")
#: msgspec names the field in the message, not in the path, when it is unknown or missing.
_NAMED = re.compile(r"(?:unknown|missing required) field `([A-Za-z_]+)`")


@functools.lru_cache(maxsize=64)
def _media_type(header: str) -> tuple[str, str | None]:
    """(media type, charset) of a Content-Type; remembered, as nearly every request sends the same
    one or two headers, and a select should not parse them again each time."""
    media, *params = (part.strip() for part in header.split(";"))
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.lower(), charset


def require_media_type(request: Request[Any, Any, Any], kind: str) -> None:
    """415 unless the body is ``kind``; a JSON route also takes a body with no Content-Type."""
    header = request.headers.get("content-type")
    if header is None and kind == "json":
        return
    media, charset = _media_type(header or "")
    accepted = _ACCEPTED[kind]
    if media not in accepted and not (kind == "json" and media.endswith("+json")):
        raise errors.UnsupportedMediaType(f"This route reads {' or '.join(accepted)}, not {media or 'no type'}")
    if charset is not None and charset not in _CHARSETS:
        raise errors.UnsupportedMediaType(f"This route reads UTF-8, not {charset}")


def check_json(body: bytes, schema: BodySchema) -> None:
    """400 naming the item (``index``) and the ``field`` of the first fault."""
    if not body:
        raise errors.ValidationFailed("The request has no body")
    try:
        schema.decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        at = _AT.search(message)
        where: dict[str, Any] = {}
        if at is not None:
            if at[1] is not None:
                where["index"] = int(at[1])
            if at[2]:
                where["field"] = at[2]
        if "field" not in where and (named := _NAMED.search(message)):
            where["field"] = named[1]
        place = "" if at is None else f" (at {message[at.start() :].split('`')[1]})"
        text = message[: at.start()] if at else message
        raise errors.ValidationFailed(f"Invalid body: {text}{place}", **where) from None
    except msgspec.DecodeError as exc:
        raise errors.ValidationFailed(f"The body is not valid JSON: {exc}") from None


async def admin_request_shape(request: Request[Any, Any, Any]) -> None:
    """The router's ``before_request`` hook: after the guards (401, 403), before the handler's
    parameters are parsed, which is the contract's order: auth, then 415, 413 and 400."""
    opt = request.route_handler.opt
    kind = opt.get("body")
    if kind is None:
        return
    require_media_type(request, kind)
    schema = opt.get("schema")
    if isinstance(schema, BodySchema):
        check_json(await request.body(), schema)


def require_json(request: Request[Any, Any, Any]) -> None:
    """415 for a body that says it is not JSON (no Content-Type at all is read as JSON)."""
    if request.method in _BODY_METHODS:
        require_media_type(request, "json")


async def json_only(request: Request[Any, Any, Any]) -> None:
    """``require_json`` as a router's ``before_request`` hook."""
    require_json(request)
