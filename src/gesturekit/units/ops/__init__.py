"""The computations of the unit models, as functions: the maths here, the backends behind them.

Shapes: gestures ``W`` ``(channels, gestures, width)``; scores ``H`` ``(gestures, time)`` or
``(batch, gestures, time)``; data ``X`` ``(channels, time)`` or ``(batch, channels, time)``; the
kernel offset ``c`` (:func:`kernel_offset`: ``(width-1)//2`` centred, ``0`` causal). Indices
outside ``[0, time)`` read zeros.

- :func:`reconstruct`  ``X[a, t] = sum_g sum_k W[a, g, k] H[g, t - k + c]`` (the convolutive sum:
  the decoder of every unit model)
- :func:`adjoint`      ``A[g, t] = sum_a sum_k W[a, g, k] R[a, t + k - c]``
- :func:`correlate`    ``D[a, g, k] = sum_t R[a, t] H[g, t - k + c]``
  (``adjoint`` and ``correlate`` are the two halves of the gradient of ``<R, reconstruct(W, H)>``,
  which CNMF's multiplicative updates need)
- :func:`conv_layer`   ``y = relu(conv1d(x, weight, bias))``, "same" padding (an encoder layer)
- :func:`score_norms`  the per-frame and per-gesture sums and sums of squares of the scores (the
  Hoyer sparsity terms)
- :class:`Inference`   a frozen encoder + decoder run on one utterance at a time (numpy in, out)
- :func:`compiled_ae_objective`  an AE-CNMF's training objective with its gradients

Backends: torch (:mod:`._torch`; every op, any device, autograd) and compiled Numba kernels for
the CPU (:mod:`._kernels`, private; optional, ``GESTUREKIT_FUSED=0`` turns them off). Every
choice of backend or execution path is made in this module, in the "Dispatch" section below:
a caller states the maths (and what it knows of its inputs, e.g. ``relu_scores``), never a path.
Every path computes the same sums (the tests compare each with a plain reference); they differ
in order of summation (float rounding) and speed only. docs/units-kernels.md has the
measurements behind each rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gesturekit.runtime import torch_threads
from gesturekit.units.ops import _kernels, _torch
from gesturekit.units.ops._torch import EPS

#: Engines of the three CNMF products (``reconstruct`` also has ``"gemm"``, the default).
ENGINES = ("direct", "fft")

__all__ = [
    "ENGINES",
    "EPS",
    "Inference",
    "adjoint",
    "compiled_ae_objective",
    "conv_layer",
    "correlate",
    "kernel_offset",
    "reconstruct",
    "score_norms",
    "takes_compiled_ae_objective",
]


def kernel_offset(width: int, centred: bool) -> int:
    """``c`` in the formulas above: ``(width-1)//2`` for centred kernels, ``0`` for causal ones."""
    return (width - 1) // 2 if centred else 0


# ---------------------------------------------------------------------------------------------
# The ops


def reconstruct(
    W: torch.Tensor, H: torch.Tensor, offset: int, engine: str = "gemm", *, relu_scores: bool = False
) -> torch.Tensor:
    """The convolutive sum ``X[b, a, t] = sum_g sum_k W[a, g, k] H[b, g, t - k + offset]``:
    ``H`` ``(gestures, time)`` or ``(batch, gestures, time)`` -> ``(channels, time)`` or
    ``(batch, channels, time)``.

    ``engine``: ``"gemm"`` (one matrix product and an overlap-add, with a hand-written backward:
    the neural decoders), ``"fft"`` (block FFT convolution with short transforms: fast for wide
    gestures, the classic CNMF) or ``"direct"`` (``conv1d``, the reference). All are
    differentiable. ``relu_scores``: ``H`` is a ReLU output, so its gradient is used only where
    it is positive; gestures with no positive score in the batch then add nothing to the output
    or to ``W``'s gradient, and their ``H`` gradient is discarded by the ReLU, so they may be left
    out (returned gradient 0 on their rows; exact for every trained parameter).
    """
    squeeze = H.dim() == 2
    Hb = H.unsqueeze(0) if squeeze else H
    if engine == "gemm" and _prune_scores(relu_scores, Hb):
        y = _torch.decode_used(Hb, W, offset)
    else:
        y = _torch.convolutive_sum(Hb, W, offset, engine)
    return y[0] if squeeze else y


def adjoint(W: torch.Tensor, R: torch.Tensor, offset: int, engine: str = "fft") -> torch.Tensor:
    """``A[b, g, t] = sum_a sum_k W[a, g, k] R[b, a, t + k - offset]``: ``R`` ``(A, T)`` or
    ``(B, A, T)`` -> ``(G, T)`` or ``(B, G, T)``. It is the convolutive sum of ``R`` with the
    transposed, time-flipped gestures and the offset ``width - 1 - offset``."""
    squeeze = R.dim() == 2
    Rb = R.unsqueeze(0) if squeeze else R
    y = _torch.convolutive_sum(Rb, W.permute(1, 0, 2).flip(-1), W.shape[-1] - 1 - offset, engine)
    return y[0] if squeeze else y


