"""Bearer tokens for simulated students and the operator, minted like ``selection token``.

PyJWT alone, so that the locust process does not import the service's web stack.
"""

from __future__ import annotations

import time

import jwt


def mint(secret: str, sub: str, role: str = "student", ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "role": role, "iat": now, "exp": now + ttl_seconds}, secret, algorithm="HS256")
