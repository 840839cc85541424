"""The EMA reader registry: ``read_ema(path)`` recognises the EMA format of a file and returns an
:class:`~gesturekit.records.EMARecording`.

Each format is a module of :mod:`gesturekit.io` (``est``, ``hprc``, ``mocha``, ``nema``, ``xrmb``)
that registers a sniffer and a reader in :data:`EMA_READERS` when it is imported; the package's
``__init__`` imports them all, so the registry is full before any ``gesturekit.io`` module is used.
This module imports none of them (no import circle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gesturekit.errors import FormatError
from gesturekit.records import EMARecording


@dataclass(frozen=True)
class EMAReader:
    """One EMA format: ``sniff(path, head_bytes) -> bool`` and ``read(path) -> EMARecording``."""

    name: str
    suffixes: tuple[str, ...]
    sniff: Callable[[Path, bytes], bool]
    read: Callable[..., EMARecording]


EMA_READERS: dict[str, EMAReader] = {}


def register_ema_reader(reader: EMAReader) -> None:
    EMA_READERS[reader.name] = reader


def detect_ema_format(path: str | Path) -> str:
    """The name of the EMA format of ``path``, from its suffix and first bytes."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "file not found")
    if path.is_dir():
        raise FormatError(path, "is a folder, not an EMA file")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head:
        raise FormatError(path, "file is empty")
    for reader in EMA_READERS.values():
        if path.suffix.lower() in reader.suffixes and reader.sniff(path, head):
            return reader.name
    known = sorted({s for r in EMA_READERS.values() for s in r.suffixes})
    if path.suffix.lower() not in known:
        raise FormatError(path, f"not a recognised EMA format (known suffixes: {', '.join(known)})")
    raise FormatError(path, _why_unrecognised(head))


def _why_unrecognised(head: bytes) -> str:
    """A readable reason a file with an EMA suffix matched no format."""
    if b"\x00" in head[:512]:
        return f"unknown binary header {head[:16]!r} (expected EST_File Track, a .npy or a MATLAB file)"
    first = next((ln.split() for ln in head.decode("latin-1").splitlines() if ln.strip()), [])
    try:
        [float(t) for t in first]
    except ValueError:
        return f"unknown header {' '.join(first)[:60]!r} (EST tracks start with 'EST_File Track')"
    return (
        f"text EMA with {len(first)} columns on its first line: nema text has 12, "
        "MOCHA ASCII 22 (time, flag, 20 coils), XRMB .txy 17"
    )


def read_ema(path: str | Path, format: str | None = None, **kwargs) -> EMARecording:
    """Read one EMA file of any supported format (detected unless ``format`` is given)."""
    path = Path(path)
    name = format or detect_ema_format(path)
    if name not in EMA_READERS:
        raise FormatError(path, f"unknown format '{name}'; known: {sorted(EMA_READERS)}")
    return EMA_READERS[name].read(path, **kwargs)
