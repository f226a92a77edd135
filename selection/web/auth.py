"""Bearer tokens: HS256 JWTs with ``sub``, ``role`` and a required ``exp``; role guards."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from courses.students import StudentDirectory, StudentProfile

Role = Literal["student", "admin"]
ROLES: frozenset[str] = frozenset(("student", "admin"))
#: Paths that answer without a token.
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/metrics$", "^/schema"]


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the token's subject and role, and the student's profile when registered."""

    sub: str
    role: str
    student: StudentProfile | None = None


def mint_token(secret: str, sub: str, role: Role, ttl: timedelta = timedelta(hours=12)) -> str:
    """A signed token, as ``selection token`` prints it."""
    now = datetime.now(UTC)
    payload = {"sub": sub, "role": role, "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp())}
    return jwt.encode(payload, secret, algorithm="HS256")


def _verified_token_class(capacity: int = 50_000) -> type[Token]:
    """A Token whose decode remembers tokens it has verified.

    Verifying an HS256 signature costs as much as a large part of a selection, and a student's
    token is the same string on every request. A remembered
    token is only a string this process has already verified with the same secret; its expiry
    is still checked on every use.
    """
    verified: dict[str, Token] = {}

    class VerifiedToken(Token):
        @classmethod
        def decode(cls, encoded_token: str, secret: str, algorithm: str, *args: Any, **kwargs: Any) -> Any:
            hit = verified.get(encoded_token)
            if hit is not None:
                if hit.exp.timestamp() > time.time():
                    return hit
                verified.pop(encoded_token, None)
                raise NotAuthorizedException("Token has expired")
            token = super().decode(encoded_token, secret, algorithm, *args, **kwargs)
            if len(verified) >= capacity:
                verified.clear()
            verified[encoded_token] = token
            return token

    return VerifiedToken


def jwt_auth(secret: str, directory_of: Any) -> JWTAuth[Principal, Token]:
    """Litestar's JWT middleware; ``directory_of(connection)`` gives the StudentDirectory."""

    async def retrieve(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
        role = token.extras.get("role")
        if role not in ROLES:
            return None
        if role == "admin":
            return Principal(token.sub, role)
        directory: StudentDirectory = directory_of(connection)
        return Principal(token.sub, role, await directory.get(token.sub))

    return JWTAuth[Principal, Token](
        retrieve_user_handler=retrieve,
        token_secret=secret,
        algorithm="HS256",
        require_claims=["exp", "sub"],
        token_cls=_verified_token_class(),
        exclude=PUBLIC_PATHS,
        description="HS256 bearer token with `sub`, `role` (student or admin) and `exp`.",
    )


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException("No valid bearer token")
    return user


# Guards are coroutines: Litestar runs a plain function guard in a worker thread.


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: administrators only."""
    if principal_of(connection).role != "admin":
        raise PermissionDeniedException("This route is for administrators")


def registered_student(connection: ASGIConnection[Any, Any, Any, Any]) -> StudentProfile:
    """The calling student's profile; 403 unless the token is a registered student's.

    Not a guard: Litestar hands each guard a copy of the route handler on every request, a cost
    the select, at the opening burst, should not pay. The student routes call this first thing in their router's
    ``before_request`` hook, which runs where guards do: after authentication, before any
    parameter or body is read. Each student handler also asks for the student through it, so a
    route given a hook of its own (which would replace the router's) still answers 403.
    """
    who = principal_of(connection)
    if who.role != "student":
        raise PermissionDeniedException("This route is for students")
    if who.student is None:
        raise PermissionDeniedException("The token's subject is not a registered student")
    return who.student
