"""The tokens a process remembers as verified are accepted exactly as long as PyJWT would accept them."""

from __future__ import annotations

import time

import jwt
import pytest
from litestar.exceptions import NotAuthorizedException

from selection.web.auth import LEEWAY_SECONDS, verified_token_class

SECRET = "unit-test-secret-long-enough-for-hs256"


def test_a_remembered_token_is_accepted_until_exp_plus_the_leeway() -> None:
    now = [time.time()]
    token_cls = verified_token_class(clock=lambda: now[0])
    exp = int(time.time()) + 60
    encoded = jwt.encode({"sub": "s1", "role": "student", "exp": exp}, SECRET, algorithm="HS256")
    forged = jwt.encode({"sub": "s1", "role": "student", "exp": exp}, "another-secret-long-enough-for-hs256")

    def decode(token: str = encoded) -> str:
        return token_cls.decode(token, SECRET, "HS256", require_claims=["exp", "sub", "role"]).sub

    assert decode() == "s1"
    now[0] = exp + LEEWAY_SECONDS - 0.5
    assert decode() == "s1"
    with pytest.raises(NotAuthorizedException):
        decode(forged)
    now[0] = exp + LEEWAY_SECONDS
    with pytest.raises(NotAuthorizedException, match="expired"):
        decode()
