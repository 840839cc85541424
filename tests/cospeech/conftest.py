"""Co-speech tests pack their corpora into one store cache of the session, never the user's."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _store_cache(tmp_path_factory):
    before = os.environ.get("GESTUREKIT_CACHE")
    os.environ["GESTUREKIT_CACHE"] = str(tmp_path_factory.mktemp("gesturekit-cache"))
    yield
    if before is None:
        os.environ.pop("GESTUREKIT_CACHE", None)
    else:
        os.environ["GESTUREKIT_CACHE"] = before
