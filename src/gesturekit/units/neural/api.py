"""A trained neural CNMF as a :class:`~gesturekit.units.model.UnitModel` (methods ``ae``, ``vae``).

``UnitModel.load(RUN_DIR)`` builds a :class:`NeuralUnitModel` for runs whose meta says
``method: ae|vae``. ``encode(x)`` takes an :class:`~gesturekit.records.EMARecording` (channels
matched by name, rate checked) or an array ``(time, channels)`` in the data's own units and
returns the scores ``(gestures, time)`` (the VAE's posterior mean); ``decode(scores)`` returns
``(time, channels)`` in data units; ``sample(x, n)`` draws VAE scores. Inference runs without
autograd on frozen tensors (:class:`FastInference`: the decoder's gesture matrix is computed
once), one utterance at a time, so the time per frame does not depend on padding.

The checkpoint holds the network's ``state_dict`` plus ``gestures`` ``(channels, gestures,
width)`` (what every unit model stores); meta ``hparams`` holds ``net`` (the
:class:`~gesturekit.units.neural.models.NetConfig`), ``in_channels`` and ``phone_set``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gesturekit.errors import DataError, FormatError
from gesturekit.features.normalize import Normalizer
from gesturekit.records import EMARecording
from gesturekit.runtime import torch_threads
from gesturekit.units.model import UnitModel, register_unit_model
from gesturekit.units.neural.models import AECNMF, VAECNMF, NetConfig, build_net

NEURAL_METHODS = ("ae", "vae")


def net_config_from_dict(d: dict[str, Any]) -> NetConfig:
    names = {f.name for f in dataclasses.fields(NetConfig)}
    return NetConfig(**{k: v for k, v in d.items() if k in names})


#: Inputs up to this many frames run on one intra-op thread (see :func:`small_input_threads`).
ONE_THREAD_FRAMES = 10_000


@contextmanager
def small_input_threads(frames: int) -> Iterator[None]:
    """Run one short utterance on a single intra-op thread, then restore the thread count.

    The per-utterance tensors are small (a 1,269-frame utterance is ~0.1 M scores): splitting
    each op over threads costs more in synchronisation than it saves (measured: 8 mngu0
    utterances 6.3 ms on one thread vs 8.6 ms on two), and a busy machine makes it much worse.
    """
    with torch_threads(1 if frames <= ONE_THREAD_FRAMES else None):
        yield


class FastInference:
    """The encoder and decoder as plain conv1d / matmul calls on frozen tensors (no autograd).

    ``(1, channels, time)`` -> scores ``(1, gestures, time)`` (the VAE's posterior mean);
    scores -> ``(1, channels, time)``.
    """

    def __init__(self, net: AECNMF):
        self.layers = [
            (c.weight.detach().clone().contiguous(), c.bias.detach().clone().contiguous(), c.padding[0])
            for c in net.encoder.convs
        ]
        self.final_relu = net.encoder.final_relu
        self.vae = net if isinstance(net, VAECNMF) else None
        w = net.decoder.gestures().detach()
        c, g, k = w.shape
        self.w_dec = w.permute(0, 2, 1).reshape(c * k, g).contiguous()  # (channels * width, gestures)
        self.w_conv = w.flip(-1).contiguous()  # conv1d weight (channels, gestures, width)
        self.width = k
        self.centre = net.decoder.centre

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.layers)
        for i, (w, b, p) in enumerate(self.layers):
            x = F.conv1d(x, w, b, padding=p)
            if i < n - 1 or self.final_relu:
                x = x.relu_()
        if self.vae is None:
            return x
        mu, log_sigma = x.chunk(2, dim=1)
        cfg = self.vae.cfg
        log_sigma = log_sigma.clamp(cfg.min_log_sigma, cfg.max_log_sigma)
        return VAECNMF.posterior_mean(mu.clamp(-20.0, 8.0), log_sigma)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """The convolutive sum as one matrix product ``(channels * width, gestures) @ (gestures, time)``
        and an overlap-add of its ``width`` tap planes, each a vectorised ``(channels, time)`` add.

        Sparse scores: for one utterance, gestures whose scores are all zero are left out of the
        product (exact: they contribute nothing), which a sparse-trained model makes common.
        """
        b, g, t = h.shape
        k = self.width
        w = self.w_dec
        if b == 1:
            h = h.reshape(g, t)
            used = torch.nonzero(h.amax(-1) > 0).flatten()  # gestures this utterance uses at all
            if len(used) == 0:
                return h.new_zeros(1, self.w_conv.shape[0], t)
            if len(used) <= 0.25 * g:  # few gestures: a conv1d on them beats the tap planes
                hu = F.pad(h.index_select(0, used), (k - 1 - self.centre, self.centre))
                return F.conv1d(hu[None], self.w_conv.index_select(1, used))
            if len(used) < 0.75 * g:  # sparse scores: gestures with an all-zero row add nothing
                w, h = w.index_select(1, used), h.index_select(0, used)
        p = torch.matmul(w, h)  # (batch, channels * width, time)
        p = p.reshape(b, -1, k, t)
        out = h.new_zeros(b, p.shape[1], t + k - 1)
        for j in range(k):
            out[:, :, j : j + t] += p[:, :, j]
        return out[:, :, self.centre : self.centre + t]


class NeuralUnitModel(UnitModel):
    """AE-/VAE-CNMF run: the network, its normaliser and channel names."""

    method = "ae"

    def __init__(self, net: AECNMF, normalizer: Normalizer, channels: list[str], rate_hz: float,
                 hparams: dict[str, Any] | None = None) -> None:  # fmt: skip
        net = net.eval()
        gestures = net.decoder.gestures().detach().cpu().numpy()
        super().__init__(gestures, normalizer, channels, rate_hz, hparams)
        self.net = net
        self.method = "vae" if isinstance(net, VAECNMF) else "ae"  # type: ignore[misc]
        self._fast = FastInference(net)
        # the normaliser as float32 (channels, 1) tensors: inference normalises in torch, in place
        # of two float64 numpy passes per utterance (None: the +/- split, left to numpy)
        self._affine = None
        if not normalizer.nonneg_split:
            self._affine = tuple(
                torch.as_tensor(np.asarray(v, dtype=np.float32)).reshape(-1, 1)
                for v in (normalizer.shift, normalizer.scale)
            )

    @property
    def phone_set(self) -> list[str]:
        return list(self.hparams.get("phone_set", []))

    # -- persistence ------------------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        out = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        out["gestures"] = self.gestures
        return out

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> NeuralUnitModel:
        hp = meta.get("hparams", {})
        try:
            net_cfg = net_config_from_dict(hp["net"])
            net = build_net(meta["method"], int(hp["in_channels"]), net_cfg, len(hp.get("phone_set", [])))
            state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k != "gestures"}
            net.load_state_dict(state)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise FormatError(
                "model.safetensors", f"weights do not fit a {meta.get('method')} model ({exc})"
            ) from None
        return cls(net, Normalizer.from_dict(meta["normalizer"]), meta["channels"], meta["rate_hz"], hp)

    # -- inference --------------------------------------------------------------------------
    @staticmethod
    def _tensor(xn: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.asarray(xn, dtype=np.float32).T))[None]

    def _normalised(self, x: EMARecording | np.ndarray) -> torch.Tensor:
        """Checked data ``(time, channels)`` in data units -> normalised ``(1, channels, time)``."""
        arr = self.prepare(x)
        if self._affine is None:
            return self._tensor(self.normalizer.transform(arr))
        shift, scale = self._affine
        return torch.from_numpy(arr).T.sub(shift).div_(scale).contiguous()[None]

    def _to_data_units(self, y: torch.Tensor) -> np.ndarray:
        """Normalised ``(1, channels, time)`` -> ``(time, channels)`` float32 in data units."""
        if self._affine is None:
            return self.normalizer.inverse_transform(y[0].T.numpy())
        shift, scale = self._affine
        return torch.addcmul(shift, y[0], scale).T.contiguous().numpy()

    @torch.inference_mode()
    def encode(self, x: EMARecording | np.ndarray) -> np.ndarray:
        t = self._normalised(x)
        with small_input_threads(t.shape[-1]):
            h = self._fast.encode(t)
        return h[0].numpy()

    @torch.inference_mode()
    def decode(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[0] != self.n_gestures:
            raise DataError(f"scores must be ({self.n_gestures}, time), got shape {scores.shape}")
        h = torch.from_numpy(np.ascontiguousarray(scores))[None]
        with small_input_threads(h.shape[-1]):
            return self._to_data_units(self._fast.decode(h))

    @torch.inference_mode()
    def encode_normalised(self, xn: np.ndarray) -> np.ndarray:
        t = self._tensor(xn)
        with small_input_threads(t.shape[-1]):
            h = self._fast.encode(t)
        return h[0].numpy()

    @torch.inference_mode()
    def decode_normalised(self, scores: np.ndarray) -> np.ndarray:
        h = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))[None]
        with small_input_threads(h.shape[-1]):
            y = self._fast.decode(h)
        return y[0].T.numpy()

    @torch.inference_mode()
    def reconstruct(self, x: EMARecording | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (gestures, time), reconstruction (time, channels))`` without leaving torch."""
        t = self._normalised(x)
        with small_input_threads(t.shape[-1]):
            h = self._fast.encode(t)
            y = self._fast.decode(h)
            return h[0].numpy(), self._to_data_units(y)

    @torch.inference_mode()
    def sample(self, x: EMARecording | np.ndarray, n: int = 1, seed: int = 0) -> np.ndarray:
        """``n`` posterior draws of the scores ``(n, gestures, time)`` (VAE only)."""
        if not isinstance(self.net, VAECNMF):
            raise DataError(f"sampling needs a variational model; this one is '{self.method}'")
        mu, log_sigma = self.net.posterior(self._tensor(self.normalise(x)))
        eps = torch.randn((n, *mu.shape[1:]), generator=torch.Generator().manual_seed(int(seed)))
        return torch.exp(mu + torch.exp(log_sigma) * eps).numpy()


class _VAEUnitModel(NeuralUnitModel):
    method = "vae"


register_unit_model("ae", NeuralUnitModel)
register_unit_model("vae", _VAEUnitModel)
