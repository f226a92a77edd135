"""A real OpenID Connect provider for the tests: panva's oidc-provider, run with Node.

Its package is pinned by tests/oidc/package-lock.json and installed (``npm ci``) on first use;
Node and npm come from Debian (``make test`` installs them when missing). A machine without Node
fails the sign-in tests: they are not skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.live import free_port

FOLDER = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "selection"
CLIENT_SECRET = "a-client-secret-for-the-tests-only"


@dataclass(frozen=True)
class Provider:
    issuer: str
    port: int

    def settings(self, redirect_url: str | None = None) -> dict[str, str]:
        """The service's SELECTION_OIDC_* variables for this provider."""
        values = {
            "SELECTION_OIDC_ISSUER": self.issuer,
            "SELECTION_OIDC_CLIENT_ID": CLIENT_ID,
            "SELECTION_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "SELECTION_OIDC_ROLE_CLAIM": "role",
        }
        if redirect_url:
            values["SELECTION_OIDC_REDIRECT_URL"] = redirect_url
        return values


def _node() -> str:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("the sign-in tests need Node.js and npm (`apt-get install nodejs npm`, or `make test`)")
    if not (FOLDER / "node_modules" / "oidc-provider").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FOLDER, check=True, capture_output=True)
    return node


@contextmanager
def running_provider(redirect_uri: str, port: int | None = None) -> Iterator[Provider]:
    """The provider on 127.0.0.1, its one client allowed to send users back to ``redirect_uri``."""
    node = _node()
    port = port or free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "OP_PORT": str(port),
        "OP_CLIENT_ID": CLIENT_ID,
        "OP_CLIENT_SECRET": CLIENT_SECRET,
        "OP_REDIRECT_URI": redirect_uri,
    }
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - open as long as the provider runs, closed below
    process = subprocess.Popen([node, "provider.mjs"], cwd=FOLDER, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        issuer = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"the provider exited: {log.read()}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the provider did not start"
            time.sleep(0.1)
        yield Provider(issuer, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The provider page's (first) form: where it posts, and its hidden fields."""
    form = re.search(r"<form[^>]*action=\"([^\"]+)\"[^>]*>(.*?)</form>", page.text, re.DOTALL)
    assert form, page.text
    fields = {
        name: unescape(value)
        for name, value in re.findall(
            r"<input[^>]*type=\"hidden\"[^>]*name=\"([^\"]+)\"[^>]*value=\"([^\"]*)\"", form[2]
        )
    }
    return urljoin(str(page.url), unescape(form[1])), fields


async def consent_as(authorization_url: str, login: str) -> str:
    """Go through the provider's own login and consent pages as ``login``; the URL it sends the
    browser back to (the service's callback, with the code and the state)."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as browser:
        page = await browser.get(authorization_url, follow_redirects=True)
        action, fields = _form(page)
        page = await browser.post(action, data={**fields, "login": login, "password": "any"}, follow_redirects=True)
        action, fields = _form(page)  # the consent page
        answer = await browser.post(action, data=fields)
        # Through the provider's own redirects; the first one off its host is back to the service.
        provider = urlsplit(authorization_url).netloc
        while answer.is_redirect:
            location = urljoin(str(answer.url), answer.headers["location"])
            if urlsplit(location).netloc != provider:
                return location
            answer = await browser.get(location)
        raise AssertionError(f"the provider did not send the browser back: {answer.status_code} {answer.text[:500]}")
