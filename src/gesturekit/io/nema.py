"""CMU "nema" EMA: 12 z-scored channels at 200 Hz, as ASCII ``.ema`` or NumPy ``.npy``.

Channel order ``td_x td_y tb_x tb_y tt_x tt_y li_x li_y ul_x ul_y ll_x ll_y`` (tongue dorsum,
blade, tip, lower incisor, upper lip, lower lip; x anterior, y vertical). The speaker's
``ema.stats`` (one "mean std" line per channel) undoes the z-scoring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.errors import FormatError
from gesturekit.records import EMARecording

NEMA_CHANNELS = [
    "td_x", "td_y", "tb_x", "tb_y", "tt_x", "tt_y",
    "li_x", "li_y", "ul_x", "ul_y", "ll_x", "ll_y",
]  # fmt: skip
NEMA_RATE_HZ = 200.0


def _is_numpy_file(path: Path, head: bytes) -> bool:
    return head.startswith(b"\x93NUMPY")


def read_nema_npy(path: str | Path, speaker: str | None = None) -> EMARecording:
    """Read a nema ``.npy`` array ``(T, 12)`` (never unpickles)."""
    path = Path(path)
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
    if data.shape[0] == 0:
        raise FormatError(path, "no frames")
    return EMARecording(
        data=data.astype(np.float32),
        rate_hz=NEMA_RATE_HZ,
        channels=list(NEMA_CHANNELS),
        units="z",
        path=path,
        format="nema-npy",
        speaker=speaker or _speaker_from_path(path),
        utterance=path.stem,
    )


def _speaker_from_path(path: Path) -> str | None:
    """``cin_us_<spk>/nema/x.ema`` -> ``<spk>``; ``mngu0_s1_0008`` -> ``mngu0``."""
    for parent in path.parents:
        if parent.name.startswith("cin_us_"):
            return parent.name[len("cin_us_") :]
    stem = path.stem
    return stem.split("_")[0] if "_" in stem else None


from gesturekit.io import EMAReader, register_ema_reader  # noqa: E402

register_ema_reader(EMAReader("nema-npy", (".npy",), _is_numpy_file, read_nema_npy))
