"""``UnitModel``: a fitted gestural-unit model of any method, loaded from its run folder.

A run folder ``RUN_DIR`` holds ``config.yaml`` (the resolved config), ``model.safetensors`` +
``model.json`` (written by :func:`gesturekit.checkpoint.save_checkpoint`), ``metrics.json``,
``split.json`` and ``figures/*.png``. The checkpoint's meta is::

    {"method": "cnmf" | "ae" | "vae", "channels": [input channel names], "rate_hz": float,
     "normalizer": Normalizer.to_dict(), "hparams": {...}}

and its tensors hold at least ``"gestures"`` ``(normalised channels, gestures, width)``.
``UnitModel.load(RUN_DIR)`` reads the meta and hands the tensors to the class registered for
its method (:func:`register_unit_model`); each method module registers itself on import (the
modules are listed in :data:`gesturekit.units.methods.METHOD_MODULES`).
``UnitModel.from_pretrained(DIR)`` first checks a self-describing model folder (``config.json``
and the ``README.md`` model card too, see :mod:`gesturekit.model_card`).

``encode(x)`` takes an :class:`~gesturekit.records.EMARecording` or an array ``(time, channels)``
in the data's own units and returns scores ``(gestures, time)``; ``decode(scores)`` returns
``(time, channels)`` in data units. Normalisation is applied and undone inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from gesturekit.checkpoint import load_checkpoint, save_checkpoint
from gesturekit.errors import ConfigError, DataError, FormatError
from gesturekit.features.normalize import Normalizer
from gesturekit.records import EMARecording
from gesturekit.units import ops

UNIT_MODELS: dict[str, type[UnitModel]] = {}


def register_unit_model(name: str, cls: type[UnitModel]) -> type[UnitModel]:
    """Make ``UnitModel.load`` build ``cls`` for run folders whose meta says ``method == name``."""
    UNIT_MODELS[name] = cls
    return cls


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "model"


class UnitModel:
    """Base class: gestures, the normaliser and the conv decoder; subclasses supply the encoder.

    Subclasses set ``method``, implement :meth:`encode_normalised` and may override
    :meth:`decode_normalised`, :meth:`tensors` and :meth:`from_checkpoint`.
    """

    method: ClassVar[str] = "base"

    def __init__(
        self,
        gestures: np.ndarray,
        normalizer: Normalizer,
        channels: list[str],
        rate_hz: float,
        hparams: dict[str, Any] | None = None,
        extra_tensors: dict[str, np.ndarray] | None = None,
    ) -> None:
        gestures = np.asarray(gestures, dtype=np.float32)
        if gestures.ndim != 3:
            raise DataError(f"gestures must be (channels, gestures, width), got shape {gestures.shape}")
        self.gestures = gestures
        self.normalizer = normalizer
        self.channels = list(channels)
        self.rate_hz = float(rate_hz)
        self.hparams = dict(hparams or {})
        self.extra_tensors = dict(extra_tensors or {})
        self.run_dir: Path | None = None

    # ---------------------------------------------------------------- shape facts
    @property
    def n_gestures(self) -> int:
        return int(self.gestures.shape[1])

    @property
    def width(self) -> int:
        return int(self.gestures.shape[2])

    @property
    def centred(self) -> bool:
        return bool(self.hparams.get("centred", True))

    @property
    def offset(self) -> int:
        return ops.kernel_offset(self.width, self.centred)

    # ---------------------------------------------------------------- persistence
    def tensors(self) -> dict[str, np.ndarray]:
        return {"gestures": self.gestures, **self.extra_tensors}

    def meta(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "channels": self.channels,
            "rate_hz": self.rate_hz,
            "normalizer": self.normalizer.to_dict(),
            "hparams": self.hparams,
        }

    def save(self, run_dir: str | Path) -> Path:
        """Write ``RUN_DIR/model.safetensors`` + ``RUN_DIR/model.json`` (atomically)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        return save_checkpoint(checkpoint_path(run_dir), self.tensors(), self.meta())

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> UnitModel:
        extra = {k: v for k, v in tensors.items() if k != "gestures"}
        return cls(
            tensors["gestures"],
            Normalizer.from_dict(meta["normalizer"]),
            meta["channels"],
            meta["rate_hz"],
            meta.get("hparams", {}),
            extra,
        )

    @staticmethod
    def load(run_dir: str | Path) -> UnitModel:
        """Load the model of ``RUN_DIR`` (any registered method)."""
        from gesturekit.units.methods import import_method_modules

        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise FormatError(run_dir, "not a run folder (no such folder)")
        tensors, meta = load_checkpoint(checkpoint_path(run_dir), as_numpy=True)
        for key in ("method", "channels", "rate_hz", "normalizer"):
            if key not in meta:
                raise FormatError(run_dir / "model.json", f"model metadata lacks '{key}'")
        if "gestures" not in tensors:
            raise FormatError(run_dir / "model.safetensors", "no 'gestures' tensor")
        import_method_modules()
        method = meta["method"]
        if method not in UNIT_MODELS:
            raise ConfigError(f"{run_dir}: unknown method '{method}'; known: {sorted(UNIT_MODELS)}")
        model = UNIT_MODELS[method].from_checkpoint(tensors, meta)
        model.run_dir = run_dir
        return model

    @staticmethod
    def from_pretrained(path: str | Path) -> UnitModel:
        """A self-describing model folder (``config.json``, ``README.md``, ``model.safetensors``,
        ``model.json``; :mod:`gesturekit.model_card`), checked, then loaded as :meth:`load` does.
        Local folders only: nothing is downloaded."""
        from gesturekit.model_card import UNITS, check_model_folder

        check_model_folder(path, UNITS)
        return UnitModel.load(path)

    # ---------------------------------------------------------------- data in and out
    def prepare(self, x: EMARecording | np.ndarray) -> np.ndarray:
        """Data units ``(time, channels)`` (record channels reordered to the model's) -> checked array."""
        name = "data"
        if isinstance(x, EMARecording):
            name = str(x.path or x.name)
            if abs(float(x.rate_hz) - self.rate_hz) > 1e-6 * self.rate_hz:
                raise DataError(
                    f"recorded at {x.rate_hz:g} Hz but the model expects {self.rate_hz:g} Hz; resample first",
                    x.path,
                )
            if list(x.channels) != self.channels:
                missing = [c for c in self.channels if c not in x.channels]
                if missing:
                    raise DataError(f"lacks the model's channel(s) {missing}", x.path)
                x = x.select(self.channels)
            arr = x.data
        else:
            arr = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x)
        if arr.ndim != 2 or arr.shape[1] != len(self.channels):
            raise DataError(f"{name}: expected (time, {len(self.channels)}) data, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            bad = ~np.isfinite(arr)
            chans = sorted({self.channels[i] for i in np.nonzero(bad)[1]})
            raise DataError(f"{name}: {int(bad.sum())} NaN or infinite samples in {chans}; repair them first")
        return arr.astype(np.float32, copy=False)

    def normalise(self, x: EMARecording | np.ndarray) -> np.ndarray:
        """``(time, channels)`` data units -> ``(time, normalised channels)``."""
        return self.normalizer.transform(self.prepare(x))

    def encode(self, x: EMARecording | np.ndarray) -> np.ndarray:
        """Scores ``(gestures, time)`` of one recording or array in data units."""
        return self.encode_normalised(self.normalise(x))

    def encode_batch(self, xs: list[EMARecording | np.ndarray]) -> list[np.ndarray]:
        """Scores of several recordings (a method may batch them; the default loops)."""
        return [self.encode(x) for x in xs]

    def decode(self, scores: np.ndarray) -> np.ndarray:
        """``(gestures, time)`` scores -> ``(time, channels)`` in data units."""
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[0] != self.n_gestures:
            raise DataError(f"scores must be ({self.n_gestures}, time), got shape {scores.shape}")
        return self.normalizer.inverse_transform(self.decode_normalised(scores))

    def reconstruct(self, x: EMARecording | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (gestures, time), reconstruction (time, channels))`` of ``x``."""
        h = self.encode(x)
        return h, self.decode(h)

    def encode_normalised(self, xn: np.ndarray) -> np.ndarray:
        """``(time, normalised channels)`` -> ``(gestures, time)``; each method implements it."""
        raise NotImplementedError

    def decode_normalised(self, scores: np.ndarray) -> np.ndarray:
        """The convolutive decoder: ``(gestures, time)`` -> ``(time, normalised channels)``."""
        W = torch.from_numpy(self.gestures)
        H = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
        with torch.no_grad():
            return ops.reconstruct(W, H, self.offset, "fft").T.numpy()

    # ---------------------------------------------------------------- gestures in data units
    def gestures_data_units(self) -> np.ndarray:
        """Each gesture as a displacement ``(gestures, width, channels)`` in data units (scale only).

        The ± split halves are merged (``plus - minus``); the normaliser's shift is not added,
        so a gesture reads as a movement relative to the mean posture.
        """
        W = self.gestures.transpose(1, 2, 0).astype(np.float64)  # (G, K, A')
        if self.normalizer.nonneg_split:
            W = W[..., 0::2] - W[..., 1::2]
        return (W * np.asarray(self.normalizer.scale)[None, None, :]).astype(np.float32)
