"""The torch backend of :mod:`gesturekit.units.ops`: private, called only there.

Sections: the convolutive sum (one function, four engines) and its two CNMF companions
(``adjoint``, ``correlate``); the decoder's differentiable sum with a hand-written backward;
encoder conv layers (im2col products, the interval bound that proves a ReLU channel silent, and
the two autograd functions that use them); the four score sums of the sparsity terms; and the
frozen-network inference of one utterance (:class:`FrozenNet`).

The formulas and shapes are those of :mod:`gesturekit.units.ops`; the "why" of each speed path
is in its docstring, the measurements behind them in docs/units-kernels.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

#: Added to both norms of the Hoyer sparseness (as in the reference), shared with the compiled backend.
EPS = 1e-6

# ---------------------------------------------------------------------------------------------
# The convolutive sum


def _nfft(width: int) -> int:
    n = 64
    while n < 6 * width:
        n *= 2
    return n


def _fft_full_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Full linear convolution summed over input channels by block (overlap-add) FFT with short
    transforms: ``x`` ``(batch, cin, T)``, ``w`` ``(cout, cin, K)`` -> ``(batch, cout, T + K - 1)``,
    ``y[b, o, s] = sum_i sum_k w[o, i, k] x[b, i, s - k]``."""
    B, cin, T = x.shape
    cout, _, K = w.shape
    nfft = _nfft(K)
    L = nfft - K + 1
    nb = -(-T // L)
    xb = F.pad(x, (0, nb * L - T)).reshape(B, cin, nb, L)
    Xf = torch.fft.rfft(xb, n=nfft)  # (B, cin, nb, F)
    Wf = torch.fft.rfft(w, n=nfft)  # (cout, cin, F)
    # (F, cout, cin) @ (F, cin, B*nb) -> (F, cout, B*nb)
    Xm = Xf.permute(3, 1, 0, 2).reshape(Xf.shape[-1], cin, B * nb).contiguous()
    Yf = torch.matmul(Wf.permute(2, 0, 1).contiguous(), Xm)
    Yf = Yf.reshape(-1, cout, B, nb).permute(2, 1, 3, 0).contiguous()  # (B, cout, nb, F)
    yb = torch.fft.irfft(Yf, n=nfft)  # (B, cout, nb, nfft)
    out = x.new_zeros(B, cout, (nb + 1) * L)
    out[..., : nb * L] = yb[..., :L].reshape(B, cout, nb * L)
    tails = F.pad(yb[..., L:], (0, L - (K - 1))).reshape(B, cout, nb * L)
    out[..., L:] += tails
    return out[..., : T + K - 1]


def overlap_add(wm: torch.Tensor, h: torch.Tensor, width: int, offset: int) -> torch.Tensor:
    """The "gemm" engine: ``p = wm @ h`` with ``wm`` ``(channels * width, gestures)`` (the gestures
    as :func:`gesture_matrix`), one batched product with no copy of ``h`` ``(batch, gestures,
    time)``, then the ``width`` tap planes ``p[:, :, j]`` added at their shifts: ``(batch,
    channels, time)`` (a 2-d ``h`` is one utterance: ``(1, channels, time)``). Each add is one
    vectorised ``(batch, channels, time)`` add."""
    t = h.shape[-1]
    p = torch.matmul(wm, h)
    p = p.view(-1, p.shape[-2] // width, width, t)  # (batch, channels, width, time)
    out = h.new_zeros(p.shape[0], p.shape[1], t + width - 1)
    for j in range(width):  # width vectorised adds
        out[:, :, j : j + t] += p[:, :, j]
    return out[:, :, offset : offset + t]


def gesture_matrix(w: torch.Tensor) -> torch.Tensor:
    """Gestures ``(channels, gestures, width)`` as the ``(channels * width, gestures)`` matrix of
    :func:`overlap_add`."""
    c, g, k = w.shape
    return w.permute(0, 2, 1).reshape(c * k, g)


def convolutive_sum(
    h: torch.Tensor, w: torch.Tensor, offset: int, engine: str, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``y[b, a, t] = bias[a] + sum_g sum_k w[a, g, k] h[b, g, t - k + offset]`` (zero outside
    ``h``): ``h`` ``(batch, gestures, time)``, ``w`` ``(channels, gestures, width)`` ->
    ``(batch, channels, time)``.

    Engines: ``"direct"`` (torch's conv1d with the flipped gestures), ``"fft"`` (block FFT; the
    direct form for inputs shorter than four widths), ``"im2col"`` (:func:`conv1d_im2col`: where
    torch's CPU conv1d takes a slow path) and ``"gemm"`` (:func:`overlap_add`; differentiable with
    its own backward as :class:`OverlapAddSum`).
    """
    t, k = h.shape[-1], w.shape[-1]
    if engine == "gemm":
        y = OverlapAddSum.apply(h, w, offset)
        return y if bias is None else y + bias[:, None]
    if engine == "fft" and t >= 4 * k:
        y = _fft_full_conv(h, w)[..., offset : offset + t]
        return y if bias is None else y + bias[:, None]
    if engine == "im2col":
        return conv1d_im2col(h, w.flip(-1), bias, k - 1 - offset)
    if engine not in ("direct", "fft"):
        raise ValueError(f"unknown engine {engine!r}")
    # the full convolution, then the `t` outputs from `offset`
    return F.conv1d(F.pad(h, (k - 1, k - 1)), w.flip(-1), bias)[..., offset : offset + t]


def correlate(R: torch.Tensor, H: torch.Tensor, width: int, offset: int, engine: str) -> torch.Tensor:
    """``D[b, a, g, k] = sum_t R[b, a, t] H[g, t - k + offset]``: ``R`` ``(batch, A, T)``, ``H``
    ``(G, T)`` -> ``(batch, A, G, width)``."""
    B, A, T = R.shape
    G = H.shape[0]
    K = width
    Hp = F.pad(H, (K - 1 - offset, offset))  # Hp[g, s] = H[g, s - (K-1-offset)], length T+K-1
    if engine == "direct" or T < 4 * K:
        # out[g, b*A + a, j] = sum_t R[b, a, t] Hp[g, t + j]; k = K-1-j
        out = F.conv1d(Hp.unsqueeze(1), R.reshape(B * A, 1, T))
        return out.flip(-1).reshape(G, B, A, K).permute(1, 2, 0, 3)
    nfft = _nfft(K)
    L = nfft - K + 1
    nb = -(-T // L)
    Rf = torch.fft.rfft(F.pad(R, (0, nb * L - T)).reshape(B, A, nb, L), n=nfft)  # (B, A, nb, F)
    Hseg = F.pad(Hp, (0, nb * L - T)).unfold(-1, nfft, L)  # (G, nb, nfft)
    Hf = torch.fft.rfft(Hseg, n=nfft)  # (G, nb, F)
    nF = Hf.shape[-1]
    # S[f, b*A+a, g] = sum_blk conj(Rf[b, a, blk, f]) Hf[g, blk, f]
    Rm = Rf.conj().permute(3, 0, 1, 2).reshape(nF, B * A, nb).contiguous()
    Hm = Hf.permute(2, 1, 0).contiguous()  # (F, nb, G)
    S = torch.matmul(Rm, Hm)  # (F, B*A, G)
    corr = torch.fft.irfft(S.permute(1, 2, 0).contiguous(), n=nfft)[..., :K]  # lag j
    return corr.flip(-1).reshape(B, A, G, K)


class OverlapAddSum(torch.autograd.Function):
    """:func:`overlap_add` of ``h`` and the gestures ``w`` with a hand-written backward.

    Backward: the output gradient, padded, is viewed as its ``width`` shifted copies ``(batch,
    channels * width, time)`` (the exact transpose of the overlap-add), and the two gradients are
    the two matching matrix products. No ``fold``/``unfold`` (im2col/col2im) call.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, centre: int) -> torch.Tensor:  # type: ignore[override]
        c, g, k = w.shape
        wm = gesture_matrix(w)
        ctx.save_for_backward(h, wm)
        ctx.dims = (c, g, k, centre)
        return overlap_add(wm, h, k, centre)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        h, wm = ctx.saved_tensors
        c, g, k, centre = ctx.dims
        b, _, t = grad.shape
        n = t + k - 1
        gp = F.pad(grad, (centre, k - 1 - centre))  # (batch, channels, time + width - 1)
        gcol = gp.as_strided((b, c, k, t), (c * n, n, 1, 1)).reshape(b, c * k, t)
        grad_h = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_h = torch.matmul(wm.t(), gcol)  # (batch, gestures, time)
        if ctx.needs_input_grad[1]:
            gwm = torch.matmul(gcol, h.transpose(1, 2)).sum(0)  # (channels * width, gestures)
            grad_w = gwm.view(c, k, g).permute(0, 2, 1)
        return grad_h, grad_w, None


def decode_used(h: torch.Tensor, w: torch.Tensor, centre: int) -> torch.Tensor:
    """:class:`OverlapAddSum` of the ReLU scores ``h`` on the gestures with a positive score in the
    batch (the others are left out of the three products; exact, see the op's docstring)."""
    used = torch.nonzero(h.detach().amax((0, 2)) > 0).flatten()
    if len(used) < 0.75 * h.shape[1]:
        return OverlapAddSum.apply(h.index_select(1, used), w.index_select(1, used), centre)
    return OverlapAddSum.apply(h, w, centre)


# ---------------------------------------------------------------------------------------------
# Encoder conv layers


def im2col(x: torch.Tensor, k: int, left: int) -> torch.Tensor:
    """``(batch, in, time)`` -> its width-``k`` windows ``(batch, in * k, time)``, zero-padded by
    ``left`` frames before and ``k - 1 - left`` after (a strided view of the padded input, copied
    once)."""
    b, c, t = x.shape
    n = t + k - 1
    xp = F.pad(x, (left, k - 1 - left)).contiguous()
    return xp.as_strided((b, c, k, t), (c * n, n, 1, 1)).reshape(b, c * k, t)


def col_product(col: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Windows from :func:`im2col` times a conv weight ``(out, in, k)`` (+ bias): ``(batch, out,
    time)``, one batched matrix product."""
    o = weight.shape[0]
    wm = weight.reshape(o, -1)
    if bias is None:
        return torch.matmul(wm, col)
    return torch.baddbmm(bias.view(1, o, 1), wm.expand(col.shape[0], -1, -1), col)


def conv1d_im2col(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, left: int) -> torch.Tensor:
    """``conv1d`` of ``x`` zero-padded by ``(left, k - 1 - left)``, as :func:`im2col` and one
    product: faster than torch's CPU conv1d where that takes a slow path (the scores layer of a
    training batch; decoding many gestures)."""
    return col_product(im2col(x, weight.shape[-1], left), weight, bias)


def bound_weights(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out, in, width)`` conv weight -> its positive and negative parts summed over the taps,
    ``(out, in)`` each: what :func:`channels_that_can_fire` needs (precompute them for a frozen
    layer)."""
    return weight.clamp(min=0).sum(-1), weight.clamp(max=0).sum(-1)


def channels_that_can_fire(
    x: torch.Tensor, parts: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor | None
) -> torch.Tensor:
    """Output channels of ``conv1d(x, weight, bias)`` (zero padding) that may be positive
    somewhere in ``x`` ``(batch, in, time)``: a bool ``(out,)``.

    Interval arithmetic: every input of channel ``c`` lies in ``[lo_c, hi_c]`` (its range in
    ``x``, widened to hold the zero padding), so output ``o`` is at most ``b_o + sum_c P[o, c]
    hi_c + N[o, c] lo_c`` (``P``, ``N``: :func:`bound_weights`). A channel whose bound is below
    zero, by a margin far above float32 rounding, is zero everywhere after a ReLU: a proof, not a
    guess. NaNs count as able to fire, so they still reach the output.
    """
    return can_fire_in_range(x.amax((0, 2)).clamp(min=0), x.amin((0, 2)).clamp(max=0), parts, bias)


#: torch tensors or numpy arrays (one bound rule serves training and numpy inference)
_Array = TypeVar("_Array", torch.Tensor, np.ndarray)


def can_fire_in_range(
    hi: _Array, lo: _Array | None, parts: tuple[_Array, _Array], bias: _Array | None
) -> _Array:
    """The rule of :func:`channels_that_can_fire` on the inputs' per-channel range ``hi >= 0``,
    ``lo <= 0`` (``lo`` ``None``: inputs known non-negative), for torch tensors or numpy arrays
    alike (a frozen model's inference bounds in numpy, a few microseconds per utterance)."""
    pos, neg = parts
    up = size = pos @ hi
    if lo is not None:
        up, size = up + neg @ lo, size - neg @ lo
    if bias is not None:
        up, size = up + bias, size + abs(bias)
    return ~(up <= -1e-4 * size)


def relu_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pad: int) -> torch.Tensor:
    """``relu(conv1d(x, weight, bias, padding=pad))``, computing only the output channels that
    :func:`channels_that_can_fire` (the rest are exact zeros): once sparse training has
    concentrated the scores, the bound proves most gestures silent for a whole utterance or
    batch, and the layer's cost falls with them."""
    can = channels_that_can_fire(x, bound_weights(weight), bias)
    live = torch.nonzero(can).flatten()
    if len(live) > 0.75 * weight.shape[0]:
        return conv1d_im2col(x, weight, bias, pad).relu_()
    y = x.new_zeros(x.shape[0], weight.shape[0], x.shape[-1])
    if len(live):
        b = bias.index_select(0, live) if bias is not None else None
        y.index_copy_(1, live, F.conv1d(x, weight.index_select(0, live), b, padding=pad).relu_())
    return y


class Conv1dOfData(torch.autograd.Function):
    """A "same" conv1d ``(batch, in, time)`` -> ``(batch, out, time)`` whose input needs no gradient
    (the encoder's first layer, on the data): the same sum as ``F.conv1d`` as one unfold
    (im2col: a strided view of the padded input, copied once) and one matrix product; its
    backward is only the weight and bias gradients, two more products (faster than oneDNN's conv
    on the CPU for the encoder's small first layer)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pad: int
    ) -> torch.Tensor:
        c, k = x.shape[1], weight.shape[-1]
        col = im2col(x, k, pad)
        ctx.save_for_backward(col)
        ctx.dims = (c, k, bias is not None)
        return col_product(col, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (col,) = ctx.saved_tensors
        c, k, has_bias = ctx.dims
        o = grad.shape[1]
        grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_w = torch.matmul(grad, col.transpose(1, 2)).sum(0).view(o, c, k)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2))
        return None, grad_w, grad_b, None


class ConvReLU(torch.autograd.Function):
    """``relu(conv1d(x))`` "same" (forward: :func:`relu_conv1d`), whose backward works only on
    the output channels that are positive somewhere in the batch.

    A sparse-trained model leaves many gestures unused in a batch (all-zero rows of the scores),
    and the ReLU passes them no gradient: skipping those rows in the two backward convolutions is
    exact (their gradient is zero), and the layer's backward shrinks with the share in use.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pad: int
    ) -> torch.Tensor:
        y = relu_conv1d(x, weight, bias, pad)
        ctx.save_for_backward(x, weight, y)
        ctx.pad, ctx.has_bias = pad, bias is not None
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight, y = ctx.saved_tensors
        alive = torch.nonzero(y.amax((0, 2)) > 0).flatten()
        o = weight.shape[0]
        if len(alive) == 0:
            return (torch.zeros_like(x) if ctx.needs_input_grad[0] else None, torch.zeros_like(weight),
                    weight.new_zeros(o) if ctx.has_bias else None, None)  # fmt: skip
        some = len(alive) < o
        if some:
            grad, y, w = grad.index_select(1, alive), y.index_select(1, alive), weight.index_select(0, alive)
        else:
            w = weight
        g = torch.ops.aten.threshold_backward(grad, y, 0.0)  # ReLU's own backward (cheaper than a bool product)
        gx, gw, gb = torch.ops.aten.convolution_backward(
            g, x, w, [w.shape[0]] if ctx.has_bias else None, [1], [ctx.pad], [1], False, [0], 1,
            [ctx.needs_input_grad[0], True, ctx.has_bias],
        )  # fmt: skip
        if some:
            grad_w = weight.new_zeros(weight.shape).index_copy_(0, alive, gw)
            grad_b = weight.new_zeros(o).index_copy_(0, alive, gb) if ctx.has_bias else None
        else:
            grad_w, grad_b = gw, gb
        return gx, grad_w, grad_b, None


