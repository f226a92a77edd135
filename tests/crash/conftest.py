"""The crash tests' service launcher, for every module of this folder."""

from tests.crash.test_crash import launch

__all__ = ["launch"]
