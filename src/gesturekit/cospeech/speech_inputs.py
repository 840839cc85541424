"""Model inputs from a waveform and a word list: log-mel at pose rate and frame-aligned word vectors.

The log-mel is PATS's ``audio/log_mel_400`` (:func:`gesturekit.features.audio.log_mel_400`, 100
frames/s), taken at the pose frame times (nearest 10 ms frame). Word features
``"hash"``: a fixed pseudo-random unit vector per lower-cased word (no model needed; the
stand-in used until contextual embeddings are plugged in), zeros where no word is spoken.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from gesturekit.errors import DataError
from gesturekit.records import Audio, Segment

SR = 16000
HOP = 160


def log_mel_400(samples: np.ndarray, rate: int) -> np.ndarray:
    """``(n,)`` waveform -> ``(frames, 64)`` log-mel at 100 frames per second (PATS recipe)."""
    from gesturekit.features.audio import log_mel_400 as _lm

    y = np.asarray(samples, dtype=np.float32)
    need = int(np.ceil(512 * rate / SR)) + 1  # at least one STFT frame after resampling
    if len(y) < need:
        y = np.pad(y, (0, need - len(y)))
    return _lm(y, rate)


def audio_at_frames(audio: Audio, n_frames: int, fps: float) -> np.ndarray:
    """Log-mel rows at the pose frames ``(n_frames, 64)`` (nearest 10 ms frame, clamped at the end)."""
    if audio.samples.size == 0 or not np.all(np.isfinite(audio.samples)):
        raise DataError("audio is empty or holds non-finite samples", path=audio.path)
    mel = log_mel_400(audio.samples, audio.rate_hz)
    idx = np.clip(np.round(np.arange(n_frames) / fps * (SR / HOP)).astype(int), 0, len(mel) - 1)
    return mel[idx]


def hashed_word_vector(word: str, dim: int) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(word.strip().lower().encode("utf-8")))
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def words_at_frames(words: Sequence[Segment] | None, n_frames: int, fps: float, dim: int) -> np.ndarray:
    """``(n_frames, dim)``: the vector of the word spoken at each frame's centre, zeros elsewhere."""
    out = np.zeros((n_frames, dim), dtype=np.float32)
    if not words:
        return out
    centres = (np.arange(n_frames) + 0.5) / fps
    for w in words:
        label = w.label.strip()
        if not label or label.lower() in ("sil", "sp", "<p:>", "pau"):
            continue
        sel = (centres >= w.start) & (centres < w.end)
        if sel.any():
            out[sel] = hashed_word_vector(label, dim)
    return out


def n_frames_for(audio: Audio, fps: float) -> int:
    return int(np.floor(audio.duration * fps))
