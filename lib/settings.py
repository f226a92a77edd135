"""Settings read once from the ``SELECTION_*`` environment variables."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

_PREFIX = "SELECTION_"

#: ``SELECTION_*`` variables that are not settings but belong to the project's own tooling, so a
#: service started next to them does not refuse them. ``SELECTION_TEST_``: the test suite's
#: servers (``SELECTION_TEST_DATABASE_URL``, ``SELECTION_TEST_REDIS_URL``, read in tests/stores.py).
TOOLING_PREFIXES = (_PREFIX + "TEST_",)

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]

#: The contract keeps the first answer to an Idempotency-Key for at least this long.
IDEMPOTENCY_PROMISE_HOURS = 24.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The service's configuration; the contract's table (docs/API.md) is the source of truth for names and defaults."""

    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: str | None = None
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: AtLeastOne = 1
    rate_limit: AtLeastOne = 10
    #: Where the embedded servers keep their data when no URL is given.
    data_dir: Path = Path(".data")
    #: Connections per worker process; a group-commit writer needs few.
    pool_size: AtLeastOne = 8
    #: Redo-log entries older than this are committed by any process (their writer may be dead).
    recovery_after_seconds: Seconds = 3.0
    #: Prefix of every Redis key this service writes; lets test runs share one server.
    redis_namespace: str = ""
    #: How often each process checks that every round's gate state is loaded.
    gate_upkeep_seconds: Seconds = 0.5
    #: Log format: "json" for operators, "text" for a terminal.
    log_format: Literal["json", "text"] = "json"
    #: Every refusal of a select or a drop in the audit trail (outcome "refused"), written in the
    #: background: for settling "I clicked first". Off by default, as the contract asks.
    audit_refusals: bool = False
    #: Longest a group commit may take (a connection, the call, its answer); past it the batch is
    #: not acknowledged (503) and its changes wait in the redo log for recovery.
    commit_timeout_seconds: Seconds = 3.0
    #: Selections and drops one process takes at once, from before the gate decides until their
    #: commit ends (its group commit's queue is never longer); one more answers 503 at once.
    commit_queue_limit: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    #: Group commits failed (or timed out) in a row after which selections answer 503 without
    #: asking the gate, for ``breaker_cooldown_seconds``; then one batch tries PostgreSQL again.
    breaker_failures: Annotated[int, msgspec.Meta(ge=1)] = 3
    breaker_cooldown_seconds: Seconds = 2.0
    #: Longest a request waits for a pooled PostgreSQL connection.
    pool_acquire_timeout_seconds: Seconds = 2.0
    #: Longest one statement of a worker may run before it is given up (and the request answers 503).
    query_timeout_seconds: Seconds = 10.0
    #: After SIGTERM, how long a server worker may take to finish its requests and stop before it
    #: is killed (granian's workers_kill_timeout).
    shutdown_seconds: Annotated[int, msgspec.Meta(ge=1)] = 20
    #: How long an Idempotency-Key's first answer is kept; never less than the contract's 24 hours.
    idempotency_retention_hours: Annotated[float, msgspec.Meta(ge=IDEMPOTENCY_PROMISE_HOURS)] = 25.0
    #: How often a worker deletes the answers older than the retention (one worker at a time).
    idempotency_prune_seconds: Seconds = 600.0

    # --- the pages (selection/pages): sessions, sign-in, language, time ----------------------
    #: A page session unused this long is over; every request of it starts the count again.
    session_idle_minutes: AtLeastOne = 30
    #: Mark the session and CSRF cookies Secure: on whenever the pages are served over https.
    session_secure: bool = False
    #: The school's time zone, in which the pages show every instant (the API stays in UTC).
    timezone: str = "Asia/Shanghai"
    #: The development sign-in (/dev/sign-in): set by ``serve --dev`` alone, which refuses it otherwise.
    dev_sign_in: bool = False
    #: Single sign-on through OpenID Connect: the provider's issuer URL (discovery at
    #: ``<issuer>/.well-known/openid-configuration``); unset, the pages offer no SSO.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    #: Where the provider sends the browser back; unset, derived from the request (``/auth/callback``).
    oidc_redirect_url: str | None = None
    #: A claim whose value ``admin`` makes the user an administrator (and ``student`` a student).
    oidc_role_claim: str | None = None
    #: Comma-separated subjects (``sub``) who are administrators whatever their role claim says.
    oidc_admins: str = ""
    #: The claim holding a student's id in this service's student list.
    oidc_student_claim: str = "sub"
    #: Scopes asked of the provider, space-separated.
    oidc_scopes: str = "openid profile"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r} - at `$.timezone`") from exc
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("SELECTION_OIDC_CLIENT_ID is needed with SELECTION_OIDC_ISSUER - at `$.oidc_client_id`")

    @property
    def oidc_admin_subjects(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.oidc_admins.split(",") if s.strip())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read the environment (``os.environ`` by default); keyword overrides win.

        Refuses (SystemExit) a ``SELECTION_*`` variable that is no setting and a value a setting
        cannot take: a misspelt name or value must stop the start, not leave a default in place."""
        env = os.environ if environ is None else environ
        names = {_PREFIX + field.name.upper(): field.name for field in msgspec.structs.fields(cls)}
        _refuse_unknown(env, names)
        raw: dict[str, object] = {}
        for variable, name in names.items():
            value = env.get(variable)
            if value not in (None, ""):
                raw[name] = value
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_from_text)
        except msgspec.ValidationError as exc:
            where = re.search(r"\$\.(\w+)", str(exc))
            field = where.group(1) if where else None
            from_env = field is not None and field in raw and overrides.get(field) is None
            source = f" (from {_PREFIX}{field.upper()}={raw[field]!r})" if from_env and field else ""
            raise SystemExit(f"invalid configuration: {exc}{source}") from exc


def _refuse_unknown(env: Mapping[str, str], names: Mapping[str, str]) -> None:
    unknown = sorted(
        variable
        for variable in env
        if variable.startswith(_PREFIX) and variable not in names and not variable.startswith(TOOLING_PREFIXES)
    )
    if not unknown:
        return
    described = []
    for variable in unknown:
        close = difflib.get_close_matches(variable, names, n=1)
        described.append(f"{variable} (did you mean {close[0]}?)" if close else variable)
    raise SystemExit(
        f"invalid configuration: unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(described)}; "
        f"the settings are {', '.join(names)}"
    )


def _from_text(kind: type, value: object) -> object:
    """What msgspec does not read from a string by itself: paths."""
    if kind is Path and isinstance(value, str | PurePath):
        return Path(value)
    raise TypeError(f"cannot read a {kind.__name__} from a {type(value).__name__}")
