"""A voice-activity mask per pose frame, like PATS's ``audio/silence``.

PATS's recipe: 16 kHz audio cut into pose-frame spans (16000 / fps samples each, span ``i``
covering samples ``[round(i * 16000 / fps), round((i + 1) * 16000 / fps))``), each span into
10 ms frames (160 samples; a remainder shorter than 10 ms is ignored); WebRTC VAD in mode 3
labels every 10 ms frame; a span is *silent* (1) when at most half of its frames are speech.

``method="webrtc"`` uses the ``webrtcvad`` module (PyPI ``webrtcvad-wheels``), the detector PATS
used. ``method="energy"`` is a documented fallback with no extra dependency: a 10 ms frame is
speech when its RMS level is within 35 dB of the recording's 95th-percentile frame level and above
-55 dBFS. ``method="auto"`` takes webrtc when importable.
"""

from __future__ import annotations

import numpy as np

from gesturekit.errors import ConfigError
from gesturekit.features.audio import SAMPLE_RATE, _check, resample

VAD_FRAME = 160  # 10 ms at 16 kHz


def have_webrtcvad() -> bool:
    try:
        import webrtcvad  # noqa: F401
    except ImportError:
        return False
    return True


def speech_frames(y16k: np.ndarray, method: str = "auto", mode: int = 3) -> np.ndarray:
    """Speech flags of every whole 10 ms frame of 16 kHz audio: bool ``(len // 160,)``."""
    n = len(y16k) // VAD_FRAME
    frames = y16k[: n * VAD_FRAME].reshape(n, VAD_FRAME)
    if method == "auto":
        method = "webrtc" if have_webrtcvad() else "energy"
    if method == "webrtc":
        try:
            import webrtcvad
        except ImportError:
            raise ConfigError(
                "the webrtc VAD needs the package webrtcvad-wheels (pip install webrtcvad-wheels)"
            ) from None
        vad = webrtcvad.Vad(int(mode))
        pcm = (np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2")
        return np.fromiter((vad.is_speech(f.tobytes(), SAMPLE_RATE) for f in pcm), dtype=bool, count=n)
    if method == "energy":
        rms_db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        ref = np.percentile(rms_db, 95) if n else 0.0
        return (rms_db > ref - 35.0) & (rms_db > -55.0)
    raise ConfigError(f"unknown VAD method {method!r} (webrtc, energy or auto)")


def silence_mask(
    y: np.ndarray, sr: int, fps: float = 15.0, n_frames: int | None = None, method: str = "auto"
) -> np.ndarray:
    """``(n_frames,)`` float32, 1 where the pose frame is silent (default ``floor(duration * fps)``)."""
    y16 = resample(_check(y), sr)
    span = SAMPLE_RATE / fps
    if n_frames is None:
        n_frames = int(len(y16) / span + 1e-9)
    bounds = np.round(np.arange(n_frames + 1) * span).astype(np.int64)
    # PATS cuts each span into 10 ms frames on its own (not on a global 10 ms grid)
    starts, ends = bounds[:-1], np.minimum(bounds[1:], len(y16))
    n_sub = np.maximum((ends - starts) // VAD_FRAME, 0)
    counts = np.zeros(n_frames, dtype=np.int64)
    speech_sub = _span_speech(y16, starts, n_sub, method)
    np.add.at(counts, np.repeat(np.arange(n_frames), n_sub), speech_sub)
    silent = counts * 2 <= n_sub
    return silent.astype(np.float32)


def _span_speech(y16: np.ndarray, starts: np.ndarray, n_sub: np.ndarray, method: str) -> np.ndarray:
    """Speech flags of the 10 ms frames cut from each span start (all spans concatenated)."""
    total = int(n_sub.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts, n_sub) + VAD_FRAME * (
        np.arange(total) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)
    )
    idx = offs[:, None] + np.arange(VAD_FRAME)[None, :]
    frames = y16[idx].reshape(-1)
    return speech_frames(frames, method).astype(np.int64)
