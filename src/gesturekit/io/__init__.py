"""Readers of the real on-disk formats. No torch, no models; clear errors name the file.

``read_ema(path)`` recognises the EMA format of a file (the registry: :mod:`gesturekit.io.ema`);
each format is a module here that registers its sniffer and reader when imported, which this
``__init__`` does for all of them. ``load_recordings`` / ``find_ema_files`` expand files and
folders (:mod:`gesturekit.io.corpus`).
"""

# Importing the format modules registers their readers.
from gesturekit.io import est as _est  # noqa: F401
from gesturekit.io import hprc as _hprc  # noqa: F401
from gesturekit.io import mocha as _mocha  # noqa: F401
from gesturekit.io import nema as _nema  # noqa: F401
from gesturekit.io import xrmb as _xrmb  # noqa: F401
from gesturekit.io.corpus import find_ema_files, load_recordings
from gesturekit.io.ema import EMA_READERS, EMAReader, detect_ema_format, read_ema, register_ema_reader

__all__ = [
    "EMA_READERS", "EMAReader", "detect_ema_format", "find_ema_files", "load_recordings", "read_ema",
    "register_ema_reader",
]  # fmt: skip
