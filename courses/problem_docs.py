"""How the administrators' routes describe their error answers in the OpenAPI document."""

from __future__ import annotations

from collections import defaultdict

import msgspec
from litestar.openapi import ResponseSpec

from selection import errors


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details, as every 4xx and 5xx carries them."""

    type: str
    title: str
    status: int
    detail: str
    code: str


_AUTH = (errors.Unauthorized, errors.Forbidden)
#: Request-shape answers of a route that takes a body.
BODY = (errors.ValidationFailed, errors.PayloadTooLarge, errors.UnsupportedMediaType)


def problems(*kinds: type[errors.DomainError]) -> dict[int, ResponseSpec]:
    """``responses=`` for a route: auth's answers, then the given ones, grouped by status."""
    by_status: dict[int, list[type[errors.DomainError]]] = defaultdict(list)
    for kind in (*_AUTH, *kinds):
        if kind not in by_status[kind.status]:
            by_status[kind.status].append(kind)
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description="; ".join(f"`{kind.code}`: {(kind.__doc__ or kind.title).rstrip('.')}" for kind in kinds_),
            generate_examples=False,
        )
        for status, kinds_ in sorted(by_status.items())
    }
