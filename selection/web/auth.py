"""Bearer tokens: HS256 JWTs with ``sub``, ``role`` and a required ``exp``; role guards."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token
from litestar.security.jwt.token import JWTDecodeOptions

from courses.students import StudentDirectory, StudentProfile

Role = Literal["student", "admin"]
#: Paths that answer without a token.
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/metrics$", "^/schema"]
#: Clock skew allowed between a token's issuer and this service, on each of exp, nbf and iat.
LEEWAY_SECONDS = 30
#: A shorter HS256 secret can be found by brute force; ``serve`` (but for ``--dev``) and ``token`` refuse one.
MIN_SECRET_BYTES = 32
#: The contract's id alphabet, for an administrator's ``sub`` as for a student's: it is written into
#: audit rows and redo-log entries. ``\Z``, not ``$``, which lets a trailing newline through.
SUBJECT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}\Z"


class Claims(msgspec.Struct):
    """The claims the service reads, with the only types it accepts; any other claim passes unread."""

    sub: Annotated[str, msgspec.Meta(pattern=SUBJECT_PATTERN)]
    role: Role
    exp: int
    iat: int | None = None
    nbf: int | None = None


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


def secret_too_short(secret: str) -> str | None:
    """Why ``secret`` is too short to sign tokens with, or None when it is long enough."""
    size = len(secret.encode())
    if size >= MIN_SECRET_BYTES:
        return None
    return f"SELECTION_JWT_SECRET is {size} bytes long; a signing secret needs at least {MIN_SECRET_BYTES}"


def verified_token_class(capacity: int = 50_000, clock: Callable[[], float] = time.time) -> type[Token]:
    """A Token that checks claims as an identity provider issues them, and remembers tokens it has verified.

    Litestar's own ``Token.decode`` (2.25) allows no clock skew, requires ``iat``, and lets a
    float ``exp`` or an administrator's ``sub`` of any length through. Here PyJWT checks the
    signature and the times, each with ``LEEWAY_SECONDS``, and ``Claims`` the types; any failure
    is a 401.

    Verifying an HS256 signature costs as much as a large part of a selection, and a student's
    token is the same string on every request. A remembered token is only a string this process
    has already verified with the same secret; it is accepted until ``exp`` plus the leeway, as
    PyJWT would accept it, and refused (and forgotten) from then on. ``clock`` is that instant's
    clock; PyJWT reads the system's.
    """

    class VerifiedToken(Token):
        def __post_init__(self) -> None:
            """Nothing left to check: ``decode`` checked every claim, the times with the leeway
            that Token's own checks here would not allow."""

        @classmethod
        def decode(
            cls,
            encoded_token: str,
            secret: str,
            algorithm: str,
            audience: str | Sequence[str] | None = None,
            issuer: str | Sequence[str] | None = None,
            require_claims: Sequence[str] | None = None,
            verify_exp: bool = True,
            verify_nbf: bool = True,
            strict_audience: bool = False,
        ) -> VerifiedToken:
            hit = verified.get(encoded_token)
            if hit is not None:
                usable_until, token = hit
                if clock() < usable_until:
                    return token
                verified.pop(encoded_token, None)
                raise NotAuthorizedException("Token has expired")
            # The options JWTAuth was given, as Litestar's Token.decode passes them to PyJWT.
            options: JWTDecodeOptions = {
                "require": list(require_claims or ()),
                "verify_exp": verify_exp,
                "verify_nbf": verify_nbf,
                "verify_aud": bool(audience),
                "verify_iss": bool(issuer),
                "strict_aud": strict_audience,
            }
            try:
                payload = jwt.decode(
                    encoded_token,
                    secret,
                    algorithms=[algorithm],
                    options=options,  # type: ignore[arg-type]
                    audience=audience,
                    issuer=issuer,
                    leeway=LEEWAY_SECONDS,
                )
                claims = msgspec.convert(payload, Claims)
                token = cls(
                    exp=datetime.fromtimestamp(claims.exp, UTC),
                    sub=claims.sub,
                    iat=datetime.fromtimestamp(claims.iat if claims.iat is not None else clock(), UTC),
                    extras={"role": claims.role},
                )
            # A time beyond what a datetime holds (the year 9999) is as invalid as a wrong type.
            except (jwt.InvalidTokenError, msgspec.ValidationError, OverflowError, ValueError, OSError) as exc:
                raise NotAuthorizedException("Invalid token") from exc
            if len(verified) >= capacity:
                verified.clear()
            verified[encoded_token] = (claims.exp + LEEWAY_SECONDS, token)
            return token

    verified: dict[str, tuple[float, VerifiedToken]] = {}
    return VerifiedToken


def jwt_auth(secret: str, directory_of: Any, also_public: Sequence[str] = ()) -> JWTAuth[Principal, Token]:
    """Litestar's JWT middleware; ``directory_of(connection)`` gives the StudentDirectory.
    ``also_public``: more path patterns it leaves alone (the pages, which have sessions of their own)."""

    async def retrieve(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
        role: Role = token.extras["role"]
        if role == "admin":
            return Principal(token.sub, role)
        directory: StudentDirectory = directory_of(connection)
        return Principal(token.sub, role, await directory.get(token.sub))

    return JWTAuth[Principal, Token](
        retrieve_user_handler=retrieve,
        token_secret=secret,
        algorithm="HS256",
        require_claims=["exp", "sub", "role"],
        token_cls=verified_token_class(),
        exclude=[*PUBLIC_PATHS, *also_public],
        description=(
            "HS256 bearer token with `sub` (1 to 64 of [A-Za-z0-9_.-]), `role` (student or admin) and an integer "
            f"`exp`; `iat` and `nbf` optional; {LEEWAY_SECONDS} s of clock skew allowed on each time claim."
        ),
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
