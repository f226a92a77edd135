"""The drivers' failures, named once: what "a store did not answer" and "nothing was committed" mean.

Driver exceptions never reach a client: each boundary translates these into a domain error
(``unavailable``) or a retry, and every boundary uses these same tuples.
"""

from __future__ import annotations

import asyncpg
import redis.exceptions

#: PostgreSQL could not be reached (as opposed to a statement it refused, which is a fault).
POSTGRES_UNREACHABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)

#: PostgreSQL or Redis could not be reached.
UNREACHABLE: tuple[type[BaseException], ...] = (
    *POSTGRES_UNREACHABLE,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

#: A write to PostgreSQL failed or could not be sent: nothing of it is committed.
DATABASE_FAILURES: tuple[type[BaseException], ...] = (
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)
