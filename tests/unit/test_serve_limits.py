"""The server raises its own open-file limit: at an opening every student holds a connection."""

from __future__ import annotations

import resource
import subprocess
import sys

from selection.cli.serve import CONNECTIONS_PER_WORKER


def _set_low_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


def test_a_low_soft_limit_is_raised_as_far_as_the_hard_limit_allows() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    probe = (
        "import resource; from selection.cli.serve import raise_open_file_limit;"
        "print(raise_open_file_limit(2), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], preexec_fn=_set_low_limit, capture_output=True, text=True, check=True
    )
    returned, soft = (int(x) for x in done.stdout.split())
    wanted = 2 * CONNECTIONS_PER_WORKER + 1024
    expected = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    assert returned == soft == max(1024, expected)
