"""The exceptions gesturekit raises for bad input.

Every error a user can cause (a malformed file, an unknown channel, a mismatched rate) is a
:class:`GesturekitError` whose message names the file and the problem; the CLI prints that one
line and exits non-zero, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class GesturekitError(Exception):
    """Base class for every error caused by the user's input or configuration."""


class FormatError(GesturekitError, ValueError):
    """A file is unreadable, truncated or not in the format it claims to be."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class DataError(GesturekitError, ValueError):
    """Data that was read but cannot be used as asked (NaNs, wrong shape, mismatched rates)."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class ConfigError(GesturekitError, ValueError):
    """An unknown option, a value of the wrong type, or a run folder that would be overwritten."""
