"""Readers of the real on-disk formats. No torch, no models; clear errors name the file.

``read_ema(path)`` recognises the EMA format of a file and returns an
:class:`~gesturekit.records.EMARecording`; each format is a module here that registers a
sniffer and a reader in :data:`EMA_READERS`.
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


# Importing the format modules registers their readers.
from gesturekit.io import est as _est  # noqa: E402,F401
from gesturekit.io import hprc as _hprc  # noqa: E402,F401
from gesturekit.io import mocha as _mocha  # noqa: E402,F401
from gesturekit.io import nema as _nema  # noqa: E402,F401
from gesturekit.io import xrmb as _xrmb  # noqa: E402,F401


def find_ema_files(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (searched recursively) into the EMA files they hold, sorted.

    A folder file is kept when its suffix belongs to a registered format (hidden files and
    folders are skipped; in a CMU ``cin_us_<spk>/`` tree only ``nema/`` is read); a named file
    is kept as it is (its format is checked when it is read). A missing path is an error.
    """
    suffixes = {s for r in EMA_READERS.values() for s in r.suffixes}
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FormatError(p, "no such file or folder")
        if p.is_dir():
            from gesturekit.io.corpus import _cmu_speaker_dirs, open_corpus

            if _cmu_speaker_dirs(p):  # a CMU emadata tree: only nema/ holds EMA (lab/ may hold .npy)
                out.extend(item.path for item in open_corpus(p).items)
                continue
            found = sorted(
                q
                for q in p.rglob("*")
                if q.is_file()
                and q.suffix.lower() in suffixes
                and not any(part.startswith(".") for part in q.relative_to(p).parts)
            )
            if not found:
                raise FormatError(p, f"folder holds no EMA files ({', '.join(sorted(suffixes))})")
            out.extend(found)
        else:
            out.append(p)
    return out


def load_recordings(paths: list[str | Path], **kwargs) -> list[EMARecording]:
    """Read every EMA file named by ``paths`` (files or folders)."""
    return [read_ema(p, **kwargs) for p in find_ema_files(paths)]
