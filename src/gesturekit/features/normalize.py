"""Invertible per-channel normalisation of kinematics, with statistics that travel with a model.

``Normalizer("zscore").fit(arrays)`` learns per-channel statistics from ``(time, channels)``
arrays (NaNs ignored); ``transform`` / ``inverse_transform`` apply and undo them. With
``nonneg_split=True`` each channel ``c`` becomes two non-negative channels ``c+`` and ``c-``
(``max(x, 0)`` and ``max(-x, 0)``), which true NMF needs; the inverse subtracts them again.
``to_dict`` / ``from_dict`` give a JSON form stored beside model weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gesturekit.errors import DataError

Method = Literal["none", "zscore", "minmax"]


@dataclass
class Normalizer:
    """Per-channel ``none`` | ``zscore`` | ``minmax`` scaling, optionally followed by a ± split."""

    method: Method = "zscore"
    nonneg_split: bool = False
    shift: np.ndarray | None = field(default=None, repr=False)  # subtracted first
    scale: np.ndarray | None = field(default=None, repr=False)  # then divided by
    channels: list[str] | None = None

    def fit(self, arrays: np.ndarray | Sequence[np.ndarray], channels: list[str] | None = None) -> Normalizer:
        arrays = [arrays] if isinstance(arrays, np.ndarray) else list(arrays)
        if not arrays:
            raise DataError("cannot fit a normaliser on no data")
        widths = {a.shape[1] for a in arrays}
        if len(widths) != 1:
            raise DataError(f"arrays have different channel counts {sorted(widths)}")
        allx = np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays], axis=0)
        n = allx.shape[1]
        empty = np.flatnonzero(~np.isfinite(allx).any(axis=0)).tolist()
        if empty:
            raise DataError(f"channels {empty} have no finite samples to fit a normaliser on")
        if self.method == "none":
            shift, scale = np.zeros(n), np.ones(n)
        elif self.method == "zscore":
            shift, scale = np.nanmean(allx, axis=0), np.nanstd(allx, axis=0)
        elif self.method == "minmax":
            lo, hi = np.nanmin(allx, axis=0), np.nanmax(allx, axis=0)
            shift, scale = lo, hi - lo
        else:
            raise DataError(f"unknown normalisation '{self.method}'; use none, zscore or minmax")
        scale = np.where(scale > 1e-12, scale, 1.0)  # constant channels stay put
        self.shift, self.scale = shift.astype(np.float64), scale.astype(np.float64)
        self.channels = list(channels) if channels is not None else self.channels
        return self

    @classmethod
    def zscore_from_sums(cls, count: float, total: np.ndarray, total_sq: np.ndarray) -> Normalizer:
        """A fitted ``zscore`` normaliser from a frame count and per-channel sums and sums of squares
        (float64, accumulated over chunks of a corpus too large to hold at once)."""
        if count <= 0:
            raise DataError("cannot fit a normaliser on no data")
        shift = np.asarray(total, np.float64) / count
        var = np.maximum(np.asarray(total_sq, np.float64) / count - shift**2, 0.0)
        scale = np.sqrt(var)
        return cls("zscore", shift=shift, scale=np.where(scale > 1e-12, scale, 1.0))

    @property
    def fitted(self) -> bool:
        return self.shift is not None

    @property
    def n_in(self) -> int:
        self._check()
        return len(self.shift)

    @property
    def n_out(self) -> int:
        return self.n_in * (2 if self.nonneg_split else 1)

    def output_channels(self) -> list[str]:
        names = self.channels or [f"ch{i}" for i in range(self.n_in)]
        return [f"{c}{s}" for c in names for s in ("+", "-")] if self.nonneg_split else list(names)

    def _check(self) -> None:
        if self.shift is None or self.scale is None:
            raise DataError("normaliser used before fit()")

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(time, channels)`` -> ``(time, channels)`` or ``(time, 2*channels)`` with the split."""
        self._check()
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise DataError(f"expected (time, {self.n_in}) data, got shape {x.shape}")
        y = ((x - self.shift) / self.scale).astype(np.float32)
        if self.nonneg_split:
            out = np.empty((y.shape[0], 2 * y.shape[1]), dtype=np.float32)
            out[:, 0::2] = np.maximum(y, 0)
            out[:, 1::2] = np.maximum(-y, 0)
            return out
        return y

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform` (the split is merged back as ``plus - minus``)."""
        self._check()
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 2 or y.shape[1] != self.n_out:
            raise DataError(f"expected (time, {self.n_out}) normalised data, got shape {y.shape}")
        if self.nonneg_split:
            y = y[:, 0::2] - y[:, 1::2]
        return (y * self.scale + self.shift).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        self._check()
        return {
            "method": self.method,
            "nonneg_split": self.nonneg_split,
            "shift": self.shift.tolist(),
            "scale": self.scale.tolist(),
            "channels": self.channels,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        return cls(
            method=d["method"],
            nonneg_split=bool(d.get("nonneg_split", False)),
            shift=np.asarray(d["shift"], dtype=np.float64),
            scale=np.asarray(d["scale"], dtype=np.float64),
            channels=d.get("channels"),
        )
