"""Optional dependencies: which pip extra brings which package, and the one line that says so.

gesturekit's core needs none of them. ``fast`` (Numba) compiles the AE-CNMF kernels, ``pats``
(pandas, PyTables) writes PATS's pandas tables, ``render`` (imageio-ffmpeg) encodes MP4 videos;
``all`` brings every one. A feature that needs a missing package raises :class:`MissingExtraError`
when it is used, naming the extra to install; one with a slower fallback logs that line instead.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from gesturekit.errors import ConfigError

#: import name -> (pip extra, package name on PyPI)
EXTRAS: dict[str, tuple[str, str]] = {
    "numba": ("fast", "numba"),
    "pandas": ("pats", "pandas"),
    "tables": ("pats", "tables"),
    "imageio_ffmpeg": ("render", "imageio-ffmpeg"),
}

log = logging.getLogger("gesturekit")
_noted: set[str] = set()


class MissingExtraError(ConfigError, ImportError):
    """A feature was used whose optional package is not installed."""


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise one line naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra, package = EXTRAS[module]
        raise MissingExtraError(
            f"{feature} needs {package}, which is not installed: pip install gesturekit[{extra}]"
        ) from None


def note_missing(module: str, fallback: str) -> None:
    """Log once per process that ``module`` is missing, what runs instead and the extra to install."""
    if module not in _noted:
        _noted.add(module)
        extra, package = EXTRAS[module]
        log.info("%s is not installed, so %s (pip install gesturekit[%s])", package, fallback, extra)
