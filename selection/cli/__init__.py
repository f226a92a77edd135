"""The ``selection`` command line: serve, migrate, token, demo, rebuild, check."""

from selection.cli.main import main

__all__ = ["main"]
