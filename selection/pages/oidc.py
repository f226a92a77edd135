"""Sign-in through the school's OpenID Connect provider: authorization code with PKCE (S256).

authlib builds the protocol's messages (the authorization request, the token request, the PKCE
challenge); joserfc (authlib's JOSE library) verifies the ID token against the provider's keys.
Every step a browser can replay or forge is checked here: the ``state`` (one use, this session's),
the ``nonce`` in the ID token, the code verifier (the provider checks it), and the ID token's
issuer, audience, times and signature. A code used twice is refused by the provider itself.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from lib.settings import Settings
from selection.pages.sessions import PageRole

#: Clock skew allowed between the provider and this service on the ID token's times.
LEEWAY_SECONDS = 60
#: How long the provider's discovery document and keys are kept before they are read again.
METADATA_SECONDS = 3600.0
#: Signing algorithms accepted for an ID token (never "none", never a MAC with a guessable key).
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


class SignInFailed(Exception):
    """The sign-in did not succeed; ``reason`` names why for the log (the page tells the user less)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Pending(msgspec.Struct, frozen=True):
    """What the session keeps between the redirect to the provider and its answer."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    next: str = "/"


class Identity(msgspec.Struct, frozen=True):
    sub: str
    role: PageRole
    #: The student's id in this service (the configured claim); the subject for an administrator.
    student_id: str
    name: str


class Metadata(msgspec.Struct, frozen=True):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None


class OidcClient:
    """One provider, as the settings name it; the network is reached through ``http``."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        assert settings.oidc_issuer is not None
        assert settings.oidc_client_id is not None
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.redirect_url = settings.oidc_redirect_url
        self.scopes = settings.oidc_scopes
        self.role_claim = settings.oidc_role_claim
        self.admins = settings.oidc_admin_subjects
        self.student_claim = settings.oidc_student_claim
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False)
        self._metadata: tuple[float, Metadata, KeySet] | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    async def _provider(self, *, fresh: bool = False) -> tuple[Metadata, KeySet]:
        async with self._lock:
            if not fresh and self._metadata is not None and time.monotonic() - self._metadata[0] < METADATA_SECONDS:
                return self._metadata[1], self._metadata[2]
            try:
                found = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                found.raise_for_status()
                metadata = msgspec.convert(found.json(), Metadata)
                keys = await self._http.get(metadata.jwks_uri)
                keys.raise_for_status()
                key_set = KeySet.import_key_set(keys.json())
            except (httpx.HTTPError, ValueError, msgspec.ValidationError, JoseError) as exc:
                raise SignInFailed(f"provider discovery failed: {exc!r}") from exc
            if metadata.issuer.rstrip("/") != self.issuer:
                raise SignInFailed(f"the provider names itself {metadata.issuer!r}, not {self.issuer!r}")
            self._metadata = (time.monotonic(), metadata, key_set)
            return metadata, key_set

    async def begin(self, redirect_uri: str, next_path: str) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and what to keep until it comes back."""
        metadata, _ = await self._provider()
        pending = Pending(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            redirect_uri=self.redirect_url or redirect_uri,
            next=next_path,
        )
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=pending.redirect_uri,
            scope=self.scopes,
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier),
            code_challenge_method="S256",
        )
        return str(url), pending

    async def finish(self, pending: Pending, query: Mapping[str, str]) -> Identity:
        """The identity the provider vouches for, from its answer to ``pending``'s request."""
        if not secrets.compare_digest(query.get("state", ""), pending.state):
            raise SignInFailed("state does not match this session's sign-in")
        if "error" in query:
            raise SignInFailed(f"the provider answered {query['error']!r}")
        code = query.get("code")
        if not code:
            raise SignInFailed("no authorization code")
        metadata, keys = await self._provider()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.verifier,
            "client_id": self.client_id,
        }
        try:
            if self.client_secret:
                auth = httpx.BasicAuth(self.client_id, self.client_secret)
                answer = await self._http.post(metadata.token_endpoint, data=form, auth=auth)
            else:
                answer = await self._http.post(metadata.token_endpoint, data=form)
        except httpx.HTTPError as exc:
            raise SignInFailed(f"token request failed: {exc!r}") from exc
        if answer.status_code != 200:
            # A code used before, a wrong verifier, an expired code: the provider refuses them all.
            raise SignInFailed(f"token endpoint answered {answer.status_code}: {answer.text[:200]}")
        tokens: dict[str, Any] = answer.json()
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("no ID token")
        claims = await self._verified(id_token, keys, pending.nonce)
        access_token = tokens.get("access_token")
        if metadata.userinfo_endpoint and isinstance(access_token, str):
            claims = {**(await self._userinfo(metadata.userinfo_endpoint, access_token, claims["sub"])), **claims}
        return self._identity(claims)

    async def _verified(self, id_token: str, keys: KeySet, nonce: str) -> dict[str, Any]:
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except JoseError:
                # The provider may have rotated its keys since they were read.
                _, keys = await self._provider(fresh=True)
                token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"ID token refused: {exc!r}") from exc
        claims: dict[str, Any] = dict(token.claims)
        return claims

    async def _userinfo(self, endpoint: str, access_token: str, sub: str) -> dict[str, Any]:
        try:
            answer = await self._http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            answer.raise_for_status()
            info: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(f"userinfo failed: {exc!r}") from exc
        if info.get("sub") != sub:
            # OpenID Connect Core 5.3.2: a userinfo answer for another subject must not be used.
            raise SignInFailed("userinfo names another subject")
        return info

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        sub = str(claims["sub"])
        role: PageRole = "student"
        if sub in self.admins or (self.role_claim and claims.get(self.role_claim) == "admin"):
            role = "admin"
        student_id = claims.get(self.student_claim) if role == "student" else sub
        if not isinstance(student_id, str) or not student_id:
            raise SignInFailed(f"no {self.student_claim!r} claim for the student's id")
        name = claims.get("name")
        return Identity(
            sub=sub, role=role, student_id=student_id, name=name if isinstance(name, str) and name else student_id
        )