def correlate(R: torch.Tensor, H: torch.Tensor, width: int, offset: int, engine: str = "fft") -> torch.Tensor:
    """``D[b, a, g, k] = sum_t R[b, a, t] H[g, t - k + offset]``: ``R`` ``(A, T)`` or ``(B, A, T)``,
    ``H`` ``(G, T)`` -> ``(A, G, width)`` or ``(B, A, G, width)``."""
    squeeze = R.dim() == 2
    out = _torch.correlate(R.unsqueeze(0) if squeeze else R, H, width, offset, engine)
    return out[0] if squeeze else out


def conv_layer(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, relu: bool, scores: bool = False
) -> torch.Tensor:
    """``conv1d(x, weight, bias)`` with "same" zero padding (odd widths), then a ReLU if ``relu``:
    ``x`` ``(batch, in, time)``, ``weight`` ``(out, in, width)`` -> ``(batch, out, time)``.

    ``scores``: this layer makes a model's scores, which sparse training concentrates on few
    gestures, so a ReLU layer may skip the output channels it can prove silent.
    """
    pad = weight.shape[-1] // 2
    path = _conv_path(x, weight, relu, scores)
    if path == "data":
        y = _torch.Conv1dOfData.apply(x, weight, bias, pad)
    elif path == "sparse_grad":
        return _torch.ConvReLU.apply(x, weight, bias, pad)
    elif path == "sparse":
        return _torch.relu_conv1d(x, weight, bias, pad)
    else:
        y = F.conv1d(x, weight, bias, padding=pad)
    return F.relu(y) if relu else y


