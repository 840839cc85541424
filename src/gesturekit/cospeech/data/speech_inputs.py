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
    need = min_samples(rate)
    if len(y) < need:
        y = np.pad(y, (0, need - len(y)))
    return _lm(y, rate)


def min_samples(rate: float) -> int:
    """Shorter recordings are zero-padded to this length: at least one STFT frame after resampling."""
    return int(np.ceil(512 * rate / SR)) + 1


def audio_at_frames(audio: Audio, n_frames: int, fps: float) -> np.ndarray:
    """Log-mel rows at the pose frames ``(n_frames, 64)`` (nearest 10 ms frame, clamped at the end)."""
    if audio.samples.size == 0 or not np.all(np.isfinite(audio.samples)):
        raise DataError("audio is empty or holds non-finite samples", path=audio.path)
    mel = log_mel_400(audio.samples, audio.rate_hz)
    return mel[np.clip(mel_rows(np.arange(n_frames), fps), 0, len(mel) - 1)]


def mel_rows(frames: np.ndarray, fps: float) -> np.ndarray:
    """The 100 fps log-mel row nearest to each pose frame's time (unclamped)."""
    return np.round(frames / fps * (SR / HOP)).astype(int)


def n_frames_for(audio: Audio, fps: float) -> int:
    return n_frames_for_samples(len(audio.samples), audio.rate_hz, fps)


def n_frames_for_samples(n: int, rate: float, fps: float) -> int:
    """Pose frames of a recording of ``n`` samples: only frames whose whole period is spoken."""
    return int(np.floor(n / float(rate) * fps))
