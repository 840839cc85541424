"""Log-mel spectrograms exactly as PATS stores them, in NumPy (no librosa at run time).

PATS's recipes (``../shared/specs/cospeech.md``), written with librosa's conventions:

- :func:`log_mel_400` -> ``(frames, 64)``: 16 kHz; STFT magnitude (power 1), ``n_fft`` 512,
  ``win_length`` 400 (a periodic Hann window zero-padded to 512, centred), hop 160,
  ``center=False``; 64 Slaney-scale mel bands from 125 to 7500 Hz with ``norm=None``; zeros
  replaced by 1e-6; natural log. ``1 + (n - 512) // 160`` frames, 100 per second.
- :func:`log_mel_512` -> ``(frames, 128)``: librosa's ``melspectrogram`` defaults: power 2,
  128 Slaney mel bands from 0 to Nyquist with Slaney area normalisation, ``n_fft`` 2048, hop
  512, Hann window of 2048, ``center=True`` with reflect padding (librosa < 0.10, the version
  PATS was extracted with); zeros replaced by 1e-10; natural log. 16 kHz here (31.25 frames/s).

Why NumPy: the recipes are a framed FFT and a fixed matrix; librosa would add numba/llvmlite to
every install. The test suite checks these functions against librosa itself (a dev dependency)
to 1e-4. Resampling to 16 kHz uses ``scipy.signal.resample_poly`` (librosa's default soxr
resampler differs from it by far less than the spectrogram's own variance).
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

from gesturekit.errors import DataError

SAMPLE_RATE = 16000
LOG_MEL_400_FPS = SAMPLE_RATE / 160
LOG_MEL_512_FPS = SAMPLE_RATE / 512


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp
    )


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, slaney_norm: bool) -> np.ndarray:
    """``(n_mels, 1 + n_fft // 2)`` triangular filters on the Slaney mel scale (librosa's layout)."""
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if slaney_norm:
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def _hann(win_length: int, n_fft: int) -> np.ndarray:
    n = np.arange(win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)  # periodic ("fftbins") Hann
    left = (n_fft - win_length) // 2
    out = np.zeros(n_fft)
    out[left : left + win_length] = w
    return out


def stft_magnitude(
    y: np.ndarray, n_fft: int, hop: int, win_length: int, *, center: bool, pad_mode: str = "reflect"
) -> np.ndarray:
    """``(frames, 1 + n_fft // 2)`` |STFT| of a mono signal (frames along the first axis)."""
    y = np.asarray(y, dtype=np.float32)
    if center:
        y = np.pad(y, n_fft // 2, mode=pad_mode)
    if len(y) < n_fft:
        raise DataError(f"audio of {len(y)} samples is shorter than one analysis window ({n_fft})")
    return frame_magnitude(np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop], win_length)


def frame_magnitude(frames: np.ndarray, win_length: int) -> np.ndarray:
    """``(frames, n_fft)`` float32 analysis frames -> ``(frames, 1 + n_fft // 2)`` |FFT| after the
    centred periodic Hann window; each row alone, so a stream can compute any subset of frames."""
    spec = np.fft.rfft(frames * _hann(win_length, frames.shape[1]).astype(np.float32), axis=1)
    return np.abs(spec).astype(np.float32)


def resample(y: np.ndarray, sr: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of a mono signal to ``target`` Hz (identity when equal)."""
    y = np.asarray(y, dtype=np.float32)
    if int(sr) == int(target):
        return y
    from scipy.signal import resample_poly

    g = gcd(int(sr), int(target))
    return resample_poly(y, target // g, int(sr) // g).astype(np.float32)


def _check(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise DataError(f"audio must be mono (samples,), got shape {y.shape}")
    if y.size == 0:
        raise DataError("audio has no samples")
    if not np.all(np.isfinite(y)):
        raise DataError(f"audio has {int((~np.isfinite(y)).sum())} non-finite samples")
    return y


def log_mel_400(y: np.ndarray, sr: int) -> np.ndarray:
    """PATS ``audio/log_mel_400``: ``(frames, 64)`` float32 at 100 frames/s (see module doc)."""
    y = resample(_check(y), sr)
    return log_mel_400_rows(stft_magnitude(y, 512, 160, 400, center=False))


def log_mel_400_rows(mag: np.ndarray) -> np.ndarray:
    """``(frames, 257)`` magnitudes (:func:`frame_magnitude` of 512-sample frames, window 400) ->
    the ``log_mel_400`` rows ``(frames, 64)``; row by row, as
    :mod:`gesturekit.cospeech.inference.streaming` needs."""
    mel = mag @ mel_filterbank(SAMPLE_RATE, 512, 64, 125.0, 7500.0, False).T
    mel[mel == 0] = 1e-6
    return np.log(mel).astype(np.float32)


def log_mel_512(y: np.ndarray, sr: int) -> np.ndarray:
    """PATS ``audio/log_mel_512``: ``(frames, 128)`` float32 at 31.25 frames/s (see module doc)."""
    y = resample(_check(y), sr)
    mag = stft_magnitude(y, 2048, 512, 2048, center=True, pad_mode="reflect")
    mel = (mag * mag) @ mel_filterbank(SAMPLE_RATE, 2048, 128, 0.0, SAMPLE_RATE / 2.0, True).T
    mel[mel == 0] = 1e-10
    return np.log(mel).astype(np.float32)
