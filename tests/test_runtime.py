"""Runtime helpers: gesturekit's log lines follow ``sys.stderr`` when it is swapped."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from gesturekit.runtime import setup_logging


def test_log_lines_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging(0)
    first.close()  # what a test runner or notebook does to the stream it handed out
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("gesturekit.some.module").info("dev L1 %.2f", 0.5)
    assert second.getvalue() == "dev L1 0.50\n"


def test_quiet_logging_drops_info_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    setup_logging(-1)
    try:
        logging.getLogger("gesturekit").info("hidden")
        logging.getLogger("gesturekit").warning("shown")
    finally:
        setup_logging(0)  # later tests expect info lines
    assert out.getvalue() == "shown\n"
