"""Resampling kinematics between rates with an anti-aliasing polyphase filter, NaN-aware.

``resample(x, from_hz, to_hz)`` approximates ``to_hz / from_hz`` by a fraction ``up / down``
(denominator at most ``max_denominator``) and applies :func:`scipy.signal.resample_poly`
(a Kaiser-windowed FIR low-pass at the lower Nyquist rate) along time. NaN runs are bridged
linearly before filtering and put back afterwards wherever an output sample falls within one
input frame of a missing sample, so gaps are neither invented away nor smeared into NaN
everywhere. The rate actually reached is ``from_hz * up / down`` and is returned.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from gesturekit.errors import DataError
from gesturekit.records import EMARecording


def rational_ratio(from_hz: float, to_hz: float, max_denominator: int = 1000) -> tuple[int, int]:
    """``(up, down)`` with ``up / down`` close to ``to_hz / from_hz``."""
    if not (from_hz > 0 and to_hz > 0 and np.isfinite(from_hz) and np.isfinite(to_hz)):
        raise DataError(f"rates must be positive and finite, got {from_hz} -> {to_hz} Hz")
    frac = Fraction(to_hz / from_hz).limit_denominator(max_denominator)
    return frac.numerator, frac.denominator


def _bridge_nans(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaNs per channel (edges held); all-NaN channels become 0."""
    out = x.copy()
    t = np.arange(x.shape[0])
    for j in np.flatnonzero(np.isnan(x).any(axis=0)):  # only the channels that have gaps
        ok = ~np.isnan(x[:, j])
        out[:, j] = np.interp(t, t[ok], x[ok, j]) if ok.any() else 0.0
    return out


def resample(
    x: np.ndarray, from_hz: float, to_hz: float, *, max_denominator: int = 1000
) -> tuple[np.ndarray, float]:
    """Resample ``(time, channels)`` data from ``from_hz`` to about ``to_hz``.

    Returns ``(y, rate_hz)`` where ``rate_hz = from_hz * up / down`` is the exact new rate.
    """
    from scipy.signal import resample_poly

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"expected (time, channels) data, got shape {x.shape}")
    up, down = rational_ratio(from_hz, to_hz, max_denominator)
    rate = from_hz * up / down
    if up == down:
        return x.astype(np.float32), float(from_hz)
    if x.shape[0] < 2:
        raise DataError(f"cannot resample {x.shape[0]} frame(s)")
    x = np.where(np.isfinite(x), x, np.nan)
    missing = np.isnan(x)
    filled = _bridge_nans(x) if missing.any() else x
    y = resample_poly(filled, up, down, axis=0, padtype="line")
    if missing.any():
        # An output frame is missing when the input frames around its time are (within one frame).
        t_out = np.arange(y.shape[0]) * (down / up)
        t_in = np.arange(x.shape[0])
        for j in np.flatnonzero(missing.any(axis=0)):
            near = np.interp(t_out, t_in, missing[:, j].astype(np.float64)) > 0
            y[near, j] = np.nan
    return y.astype(np.float32), float(rate)


def resample_recording(rec: EMARecording, to_hz: float, *, max_denominator: int = 1000) -> EMARecording:
    """A copy of ``rec`` at about ``to_hz`` (labels and audio are in seconds and stay as they are).

    Per-frame side arrays in ``extra`` (e.g. MOCHA frame times) are dropped, since they no
    longer match the frames; the change is written to ``repairs``.
    """
    if abs(rec.rate_hz - to_hz) < 1e-9:
        return rec
    try:
        data, rate = resample(rec.data, rec.rate_hz, to_hz, max_denominator=max_denominator)
    except DataError as exc:
        raise DataError(exc.problem, rec.path) from None
    extra = {k: v for k, v in rec.extra.items() if not (np.ndim(v) >= 1 and len(v) == rec.frames)}
    repairs = [*rec.repairs, f"resampled from {rec.rate_hz:g} Hz to {rate:g} Hz"]
    return replace(rec, data=data, rate_hz=rate, extra=extra, repairs=repairs)
