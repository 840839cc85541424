"""Audio files: WAV/FLAC/OGG through soundfile, mono float32, with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.errors import FormatError
from gesturekit.records import Audio


def read_audio(path: str | Path, *, mono: bool = True, check_finite: bool = True) -> Audio:
    """Read an audio file as float32 in [-1, 1]; multi-channel audio is averaged to mono."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise FormatError(path, "audio file not found")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError
        raise FormatError(path, f"unreadable audio file ({exc})") from None
    if samples.shape[0] == 0:
        raise FormatError(path, "audio file has no samples")
    if mono:
        samples = samples.mean(axis=1)
    if check_finite and not np.all(np.isfinite(samples)):
        n = int((~np.isfinite(samples)).sum())
        raise FormatError(path, f"audio has {n} non-finite (NaN or infinite) samples")
    return Audio(samples=samples, rate_hz=int(rate), path=path)


def write_audio(path: str | Path, audio: Audio) -> None:
    import soundfile as sf

    from gesturekit.fsutil import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio.samples, audio.rate_hz, format="WAV")