def score_norms(
    h: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores ``h`` ``(batch, gestures, time)`` and ``mask`` ``(batch, 1, time)`` (``None``: no
    padding) -> ``(sum_g h, sum_g h^2)`` ``(batch, time)`` and ``(sum_t m h, sum_t m h^2)``
    ``(batch, gestures)``, differentiable (one pass, with a fused backward)."""
    return _torch.ScoreNorms.apply(h, mask)


class Inference:
    """A frozen encoder and convolutive decoder run on one utterance at a time, numpy in and out.

    ``layers``: the encoder's ``(weight (out, in, width), bias (out,))`` tensors ("same" padding,
    a ReLU after each, the last one only with ``final_relu``); ``head`` maps the last layer's
    output to the scores (the VAE's posterior mean; ``None``: it is the scores); ``gestures``
    ``(channels, gestures, width)`` and the decoder's ``centre`` tap. ``affine``: the
    normaliser's ``(shift, scale)`` ``(channels,)`` arrays (data = normalised * scale + shift);
    with it :meth:`encode`, :meth:`reconstruct` and :meth:`decode` take and give data units,
    without it normalised units. ``x`` is ``(time, channels)``, scores ``(gestures, time)``.
    """

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]], gestures: torch.Tensor, centre: int, *,
                 final_relu: bool = True, head: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 affine: tuple[np.ndarray, np.ndarray] | None = None) -> None:  # fmt: skip
        gestures = gestures.detach()
        self._affine = None
        if affine is not None:  # float32 (channels, 1): normalised in float32 on the transposing copy
            self._affine = tuple(np.asarray(v, dtype=np.float32).reshape(-1, 1) for v in affine)
        t_affine = None if self._affine is None else tuple(torch.from_numpy(v) for v in self._affine)
        self._torch = _torch.FrozenNet(layers, final_relu, head, gestures, centre, t_affine)  # type: ignore[arg-type]
        self._compiled: Any = None
        if _compiled_inference(final_relu, head, affine):
            from gesturekit.units.ops._kernels import inference as _inference  # imports Numba

            shift, scale = self._affine  # type: ignore[misc]
            np_layers = [(w.detach().cpu().numpy(), b.detach().cpu().numpy()) for w, b in layers]
            self._compiled = _inference.FusedReconstruct(np_layers, gestures.numpy(), centre, shift, scale)
        self._decoder: Any = None
        if _kernels.ENABLED:  # any model's decoder: data units with an affine normaliser, else normalised
            from gesturekit.units.ops._kernels import inference as _inference

            n = gestures.shape[0]
            shift, scale = self._affine if self._affine is not None else (np.zeros(n), np.ones(n))
            self._decoder = _inference.FusedDecoder(gestures.numpy(), centre, shift, scale)

    def _tensor(self, x: np.ndarray, normalise: bool) -> torch.Tensor:
        """``(time, channels)`` -> ``(1, channels, time)`` float32 (normalised with ``affine``)."""
        if not normalise or self._affine is None:
            return torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32).T))[None]
        shift, scale = self._affine
        out = np.array(x.T, dtype=np.float32, order="C")  # always a copy: the user's data stay
        out -= shift
        out /= scale
        return torch.from_numpy(out)[None]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Scores ``(gestures, time)`` float32."""
        if self._compiled is not None:
            return self._compiled.encode(x, torch.get_num_threads())
        return self._encode(self._tensor(x, normalise=True))

    def encode_normalised(self, xn: np.ndarray) -> np.ndarray:
        """Scores of normalised ``xn`` ``(time, channels)``, whatever ``affine`` (torch backend)."""
        return self._encode(self._tensor(xn, normalise=False))

    def _encode(self, t: torch.Tensor) -> np.ndarray:
        with small_input_threads(t.shape[-1]):
            return self._torch.encode(t)[0].numpy()

    def reconstruct(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(gestures, time)`` and the reconstruction ``(time, channels)``."""
        if self._compiled is not None:
            return self._compiled.reconstruct(x, torch.get_num_threads())
        t = self._tensor(x, normalise=True)
        with small_input_threads(t.shape[-1]):
            h, y = self._torch.reconstruct(t)
        return h[0].numpy(), y[0].numpy().T

    def decode(self, h: np.ndarray) -> np.ndarray:
        """Scores ``(gestures, time)`` (any sign) -> ``(time, channels)``."""
        frames = h.shape[1]
        if self._decoder is not None:  # compiled; short inputs on one thread, as on the torch backend
            return self._decoder.decode(h, 1 if frames <= ONE_THREAD_FRAMES else torch.get_num_threads())
        t = torch.from_numpy(np.ascontiguousarray(h))[None]
        with small_input_threads(frames):
            return self._torch.decode(t, data_units=True)[0].numpy().T

    def decode_normalised(self, h: np.ndarray) -> np.ndarray:
        """Scores -> ``(time, channels)`` in normalised units, whatever ``affine`` (torch backend)."""
        t = torch.from_numpy(np.ascontiguousarray(h, dtype=np.float32))[None]
        with small_input_threads(t.shape[-1]):
            y = self._torch.decode(t)
        return y[0].T.numpy()


def compiled_ae_objective(
    x: torch.Tensor, lengths: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]],
    gestures: torch.Tensor, centre: int, loss: Any,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """An AE-CNMF's objective (:func:`~gesturekit.units.neural.objective.objective` of the
    encoder ``layers`` (ReLU after each) and the decoder's ``gestures`` on the batch ``x``
    ``(batch, channels, time)`` of ``lengths``, loss options ``loss``) with its gradients, in two
    compiled passes: ``(loss, parts)``, the loss differentiable with respect to the layers and
    the gestures. Only where :func:`takes_compiled_ae_objective`."""
    from gesturekit.units.ops._kernels import training  # imports Numba

    return training.ae_objective(x, lengths, layers, gestures, centre, loss)


# ---------------------------------------------------------------------------------------------
# Dispatch: which backend and path each op takes, all in one place

#: Inputs up to this many frames run on one intra-op thread (see :func:`small_input_threads`).
ONE_THREAD_FRAMES = 10_000


def _prune_scores(relu_scores: bool, h: torch.Tensor) -> bool:
    """The decoder skips the gestures silent in the batch: ReLU scores, on the CPU (on a GPU the
    data-dependent count would only add a device sync)."""
    return relu_scores and h.device.type == "cpu"


def _conv_path(x: torch.Tensor, weight: torch.Tensor, relu: bool, scores: bool) -> str:
    """:func:`conv_layer`'s path: ``"data"`` (training, an input that needs no gradient: the first
    layer as one im2col product with a weight-only backward), ``"sparse_grad"`` (training, the
    scores layer: only the channels that can fire, and a backward on those that did),
    ``"sparse"`` (inference, the scores layer: only the channels that can fire) or ``"plain"``
    (torch's conv1d). The sparse paths prune on data-dependent counts, so on a GPU they would
    only add syncs: CPU only."""
    training = torch.is_grad_enabled() and weight.requires_grad
    sparse = relu and scores and x.device.type == "cpu"
    if training and not x.requires_grad:
        return "data"
    if training and sparse:
        return "sparse_grad"
    return "sparse" if sparse else "plain"


def _compiled_inference(final_relu: bool, head: object, affine: object) -> bool:
    """The compiled encode + reconstruct takes ReLU scores (an AE) and an affine normaliser."""
    return _kernels.ENABLED and final_relu and head is None and affine is not None


def takes_compiled_ae_objective(
    x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor | None]], others: Iterable[torch.Tensor] = ()
) -> bool:
    """Whether :func:`compiled_ae_objective` takes this training step: compiled kernels enabled,
    gradients wanted, odd widths with biases, float32 on the CPU (the batch ``x``, the layers
    and ``others``, e.g. the decoder's parameters), an ``x`` that needs no gradient."""
    tensors = [t for w, b in layers for t in (w, b)] + list(others)
    return (
        _kernels.ENABLED
        and torch.is_grad_enabled()
        and all(b is not None and w.shape[-1] % 2 == 1 for w, b in layers)
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not x.requires_grad
        and all(t is not None and t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
    )


@contextmanager
def small_input_threads(frames: int) -> Iterator[None]:
    """Run one short utterance on a single intra-op thread, then restore the thread count.

    The per-utterance tensors are small: splitting each op over threads costs more in
    synchronisation than it saves, and a busy machine makes it much worse.
    """
    with torch_threads(1 if frames <= ONE_THREAD_FRAMES else None):
        yield
