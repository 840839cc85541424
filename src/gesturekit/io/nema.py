"""CMU "nema" EMA: 12 z-scored channels at 200 Hz, as ASCII ``.ema`` or NumPy ``.npy``.

Channel order ``td_x td_y tb_x tb_y tt_x tt_y li_x li_y ul_x ul_y ll_x ll_y`` (tongue dorsum,
blade, tip, lower incisor, upper lip, lower lip; x anterior, y vertical). The speaker's
``ema.stats`` (one "mean std" line per channel, in the speaker folder ``cin_us_<spk>/`` or
beside the file) undoes the z-scoring: it is kept as ``recording.ema_stats`` and
``recording.destandardized()`` returns the data in mm. The text form has exactly 12 numbers a
line and no header, which tells it apart from MOCHA's 22-column ASCII ``.ema`` and EST tracks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.errors import FormatError
from gesturekit.io._text import first_data_line, parse_table, read_text
from gesturekit.io.finish import ReadOptions, reader
from gesturekit.records import EMARecording

NEMA_CHANNELS = [
    "td_x", "td_y", "tb_x", "tb_y", "tt_x", "tt_y",
    "li_x", "li_y", "ul_x", "ul_y", "ll_x", "ll_y",
]  # fmt: skip
NEMA_RATE_HZ = 200.0


def _is_numpy_file(path: Path, head: bytes) -> bool:
    return head.startswith(b"\x93NUMPY")


def _is_nema_text(path: Path, head: bytes) -> bool:
    if head.startswith(b"EST_File") or b"\x00" in head:
        return False
    try:
        toks = first_data_line(head.decode("latin-1"))
    except UnicodeDecodeError:
        return False
    return len(toks) == len(NEMA_CHANNELS) and _all_numbers(toks)


def _all_numbers(toks: list[str]) -> bool:
    try:
        [float(t) for t in toks]
    except ValueError:
        return False
    return True


def read_ema_stats(path: str | Path, n_channels: int = len(NEMA_CHANNELS)) -> np.ndarray:
    """A speaker's ``ema.stats``: ``(channels, 2)`` float64 of (mean, std)."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "ema.stats not found")
    stats = parse_table(path, read_text(path, "ema.stats"), 2, what="ema.stats")
    if stats.shape[0] != n_channels:
        raise FormatError(path, f"ema.stats has {stats.shape[0]} 'mean std' lines, expected {n_channels}")
    if not np.all(np.isfinite(stats)) or np.any(stats[:, 1] <= 0):
        raise FormatError(path, "ema.stats holds a non-finite mean or a non-positive std")
    return stats


def find_ema_stats(path: Path) -> Path | None:
    """``ema.stats`` in the speaker folder (``cin_us_<spk>/``, above ``nema/``) or beside the file."""
    for folder in (path.parent, path.parent.parent):
        cand = folder / "ema.stats"
        if cand.is_file():
            return cand
    return None


def _speaker_from_path(path: Path) -> str | None:
    """``cin_us_<spk>/nema/x.ema`` -> ``<spk>``; ``mngu0_s1_0008`` -> ``mngu0``."""
    for parent in path.parents:
        if parent.name.startswith("cin_us_"):
            return parent.name[len("cin_us_") :]
    stem = path.stem
    return stem.split("_")[0] if "_" in stem else None


def _record(path: Path, data: np.ndarray, fmt: str, opts: ReadOptions) -> EMARecording:
    if data.shape[0] == 0:
        raise FormatError(path, "no frames")
    stats_path = Path(opts.stats) if opts.stats is not None else find_ema_stats(path)
    stats = None
    if stats_path is not None:
        arr = read_ema_stats(stats_path)
        stats = {c: (float(m), float(s)) for c, (m, s) in zip(NEMA_CHANNELS, arr, strict=True)}
    return EMARecording(
        data=data.astype(np.float32),
        rate_hz=NEMA_RATE_HZ,
        channels=list(NEMA_CHANNELS),
        units="z",
        path=path,
        format=fmt,
        speaker=_speaker_from_path(path),
        utterance=path.stem,
        ema_stats=stats,
    )


def _parse_npy(path: Path, opts: ReadOptions) -> EMARecording:
    try:
        data = np.load(path, allow_pickle=False, mmap_mode=None)
    except ValueError as exc:
        raise FormatError(path, f"not a plain numeric .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise FormatError(path, f"unreadable or truncated .npy file ({exc})") from None
    if data.ndim != 2 or data.shape[1] != len(NEMA_CHANNELS):
        raise FormatError(path, f"nema arrays are (frames, 12); this one is {data.shape}")
    if not np.issubdtype(data.dtype, np.number):
        raise FormatError(path, f"nema arrays are numeric; this one is {data.dtype}")
    return _record(path, data, "nema-npy", opts)


def _parse_text(path: Path, opts: ReadOptions) -> EMARecording:
    data = parse_table(path, read_text(path, "nema .ema file"), len(NEMA_CHANNELS), what="nema .ema file")
    return _record(path, data, "nema-text", opts)


read_nema_npy = reader(_parse_npy)
read_nema_npy.__doc__ = "Read a nema ``.npy`` array ``(T, 12)`` (never unpickles); options: see io.finish."
read_nema_text = reader(_parse_text)
read_nema_text.__doc__ = "Read a CMU nema ASCII ``.ema`` file (12 numbers a line); options: see io.finish."


from gesturekit.io.ema import EMAReader, register_ema_reader  # noqa: E402

register_ema_reader(EMAReader("nema-npy", (".npy",), _is_numpy_file, read_nema_npy))
register_ema_reader(EMAReader("nema-text", (".ema",), _is_nema_text, read_nema_text))
