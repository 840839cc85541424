"""A trained neural CNMF run as an object: ``NeuralUnitModel.load(RUN_DIR)``.

``encode(x)`` takes an :class:`~gesturekit.records.EMARecording` (its channels are matched by
name, its rate checked) or an array ``(time, channels)`` in the data's own units and returns the
gestural scores ``(gestures, time)``; ``decode(scores)`` returns ``(time, channels)`` in the
data's units; ``reconstruct(x)`` does both. Inference runs without autograd on a frozen copy
of the weights (the decoder's flipped kernel is computed once), one utterance at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gesturekit.checkpoint import load_checkpoint
from gesturekit.config import load_config
from gesturekit.errors import DataError, FormatError
from gesturekit.features.normalize import Normalizer
from gesturekit.records import EMARecording
from gesturekit.units.neural.models import AECNMF, NetConfig, VAECNMF, build_net

NEURAL_METHODS = ("ae", "vae")


def _net_config(d: dict[str, Any]) -> NetConfig:
    import dataclasses

    names = {f.name for f in dataclasses.fields(NetConfig)}
    return NetConfig(**{k: v for k, v in d.items() if k in names})


class FastInference:
    """Encoder + decoder of a trained net as plain conv1d calls on frozen tensors (no autograd).

    ``(channels, time)`` float32 -> scores ``(gestures, time)`` and reconstruction
    ``(channels, time)``. AE only; the VAE uses the module's posterior mean.
    """

    def __init__(self, net: AECNMF):
        self.layers = [
            (c.weight.detach().clone().contiguous(), c.bias.detach().clone().contiguous(), c.padding[0])
            for c in net.encoder.convs
        ]
        self.w_dec = net.decoder.conv_weight().detach().clone().contiguous()
        k = net.decoder.width
        self.pad = (k - 1 - net.decoder.centre, net.decoder.centre)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        for w, b, p in self.layers:
            x = F.conv1d(x, w, b, padding=p).relu_()
        return x

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return F.conv1d(F.pad(h, self.pad), self.w_dec)


class NeuralUnitModel:
    """A fitted AE-/VAE-CNMF with its normaliser and channel names (see module docstring)."""

    def __init__(self, net: AECNMF, meta: dict[str, Any], run_dir: Path | None = None):
        self.net = net.eval()
        self.meta = meta
        self.run_dir = run_dir
        self.method: str = meta["method"]
        self.channels: list[str] = list(meta["channels"])
        self.rate_hz: float = float(meta["rate_hz"])
        self.normalizer = Normalizer.from_dict(meta["normalizer"])
        self.phone_set: list[str] = list(meta.get("hparams", {}).get("phone_set", []))
        self._fast = FastInference(net) if type(net) is AECNMF else None

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, run_dir: str | Path) -> NeuralUnitModel:
        run_dir = Path(run_dir)
        path = run_dir / "model" if run_dir.is_dir() else run_dir
        tensors, meta = load_checkpoint(path)
        if meta.get("method") not in NEURAL_METHODS:
            raise FormatError(path.with_suffix(".json"), f"not a neural CNMF model (method {meta.get('method')!r})")
        hp = meta.get("hparams", {})
        net = build_net(meta["method"], int(hp["in_channels"]), _net_config(hp["net"]), len(hp.get("phone_set", [])))
        try:
            net.load_state_dict(tensors)
        except RuntimeError as exc:
            raise FormatError(path.with_suffix(".safetensors"), f"weights do not fit the model ({exc})") from None
        return cls(net, meta, run_dir if run_dir.is_dir() else None)

    @property
    def config(self):
        from gesturekit.units.neural.config import NeuralUnitsConfig

        return load_config(NeuralUnitsConfig, None, None) if self.run_dir is None else load_config(
            NeuralUnitsConfig, self.run_dir / "config.yaml"
        )

    # -- properties -------------------------------------------------------------------------
    @property
    def n_gestures(self) -> int:
        return self.net.cfg.gestures

    @property
    def width(self) -> int:
        return self.net.cfg.width

    @property
    def components_(self) -> np.ndarray:
        """Gestures ``(model channels, gestures, width)`` in the normalised space."""
        return self.net.decoder.gestures().detach().cpu().numpy()

    @property
    def model_channels(self) -> list[str]:
        return self.normalizer.output_channels()

    # -- data -------------------------------------------------------------------------------
    def _array(self, x: EMARecording | np.ndarray) -> np.ndarray:
        if isinstance(x, EMARecording):
            if abs(float(x.rate_hz) - self.rate_hz) > 1e-6:
                raise DataError(f"sampled at {x.rate_hz} Hz but the model expects {self.rate_hz} Hz", x.path)
            missing = [c for c in self.channels if c not in x.channels]
            if missing:
                raise DataError(f"lacks channel(s) {missing} the model needs", x.path)
            data = x.select(self.channels).data
            where = x.path
        else:
            data = np.asarray(x)
            where = None
            if data.ndim != 2 or data.shape[1] != len(self.channels):
                raise DataError(f"expected an array (time, {len(self.channels)}), got shape {data.shape}")
        if not np.all(np.isfinite(data)):
            raise DataError("holds NaN or infinite samples; repair them first", where)
        if data.shape[0] == 0:
            raise DataError("has no frames", where)
        return data

    def _normalised(self, x: EMARecording | np.ndarray) -> torch.Tensor:
        y = self.normalizer.transform(self._array(x))
        return torch.from_numpy(np.ascontiguousarray(y.T))[None]  # (1, channels, time)

    # -- inference --------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, x: EMARecording | np.ndarray) -> np.ndarray:
        """Scores ``(gestures, time)`` (the VAE's posterior mean)."""
        t = self._normalised(x)
        h = self._fast.encode(t) if self._fast is not None else self.net.encode(t)
        return h[0].numpy()

    @torch.inference_mode()
    def decode(self, scores: np.ndarray) -> np.ndarray:
        """Reconstruction ``(time, channels)`` in the data's units from scores ``(gestures, time)``."""
        h = np.asarray(scores, dtype=np.float32)
        if h.ndim != 2 or h.shape[0] != self.n_gestures:
            raise DataError(f"scores must be ({self.n_gestures}, time), got shape {h.shape}")
        t = torch.from_numpy(np.ascontiguousarray(h))[None]
        y = self._fast.decode(t) if self._fast is not None else self.net.decode(t)
        return self.normalizer.inverse_transform(y[0].T.numpy())

    @torch.inference_mode()
    def reconstruct(self, x: EMARecording | np.ndarray) -> np.ndarray:
        """``decode(encode(x))`` without leaving torch: ``(time, channels)`` in data units."""
        t = self._normalised(x)
        if self._fast is not None:
            y = self._fast.decode(self._fast.encode(t))
        else:
            y = self.net.decode(self.net.encode(t))
        return self.normalizer.inverse_transform(y[0].T.numpy())

    @torch.inference_mode()
    def sample(self, x: EMARecording | np.ndarray, n: int = 1, seed: int = 0) -> np.ndarray:
        """``n`` posterior draws of the scores ``(n, gestures, time)`` (VAE only)."""
        if not isinstance(self.net, VAECNMF):
            raise DataError(f"sampling needs a variational model; this one is '{self.method}'")
        t = self._normalised(x)
        g = torch.Generator().manual_seed(int(seed))
        mu, log_sigma = self.net.posterior(t)
        eps = torch.randn((n, *mu.shape[1:]), generator=g)
        return torch.exp(mu + torch.exp(log_sigma) * eps).numpy()


def load_unit_model(run_dir: str | Path) -> Any:
    """Any unit model: the package-wide ``UnitModel.load`` when present, else the neural one."""
    try:
        from gesturekit.units.model import UnitModel  # the shared loader (classic CNMF branch)
    except ImportError:
        return NeuralUnitModel.load(run_dir)
    return UnitModel.load(run_dir)
