"""The command line refuses a signing secret too short to keep tokens safe, before anything starts.

Each case runs ``python -m selection`` as an operator would. The stores point at a closed port:
a ``serve`` that went past its checks would fail there at once, not start a server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

REPO = Path(__file__).resolve().parents[2]
LONG_ENOUGH = "x" * 32


def selection(tmp_path: Path, *args: str, secret: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELECTION_")}
    env.update(
        SELECTION_DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        SELECTION_REDIS_URL="redis://127.0.0.1:1/0",
        SELECTION_DATA_DIR=str(tmp_path / "data"),
    )
    if secret is not None:
        env["SELECTION_JWT_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "selection", *args],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("secret", ["x" * 31, "é" * 15 + "x"])
def test_serve_refuses_a_secret_shorter_than_32_bytes(tmp_path: Path, secret: str) -> None:
    done = selection(tmp_path, "serve", secret=secret)
    assert done.returncode != 0
    assert f"SELECTION_JWT_SECRET is {len(secret.encode())} bytes long" in done.stderr, done.stderr
    assert "at least 32" in done.stderr
    assert "serving on" not in done.stderr
    assert not (tmp_path / "data").exists()


def test_serve_refuses_no_secret_without_dev(tmp_path: Path) -> None:
    done = selection(tmp_path, "serve", secret=None)
    assert done.returncode != 0
    assert "SELECTION_JWT_SECRET is not set" in done.stderr, done.stderr


def test_serve_dev_warns_of_a_short_secret_and_goes_on(tmp_path: Path) -> None:
    done = selection(tmp_path, "serve", "--dev", secret="short")
    assert "warning: SELECTION_JWT_SECRET is 5 bytes long" in done.stderr, done.stderr
    # It went past the secret, as far as the closed port of the database.
    assert done.returncode != 0
    assert "Error: SELECTION_JWT_SECRET" not in done.stderr


@pytest.mark.parametrize("secret", [None, "", "x" * 31])
def test_token_refuses_a_missing_or_short_secret(tmp_path: Path, secret: str | None) -> None:
    done = selection(tmp_path, "token", "--sub", "s1", "--role", "student", secret=secret)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "SELECTION_JWT_SECRET is" in done.stderr, done.stderr


@pytest.mark.parametrize("secret", [LONG_ENOUGH, "é" * 16])
def test_token_signs_with_a_secret_of_32_bytes(tmp_path: Path, secret: str) -> None:
    done = selection(tmp_path, "token", "--sub", "admin.ops-1", "--role", "admin", "--ttl", "60", secret=secret)
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == ("admin.ops-1", "admin", 60)


@pytest.mark.parametrize("sub", ["admin 1", "s" * 65, "a/b", ""])
def test_token_refuses_a_sub_the_service_would_refuse(tmp_path: Path, sub: str) -> None:
    done = selection(tmp_path, "token", "--sub", sub, "--role", "admin", secret=LONG_ENOUGH)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "--sub" in done.stderr, done.stderr
