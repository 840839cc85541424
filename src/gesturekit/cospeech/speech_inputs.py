"""Model inputs from a waveform and a word list: log-mel at pose rate and frame-aligned word vectors.

The log-mel is PATS's ``audio/log_mel_400`` (:func:`gesturekit.features.audio.log_mel_400`, 100
frames/s), taken at the pose frame times (nearest 10 ms frame). Word features:
the hashed word vectors of :mod:`gesturekit.features.words` (re-exported here).
"""

from __future__ import annotations

import numpy as np

from gesturekit.errors import DataError
from gesturekit.features.words import hashed_word_vector as hashed_word_vector  # re-exported
from gesturekit.features.words import words_at_frames as words_at_frames  # re-exported
from gesturekit.records import Audio

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


def n_frames_for(audio: Audio, fps: float) -> int:
    return int(np.floor(audio.duration * fps))
