"""A trained neural CNMF as a :class:`~gesturekit.units.model.UnitModel` (methods ``ae``, ``vae``).

``UnitModel.load(RUN_DIR)`` builds a :class:`NeuralUnitModel` for runs whose meta says
``method: ae|vae``. ``encode(x)`` takes an :class:`~gesturekit.records.EMARecording` (channels
matched by name, rate checked) or an array ``(time, channels)`` in the data's own units and
returns the scores ``(gestures, time)`` (the VAE's posterior mean); ``decode(scores)`` returns
``(time, channels)`` in data units; ``sample(x, n)`` draws VAE scores. Inference runs one
utterance at a time, so the time per frame does not depend on padding: an AE with an affine
normaliser encodes and reconstructs in one compiled call
(:class:`~gesturekit.units.neural.fused.FusedReconstruct`), anything else without autograd on
frozen tensors (:class:`FastInference`: the decoder's gesture matrix is computed once).

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
from gesturekit.units.neural import fused
from gesturekit.units.neural.models import (
    AECNMF,
    VAECNMF,
    NetConfig,
    bound_weights,
    build_net,
    can_fire_in_range,
    conv1d_im2col,
)

NEURAL_METHODS = ("ae", "vae")


def net_config_from_dict(d: dict[str, Any]) -> NetConfig:
    names = {f.name for f in dataclasses.fields(NetConfig)}
    return NetConfig(**{k: v for k, v in d.items() if k in names})


#: Inputs up to this many frames run on one intra-op thread (see :func:`small_input_threads`).
ONE_THREAD_FRAMES = 10_000

#: After an utterance whose interval bound left more than 3/4 of the gestures able to fire, the
#: next ``BOUND_REST`` utterances skip the bound (see :meth:`FastInference.encode_rows`).
BOUND_REST = 7


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
    scores -> ``(1, channels, time)``. With ``affine`` (the normaliser's ``shift``, ``scale``
    as ``(channels, 1)`` tensors), :meth:`reconstruct` and ``decode(..., data_units=True)``
    return data units, the scaling folded into the gestures and the shift into a bias.

    One utterance is small (a 1,269-frame one is 0.1 M scores), so a fixed cost of a few
    microseconds per torch call weighs as much as the arithmetic: the sparse paths below are
    written to make few calls.
    """

    def __init__(self, net: AECNMF, affine: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.layers = [
            (c.weight.detach().clone().contiguous(), c.bias.detach().clone().contiguous(), c.padding[0])
            for c in net.encoder.convs
        ]
        self.final_relu = net.encoder.final_relu
        self.vae = net if isinstance(net, VAECNMF) else None
        w_last, b_last, _ = self.layers[-1]
        # the last layer's interval bound (channels_that_can_fire) as numpy arrays: a bound
        # per utterance then costs a few microseconds
        self.bound_parts = tuple(t.numpy() for t in bound_weights(w_last))
        self.bound_bias = b_last.numpy()  # a view of the layer's bias
        self.last_input_nonneg = len(self.layers) > 1  # the output of a ReLU
        w = net.decoder.gestures().detach()
        c, g, k = w.shape
        self.w_dec = w.permute(0, 2, 1).reshape(c * k, g).contiguous()  # (channels * width, gestures)
        self.w_conv = w.flip(-1).contiguous()  # conv1d weight (channels, gestures, width)
        self.affine = affine
        self.w_conv_data = self.w_conv  # data units: the scale folded into the gestures
        if affine is not None:
            self.w_conv_data = (self.w_conv * affine[1][:, :, None]).contiguous()
        self.width = k
        self.centre = net.decoder.centre
        self._bound_rest = 0  # utterances left to run without the bound

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_rows(x)[0]

    def encode_rows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(scores, rows, scores[0, rows])``: ``rows`` are the gestures that may be non-zero
        (``None``: any may be).

        The last layer, when it ends in a ReLU, computes only the gestures that can fire on
        this input (see :func:`~gesturekit.units.neural.models.channels_that_can_fire`). The
        bound costs about as much as 10 % of an utterance's encoding and, on a well-trained
        model, leaves nearly every gesture able to fire; so after it fails to remove a quarter
        of them, the next :data:`BOUND_REST` utterances run the plain layer (the scores are the
        same either way).
        """
        n = len(self.layers)
        for i, (w, b, p) in enumerate(self.layers):
            if i == n - 1 and self.final_relu and x.shape[0] == 1:
                if self._bound_rest > 0:
                    self._bound_rest -= 1
                else:
                    rows = self._rows_that_can_fire(x[0])
                    if len(rows) <= 0.75 * w.shape[0]:
                        return self._pruned_last_layer(x[0], rows)
                    self._bound_rest = BOUND_REST
            x = F.conv1d(x, w, b, padding=p)
            if i < n - 1 or self.final_relu:
                x = x.relu_()
        if self.vae is None:
            return x, None, None
        mu, log_sigma = x.chunk(2, dim=1)
        cfg = self.vae.cfg
        log_sigma = log_sigma.clamp(cfg.min_log_sigma, cfg.max_log_sigma)
        return VAECNMF.posterior_mean(mu.clamp(-20.0, 8.0), log_sigma), None, None

    def _rows_that_can_fire(self, a: torch.Tensor) -> np.ndarray:
        """:func:`~gesturekit.units.neural.models.channels_that_can_fire` on the last layer's
        input ``(in, time)``, in numpy on the precomputed weight parts: indices."""
        an = a.numpy()
        hi = np.maximum(an.max(axis=1), 0.0)
        lo = None if self.last_input_nonneg else np.minimum(an.min(axis=1), 0.0)
        return np.flatnonzero(can_fire_in_range(hi, lo, self.bound_parts, self.bound_bias))

    def _pruned_last_layer(self, a: torch.Tensor, rows_np: np.ndarray) -> tuple[torch.Tensor, ...]:
        w, b, p = self.layers[-1]
        rows = torch.from_numpy(rows_np)
        h = a.new_zeros(1, b.shape[0], a.shape[-1])
        if len(rows) == 0:
            return h, rows, h[0, :0]
        hr = F.conv1d(a[None], w.index_select(0, rows), b.index_select(0, rows), padding=p)[0].relu_()
        h[0].index_copy_(0, rows, hr)
        return h, rows, hr

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(1, channels, time)`` -> scores ``(1, gestures, time)`` and the reconstruction
        ``(1, channels, time)`` (data units with ``affine``, else normalised)."""
        h, rows, hr = self.encode_rows(x)
        if rows is not None and hr is not None and len(rows) <= 0.25 * h.shape[1]:
            return h, self._decode_few(hr, rows, data_units=True)
        return h, self.decode(h, data_units=True, nonneg=True)  # encoded scores are never negative

    def _decode_few(self, hr: torch.Tensor, rows: torch.Tensor, data_units: bool) -> torch.Tensor:
        """Scores of a few gestures ``(rows, time)`` -> ``(1, channels, time)``: a conv1d on
        them alone (the shift as its bias)."""
        k, c = self.width, self.w_conv.shape[0]
        t = hr.shape[-1]
        data_units = data_units and self.affine is not None
        shift = self.affine[0][:, 0] if data_units else None  # type: ignore[index]
        if len(rows) == 0:
            y = hr.new_zeros(1, c, t)
            return y + shift[:, None] if shift is not None else y
        w = (self.w_conv_data if data_units else self.w_conv).index_select(1, rows)
        if len(rows) > 16:  # torch's conv1d takes a path twice as slow here (see conv1d_im2col)
            return conv1d_im2col(hr[None], w, shift, k - 1 - self.centre)
        # symmetric padding of the larger side (no padded copy), then the first `t` outputs
        pad = max(k - 1 - self.centre, self.centre)
        start = pad - (k - 1 - self.centre)
        return F.conv1d(hr[None], w, shift, padding=pad)[:, :, start : start + t]

    def decode(self, h: torch.Tensor, data_units: bool = False, nonneg: bool = False) -> torch.Tensor:
        """The convolutive sum as one matrix product ``(channels * width, gestures) @ (gestures, time)``
        and an overlap-add of its ``width`` tap planes, each a vectorised ``(channels, time)`` add.

        Sparse scores: for one utterance, gestures whose scores are all zero are left out of the
        product (exact: they contribute nothing), which a sparse-trained model makes common.
        ``nonneg``: the scores are known to be >= 0 (the encoder's), so one pass finds the used ones.
        """
        b, g, t = h.shape
        k = self.width
        w = self.w_dec
        if b == 1:
            h = h.reshape(g, t)
            nonzero = h.amax(-1) > 0 if nonneg else (h.amax(-1) > 0) | (h.amin(-1) < 0)
            used = torch.nonzero(nonzero).flatten()
            if len(used) <= 0.25 * g:  # few gestures: a conv1d on them beats the tap planes
                return self._decode_few(h.index_select(0, used), used, data_units)
            if len(used) < 0.75 * g:  # sparse scores: gestures with an all-zero row add nothing
                w, h = w.index_select(1, used), h.index_select(0, used)
        p = torch.matmul(w, h)  # (batch, channels * width, time)
        p = p.reshape(b, -1, k, t)
        out = h.new_zeros(b, p.shape[1], t + k - 1)
        for j in range(k):
            out[:, :, j : j + t] += p[:, :, j]
        out = out[:, :, self.centre : self.centre + t]
        if data_units and self.affine is not None:
            out = torch.addcmul(self.affine[0], out, self.affine[1])
        return out


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
        # the normaliser as float32 (channels, 1) arrays: inference normalises in float32 on the
        # transposing copy it needs anyway, and the decoder returns data units directly (None:
        # the +/- split, left to the normaliser)
        self._affine: tuple[np.ndarray, np.ndarray] | None = None
        if not normalizer.nonneg_split:
            shift, scale = (
                np.asarray(v, dtype=np.float32).reshape(-1, 1) for v in (normalizer.shift, normalizer.scale)
            )
            self._affine = (shift, scale)
        affine = None if self._affine is None else tuple(torch.from_numpy(v) for v in self._affine)
        self._fast = FastInference(net, affine)  # type: ignore[arg-type]
        self._fused = self._fused_kernels(net)
        self._decoder = self._fused_decoder(net)

    def _fused_kernels(self, net: AECNMF) -> fused.FusedReconstruct | None:
        """One compiled call per utterance for an AE with ReLU scores and an affine normaliser
        (:mod:`~gesturekit.units.neural.fused`); ``None``: the torch path."""
        if not fused.ENABLED or isinstance(net, VAECNMF) or not net.encoder.final_relu or self._affine is None:
            return None
        layers = [(c.weight.detach().cpu().numpy(), c.bias.detach().cpu().numpy()) for c in net.encoder.convs]
        shift, scale = self._affine
        return fused.FusedReconstruct(layers, self.gestures, net.decoder.centre, shift, scale)

    def _fused_decoder(self, net: AECNMF) -> fused.FusedDecoder | None:
        """The compiled decoder of given scores (any AE or VAE; data units for an affine normaliser,
        else normalised units); ``None``: the torch path."""
        if not fused.ENABLED:
            return None
        n = self.gestures.shape[0]
        shift, scale = self._affine if self._affine is not None else (np.zeros(n), np.ones(n))
        return fused.FusedDecoder(self.gestures, net.decoder.centre, shift, scale)

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
        out = np.array(arr.T, dtype=np.float32, order="C")  # always a copy: the user's data stay
        out -= shift
        out /= scale
        return torch.from_numpy(out)[None]

    def _decode_to_data_units(self, h: torch.Tensor) -> np.ndarray:
        """Scores ``(1, gestures, time)`` -> ``(time, channels)`` float32 in data units."""
        if self._affine is None:
            return self.normalizer.inverse_transform(self._fast.decode(h)[0].T.numpy())
        return self._fast.decode(h, data_units=True)[0].numpy().T

    @torch.inference_mode()
    def encode(self, x: EMARecording | np.ndarray) -> np.ndarray:
        if self._fused is not None:
            return self._fused.encode(self.prepare(x), torch.get_num_threads())
        return self._encode(self._normalised(x))

    def _encode(self, t: torch.Tensor) -> np.ndarray:
        with small_input_threads(t.shape[-1]):
            return self._fast.encode(t)[0].numpy()

    @torch.inference_mode()
    def decode(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[0] != self.n_gestures:
            raise DataError(f"scores must be ({self.n_gestures}, time), got shape {scores.shape}")
        if self._decoder is not None:  # compiled; short inputs on one thread, as on the torch path
            frames = scores.shape[1]
            y = self._decoder.decode(scores, 1 if frames <= ONE_THREAD_FRAMES else torch.get_num_threads())
            return y if self._affine is not None else self.normalizer.inverse_transform(y)
        h = torch.from_numpy(np.ascontiguousarray(scores))[None]
        with small_input_threads(h.shape[-1]):
            return self._decode_to_data_units(h)

    @torch.inference_mode()
    def encode_normalised(self, xn: np.ndarray) -> np.ndarray:
        return self._encode(self._tensor(xn))

    @torch.inference_mode()
    def decode_normalised(self, scores: np.ndarray) -> np.ndarray:
        h = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))[None]
        with small_input_threads(h.shape[-1]):
            y = self._fast.decode(h)
        return y[0].T.numpy()

    @torch.inference_mode()
    def reconstruct(self, x: EMARecording | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (gestures, time), reconstruction (time, channels))`` in one compiled call (an AE
        with an affine normaliser) or without leaving torch."""
        if self._fused is not None:
            return self._fused.reconstruct(self.prepare(x), torch.get_num_threads())
        t = self._normalised(x)
        with small_input_threads(t.shape[-1]):
            h, y = self._fast.reconstruct(t)
        if self._affine is None:
            return h[0].numpy(), self.normalizer.inverse_transform(y[0].T.numpy())
        return h[0].numpy(), y[0].numpy().T

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
