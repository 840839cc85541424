"""Reconstruction and sparsity metrics for gestural-unit models (NumPy, masked).

Arrays are ``(time, channels)`` for kinematics and ``(gestures, time)`` for scores. Every
function takes an optional ``mask`` ``(time,)`` (``True`` = a real frame); masked-out frames
never enter a statistic. Hoyer sparseness (Hoyer 2004): ``(sqrt(n) - |v|_1/|v|_2)/(sqrt(n) - 1)``,
1 for a one-hot vector, 0 for a flat one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gesturekit.errors import DataError


def _pair(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise DataError(f"original {x.shape} and reconstruction {y.shape} differ in shape")
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != (x.shape[0],):
            raise DataError(f"mask of shape {m.shape} does not fit {x.shape[0]} frames")
        x, y = x[m], y[m]
    return x, y


def rmse(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None, per_channel: bool = False):
    """Root mean squared error (over all entries, or per channel)."""
    x, y = _pair(x, y, mask)
    e = np.sqrt(np.mean((x - y) ** 2, axis=0))
    return e if per_channel else float(np.sqrt(np.mean((x - y) ** 2)))


def l1(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None, per_channel: bool = False):
    """Mean absolute error (over all entries, or per channel)."""
    x, y = _pair(x, y, mask)
    e = np.mean(np.abs(x - y), axis=0)
    return e if per_channel else float(np.mean(np.abs(x - y)))


def channel_r(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Pearson r per channel (NaN for a channel that is constant in either array)."""
    x, y = _pair(x, y, mask)
    xc, yc = x - x.mean(0), y - y.mean(0)
    den = np.sqrt((xc**2).sum(0) * (yc**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(0) / np.where(den > 0, den, 1.0), np.nan)


def mean_channel_r(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean of :func:`channel_r` over the channels where it is defined."""
    r = channel_r(x, y, mask)
    return float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")


def explained_variance(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """``1 - sum((x - y - mean(x - y))^2) / sum((x - mean x)^2)`` over all channels (as sklearn, pooled)."""
    x, y = _pair(x, y, mask)
    res = x - y
    num = ((res - res.mean(0)) ** 2).sum()
    den = ((x - x.mean(0)) ** 2).sum()
    return float(1.0 - num / den) if den > 0 else float("nan")


def hoyer(v: np.ndarray, axis: int = -1, eps: float = 0.0) -> np.ndarray:
    """Hoyer sparseness along ``axis`` (1 = one non-zero, 0 = flat; NaN for an all-zero vector)."""
    v = np.abs(np.asarray(v, dtype=np.float64))
    n = v.shape[axis]
    if n < 2:
        raise DataError("Hoyer sparseness needs vectors of length >= 2")
    l1n = v.sum(axis) + eps
    l2n = np.sqrt((v**2).sum(axis)) + eps
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (np.sqrt(n) - l1n / l2n) / (np.sqrt(n) - 1)
    return np.where(l2n > 0, s, np.nan)


def sparseness_per_frame(H: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Hoyer sparseness over the gestures at each (unmasked) frame: ``(frames,)``."""
    H = np.asarray(H)
    if mask is not None:
        H = H[:, np.asarray(mask, dtype=bool)]
    return hoyer(H, axis=0)


def sparseness_per_gesture(H: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Hoyer sparseness of each gesture's scores over the (unmasked) frames: ``(gestures,)``."""
    H = np.asarray(H)
    if mask is not None:
        H = H[:, np.asarray(mask, dtype=bool)]
    return hoyer(H, axis=1)


def active_gestures(H: np.ndarray, mask: np.ndarray | None = None, rel_threshold: float = 0.05) -> np.ndarray:
    """Number of gestures per frame whose score exceeds ``rel_threshold`` x the largest score."""
    H = np.asarray(H, dtype=np.float64)
    if mask is not None:
        H = H[:, np.asarray(mask, dtype=bool)]
    thr = rel_threshold * (H.max() if H.size else 0.0)
    return (thr < H).sum(axis=0) if thr > 0 else np.zeros(H.shape[1], dtype=int)


def reconstruction_metrics(
    x: np.ndarray,
    y: np.ndarray,
    channels: list[str] | None = None,
    mm_scale: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every reconstruction figure for one utterance in data units (plus mm when ``mm_scale`` is given).

    ``mm_scale`` ``(channels,)`` converts data units to mm (e.g. the standard deviations that
    z-scored the data).
    """
    r = channel_r(x, y, mask)
    out: dict[str, Any] = {
        "frames": int(np.asarray(x).shape[0] if mask is None else np.asarray(mask, bool).sum()),
        "mean_channel_r": float(np.nanmean(r)) if np.isfinite(r).any() else float("nan"),
        "rmse": rmse(x, y, mask),
        "l1": l1(x, y, mask),
        "explained_variance": explained_variance(x, y, mask),
        "channel_r": {
            c: float(v) for c, v in zip(channels or [f"ch{i}" for i in range(len(r))], r, strict=True)
        },
    }
    if mm_scale is not None:
        s = np.asarray(mm_scale, dtype=np.float64)
        out["rmse_mm"] = rmse(np.asarray(x) * s, np.asarray(y) * s, mask)
        out["l1_mm"] = l1(np.asarray(x) * s, np.asarray(y) * s, mask)
    return out


def score_metrics(
    H: np.ndarray, mask: np.ndarray | None = None, rel_threshold: float = 0.05
) -> dict[str, float]:
    """Sparsity figures of scores ``(gestures, time)``: Hoyer per frame / per gesture, active gestures."""
    sc = sparseness_per_frame(H, mask)
    st = sparseness_per_gesture(H, mask)
    act = active_gestures(H, mask, rel_threshold)
    return {
        "hoyer_per_frame": float(np.nanmean(sc)) if np.isfinite(sc).any() else float("nan"),
        "hoyer_per_gesture": float(np.nanmean(st)) if np.isfinite(st).any() else float("nan"),
        "active_gestures_per_frame": float(np.mean(act)) if act.size else float("nan"),
    }


def summarise(per_file: list[dict[str, Any]]) -> dict[str, Any]:
    """Frame-weighted means of the per-file figures (``rmse`` pooled as a root mean square)."""
    if not per_file:
        raise DataError("no files to summarise")
    w = np.array([f["frames"] for f in per_file], dtype=np.float64)
    out: dict[str, Any] = {"files": len(per_file), "frames": int(w.sum())}
    keys = [k for k, v in per_file[0].items() if isinstance(v, float) and k != "frames"]
    for k in keys:
        vals = np.array([f[k] for f in per_file], dtype=np.float64)
        if k.startswith("rmse"):
            out[k] = float(np.sqrt(np.sum(w * vals**2) / w.sum()))
        else:
            ok = np.isfinite(vals)
            out[k] = float(np.sum(w[ok] * vals[ok]) / w[ok].sum()) if ok.any() else float("nan")
    return out
