"""A request id for every request: the caller's ``X-Request-Id`` or a new one, in every log line
the request writes and echoed in its response."""

from __future__ import annotations

import itertools
import uuid

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lib.logs import request_id

# A process-unique prefix and a counter: as unique as a UUID per request, and cheaper.
_prefix = uuid.uuid4().hex[:12]
_sequence = itertools.count(1)


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Take the caller's ``X-Request-Id`` (or make one), log with it, and echo it back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
                break
        rid = rid or f"{_prefix}-{next(_sequence):x}"
        token = request_id.set(rid)
        header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

    return middleware