# ---------------------------------------------------------------------------------------------
# The sparsity terms' sums


class ScoreNorms(torch.autograd.Function):
    """The four sums the Hoyer terms need, in one pass and with a fused backward.

    ``h`` ``(batch, gestures, time)``, ``mask`` ``(batch, 1, time)`` or ``None`` (no padding) ->
    ``(sum over gestures, sum of squares over gestures)`` ``(batch, time)`` and ``(sum over real
    frames, sum of squares over real frames)`` ``(batch, gestures)``. The backward is
    ``a + 2 h b`` with ``a``, ``b`` the broadcast output gradients (one ``addcmul``), instead of
    autograd's two squares, four expands and their accumulations.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, mask: torch.Tensor | None):  # type: ignore[override]
        sq = h.square()
        hm, sqm = (h, sq) if mask is None else (h * mask, sq * mask)
        ctx.save_for_backward(h, mask)
        return h.sum(1), sq.sum(1), hm.sum(-1), sqm.sum(-1)

    @staticmethod
    def backward(ctx, g1c, g2c, g1t, g2t):  # type: ignore[override]
        h, mask = ctx.saved_tensors
        g1t, g2t = g1t[:, :, None], g2t[:, :, None]
        if mask is not None:
            g1t, g2t = g1t * mask, g2t * mask
        a = g1c[:, None, :] + g1t  # (batch, gestures, time)
        b = g2c[:, None, :] + g2t
        return torch.addcmul(a, h, b, value=2.0), None


# ---------------------------------------------------------------------------------------------
# Frozen-network inference, one utterance at a time

#: After an utterance whose interval bound left more than 3/4 of the gestures able to fire, the
#: next ``BOUND_REST`` utterances skip the bound (see :meth:`FrozenNet.encode_rows`).
BOUND_REST = 7


class FrozenNet:
    """The encoder and decoder as plain conv1d / matmul calls on frozen tensors (no autograd).

    ``layers``: the encoder's ``(weight, bias)``, a ReLU after each but the last unless
    ``final_relu``; ``head`` maps the last layer's output to the scores (the VAE's posterior
    mean; ``None``: the output is the scores); ``gestures`` ``(channels, gestures, width)`` and the
    decoder's ``centre``. ``(1, channels, time)`` -> scores ``(1, gestures, time)``; scores ->
    ``(1, channels, time)``. With ``affine`` (the normaliser's ``shift``, ``scale`` as
    ``(channels, 1)`` tensors), :meth:`reconstruct` and ``decode(..., data_units=True)`` return
    data units, the scaling folded into the gestures and the shift into a bias.

    One utterance is small, so a fixed cost of a few microseconds per torch call weighs as much
    as the arithmetic: the sparse paths below are written to make few calls.
    """

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]], final_relu: bool,
                 head: Callable[[torch.Tensor], torch.Tensor] | None, gestures: torch.Tensor, centre: int,
                 affine: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:  # fmt: skip
        self.layers = [
            (w.detach().clone().contiguous(), b.detach().clone().contiguous(), w.shape[-1] // 2)
            for w, b in layers
        ]
        self.final_relu = final_relu
        self.head = head
        w_last, b_last, _ = self.layers[-1]
        # the last layer's interval bound (channels_that_can_fire) as numpy arrays: a bound
        # per utterance then costs a few microseconds
        self.bound_parts = tuple(t.numpy() for t in bound_weights(w_last))
        self.bound_bias = b_last.numpy()  # a view of the layer's bias
        self.last_input_nonneg = len(self.layers) > 1  # the output of a ReLU
        w = gestures.detach()
        self.w_dec = gesture_matrix(w).contiguous()  # (channels * width, gestures)
        self.gestures = w
        self.affine = affine
        self.w_data = w  # data units: the scale folded into the gestures
        if affine is not None:
            self.w_data = w * affine[1][:, :, None]
        self.width = w.shape[-1]
        self.centre = centre
        self._bound_rest = 0  # utterances left to run without the bound

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_rows(x)[0]

    def encode_rows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(scores, rows, scores[0, rows])``: ``rows`` are the gestures that may be non-zero
        (``None``: any may be).

        The last layer, when it ends in a ReLU, computes only the gestures that can fire on
        this input (:func:`channels_that_can_fire`). The bound costs a fraction of an
        utterance's encoding and, on a well-trained model, leaves nearly every gesture able to
        fire; so after it fails to remove a quarter of them, the next :data:`BOUND_REST`
        utterances run the plain layer (the scores are the same either way).
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
        return (x if self.head is None else self.head(x)), None, None

    def _rows_that_can_fire(self, a: torch.Tensor) -> np.ndarray:
        """:func:`channels_that_can_fire` on the last layer's input ``(in, time)``, in numpy on
        the precomputed weight parts: indices."""
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
        """Scores of a few gestures ``(rows, time)`` -> ``(1, channels, time)``: a conv on them
        alone (the shift as its bias)."""
        data_units = data_units and self.affine is not None
        shift = self.affine[0][:, 0] if data_units else None  # type: ignore[index]
        if len(rows) == 0:
            y = hr.new_zeros(1, self.gestures.shape[0], hr.shape[-1])
            return y + shift[:, None] if shift is not None else y
        w = (self.w_data if data_units else self.gestures).index_select(1, rows)
        engine = "im2col" if len(rows) > 16 else "direct"  # torch's conv1d is slow past 16 inputs here
        return convolutive_sum(hr[None], w, self.centre, engine, shift)

    def decode(self, h: torch.Tensor, data_units: bool = False, nonneg: bool = False) -> torch.Tensor:
        """:func:`overlap_add` of the scores ``(batch, gestures, time)``.

        Sparse scores: for one utterance, gestures whose scores are all zero are left out of the
        product (exact: they contribute nothing), which a sparse-trained model makes common.
        ``nonneg``: the scores are known to be >= 0 (the encoder's), so one pass finds the used ones.
        """
        b, g, t = h.shape
        w = self.w_dec
        if b == 1:
            h = h.reshape(g, t)
            nonzero = h.amax(-1) > 0 if nonneg else (h.amax(-1) > 0) | (h.amin(-1) < 0)
            used = torch.nonzero(nonzero).flatten()
            if len(used) <= 0.25 * g:  # few gestures: a conv on them beats the tap planes
                return self._decode_few(h.index_select(0, used), used, data_units)
            if len(used) < 0.75 * g:  # sparse scores: gestures with an all-zero row add nothing
                w, h = w.index_select(1, used), h.index_select(0, used)
        out = overlap_add(w, h, self.width, self.centre)
        if data_units and self.affine is not None:
            out = torch.addcmul(self.affine[0], out, self.affine[1])
        return out
