"""Neural convolutive NMF: a 1-D conv encoder to non-negative gestural scores, and a convolutive
decoder whose weights are the gestures.

Shapes: EMA ``x`` is ``(batch, channels, time)``; scores ``h`` are ``(batch, gestures, time)``;
gestures ``W`` are ``(channels, gestures, width)``; ``mask`` is ``(batch, 1, time)`` with 1 on
real frames and 0 on padding. The reconstruction is the centred convolutive sum

    x_hat[a, t] = sum_g sum_k W[a, g, k] * h[g, t - k + c],   c = (width - 1) // 2,

so an impulse of gesture ``g`` at frame ``tau`` plays ``W[:, g, :]`` forward in time from
``tau - c`` (spec 2.1/2.3). Every layer re-zeroes padded frames, so a padded batch gives the same
scores and reconstruction on each utterance's real frames as that utterance run alone.

- :class:`ConvEncoder`: conv(15) -> ReLU -> conv(3) -> ReLU -> conv(3) -> ReLU (spec S4).
- :class:`ConvDecoder`: ``signed`` gestures (the reference's semi-NMF) or ``nonneg`` gestures
  (``softplus`` or ``exp`` of a free parameter), for non-negative data.
- :class:`AECNMF`: encoder + decoder (+ optional CTC phone head on the scores).
- :class:`VAECNMF`: the encoder outputs a log-normal posterior over each score with an
  exponential (sparsity-inducing) prior; closed-form KL; ``sample`` or posterior ``mean``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class NetConfig:
    """Architecture of the neural CNMF (the reference S4 defaults)."""

    gestures: int = 40
    width: int = 41
    hidden: int = 0  # encoder channels; 0: the number of input channels (the reference)
    kernels: list[int] = field(default_factory=lambda: [15, 3, 3])
    decoder: str = "signed"  # signed | softplus | exp
    # VAE
    prior_rate: float = 1.0  # rate of the exponential prior on each score
    phone_hidden: int = 128
    phone_layers: int = 2
    min_log_sigma: float = -6.0
    max_log_sigma: float = 2.0


def lengths_to_mask(lengths: torch.Tensor, time: int) -> torch.Tensor:
    """``(batch,)`` lengths -> ``(batch, 1, time)`` float mask."""
    t = torch.arange(time, device=lengths.device)
    return (t[None, :] < lengths[:, None]).unsqueeze(1).to(torch.float32)


def active_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """``mask``, or ``None`` when it has no padded frame (multiplying by ones is wasted work)."""
    if mask is None or bool(mask.min() > 0):
        return None
    return mask


class ConvEncoder(nn.Module):
    """``(batch, channels, time)`` -> ``(batch, out, time)``; "same" 1-D convs, ReLU between.

    ``final_relu=False`` leaves the last layer linear (the VAE's posterior parameters).
    """

    def __init__(self, channels: int, out: int, hidden: int, kernels: list[int], final_relu: bool = True):
        super().__init__()
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"encoder kernels must be odd, got {kernels}")
        sizes = [channels] + [hidden] * (len(kernels) - 1) + [out]
        self.convs = nn.ModuleList(
            nn.Conv1d(sizes[i], sizes[i + 1], k, padding=k // 2) for i, k in enumerate(kernels)
        )
        self.final_relu = final_relu

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n = len(self.convs)
        for i, conv in enumerate(self.convs):
            relu = i < n - 1 or self.final_relu
            training = torch.is_grad_enabled() and conv.weight.requires_grad
            # the sparse paths prune on data-dependent counts: on a GPU they would only add syncs
            sparse = relu and i == n - 1 and x.device.type == "cpu"
            if training and not x.requires_grad:
                x = _Conv1dOfData.apply(x, conv.weight, conv.bias, conv.padding[0])  # the first layer
                x = F.relu(x) if relu else x
            elif training and sparse:
                x = _ConvReLU.apply(x, conv.weight, conv.bias, conv.padding[0])  # the scores
            elif sparse:
                x = relu_conv1d(x, conv.weight, conv.bias, conv.padding[0])
            else:
                x = conv(x)
                x = F.relu(x) if relu else x
            if mask is not None:
                x = x * mask
        return x


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
    :func:`channels_that_can_fire` (the rest are exact zeros).

    The encoder's last layer makes the scores; once sparse training has concentrated them, the
    bound proves most gestures silent for a whole utterance or batch (with the reference
    configuration on mngu0: 97 of 100), and the layer's cost falls with them.
    """
    can = channels_that_can_fire(x, bound_weights(weight), bias)
    live = torch.nonzero(can).flatten()
    if len(live) > 0.75 * weight.shape[0]:
        return conv1d_im2col(x, weight, bias, pad).relu_()
    y = x.new_zeros(x.shape[0], weight.shape[0], x.shape[-1])
    if len(live):
        b = bias.index_select(0, live) if bias is not None else None
        y.index_copy_(1, live, F.conv1d(x, weight.index_select(0, live), b, padding=pad).relu_())
    return y


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
    product. Where torch's CPU conv1d takes a slow path it is faster: 1.4x for the scores layer of
    a training batch (16 x 12 x 500 -> 100 channels, width 3), 2x for decoding 17 or more gestures
    of width 10 (from 17 input channels on conv1d's time doubles)."""
    return col_product(im2col(x, weight.shape[-1], left), weight, bias)


class _Conv1dOfData(torch.autograd.Function):
    """A "same" conv1d ``(batch, in, time)`` -> ``(batch, out, time)`` whose input needs no gradient
    (the encoder's first layer, on the data): the same sum as ``F.conv1d`` as one unfold
    (im2col: a strided view of the padded input, copied once) and one matrix product; its
    backward is only the weight and bias gradients, two more products. About three times as
    fast as oneDNN's conv on the CPU for the encoder's 12 -> 12 x 15 layer (forward + backward).
    """

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


class _ConvReLU(torch.autograd.Function):
    """``relu(conv1d(x))`` "same" (forward: :func:`relu_conv1d`), whose backward works only on
    the output channels that are positive somewhere in the batch.

    The encoder's last layer makes the scores; a sparse-trained model leaves many gestures unused
    in a batch (all-zero rows), and the ReLU passes them no gradient. Skipping those rows in the
    two backward convolutions is exact (their gradient is zero) and, with 3 of 100 gestures in
    use, makes the layer's backward about 30 times cheaper.
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
        g = torch.ops.aten.threshold_backward(grad, y, 0.0)  # ReLU's own backward: 7x a bool product
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


class ConvDecoder(nn.Module):
    """Convolutive decoder: ``(batch, gestures, time)`` scores -> ``(batch, channels, time)``.

    ``kind="signed"``: gestures are the free parameter (semi-NMF, as the reference).
    ``kind="softplus"|"exp"``: gestures are ``softplus(V)`` / ``exp(V)`` and so always >= 0.
    """

    def __init__(self, channels: int, gestures: int, width: int, kind: str = "signed"):
        super().__init__()
        if kind not in ("signed", "softplus", "exp"):
            raise ValueError(f"decoder must be signed, softplus or exp, not {kind!r}")
        if width < 1:
            raise ValueError("gesture width must be at least 1 frame")
        self.kind = kind
        self.width = width
        self.centre = (width - 1) // 2
        self.param = nn.Parameter(torch.randn(channels, gestures, width) * 0.01)

    @property
    def nonneg(self) -> bool:
        return self.kind != "signed"

    def gestures(self) -> torch.Tensor:
        """The gesture tensor ``(channels, gestures, width)`` (non-negative for nonneg kinds)."""
        if self.kind == "softplus":
            return F.softplus(self.param)
        if self.kind == "exp":
            return torch.exp(self.param)
        return self.param

    @torch.no_grad()
    def set_gestures(self, w: torch.Tensor) -> None:
        """Set the parameter so that :meth:`gestures` returns ``w`` (clamped >= 1e-6 when nonneg)."""
        w = w.to(self.param)
        if self.kind == "softplus":
            w = w.clamp_min(1e-6)
            w = w + torch.log(-torch.expm1(-w))  # inverse softplus
        elif self.kind == "exp":
            w = torch.log(w.clamp_min(1e-6))
        self.param.copy_(w)

    def conv_weight(self) -> torch.Tensor:
        """The conv1d weight ``(channels, gestures, width)``: the time-flipped gestures."""
        return self.gestures().flip(-1)

    def forward(self, h: torch.Tensor, relu_scores: bool = False) -> torch.Tensor:
        return convolutive_decode(h, self.gestures(), self.centre, relu_scores)


def convolutive_decode(
    h: torch.Tensor, w: torch.Tensor, centre: int, relu_scores: bool = False
) -> torch.Tensor:
    """``x_hat[b, a, t] = sum_g sum_k w[a, g, k] h[b, g, t - k + centre]`` (zero outside ``h``).

    ``h`` ``(batch, gestures, time)``, ``w`` ``(channels, gestures, width)`` -> ``(batch, channels,
    time)``. See :class:`_ConvolutiveDecode` (the same sum as a padded conv1d with the flipped
    gestures, about two and a half times as fast on the CPU, forward and backward).

    ``relu_scores``: ``h`` is a ReLU output, so its gradient is used only where it is positive.
    Gestures with no positive score in the whole batch then add nothing to the output or to
    ``w``'s gradient, and their ``h`` gradient is discarded by the ReLU: they are left out of the
    three products (returned gradient 0 on their rows). Exact for every trained parameter.
    """
    if relu_scores:
        used = torch.nonzero(h.detach().amax((0, 2)) > 0).flatten()
        if len(used) < 0.75 * h.shape[1]:
            return _ConvolutiveDecode.apply(h.index_select(1, used), w.index_select(1, used), centre)
    return _ConvolutiveDecode.apply(h, w, centre)


class _ConvolutiveDecode(torch.autograd.Function):
    """The convolutive sum as one matrix product and an overlap-add, with a hand-written backward.

    Forward: ``p = (channels * width, gestures) @ h`` (one batched product, no copy of ``h``),
    then the ``width`` tap planes ``p[:, :, j]`` ``(batch, channels, time)`` are added at their
    shifts. Backward: the output gradient, padded, is viewed as its ``width`` shifted copies
    ``(batch, channels * width, time)`` (the exact transpose of the overlap-add), and the two
    gradients are the two matching matrix products. No ``fold``/``unfold`` (im2col/col2im) call.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, centre: int) -> torch.Tensor:  # type: ignore[override]
        c, g, k = w.shape
        b, _, t = h.shape
        wm = w.permute(0, 2, 1).reshape(c * k, g)
        p = torch.matmul(wm, h).view(b, c, k, t)  # (batch, channels, width, time)
        out = h.new_zeros(b, c, t + k - 1)
        for j in range(k):  # k vectorised (batch, channels, time) adds
            out[:, :, j : j + t] += p[:, :, j]
        ctx.save_for_backward(h, wm)
        ctx.dims = (c, g, k, centre)
        return out[:, :, centre : centre + t]

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


class PhoneHead(nn.Module):
    """CTC phone recogniser on the scores (spec 2.8, reduced): conv-conv-BiLSTM-linear.

    ``(batch, gestures, time)`` -> log-probabilities ``(time, batch, phones + 1)``, blank last.
    LayerNorm over channels replaces the reference's BatchNorm so padding enters no statistic.
    """

    def __init__(self, gestures: int, n_phones: int, hidden: int = 128, layers: int = 2):
        super().__init__()
        self.n_phones = n_phones
        self.conv1 = nn.Conv1d(gestures, hidden, 3, padding=1)
        self.norm1 = nn.LayerNorm(hidden)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.norm2 = nn.LayerNorm(hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.out = nn.Linear(2 * hidden, n_phones + 1)

    @property
    def blank(self) -> int:
        return self.n_phones

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lengths, h.shape[-1])
        z = self.conv1(torch.log1p(h)) * mask
        z = F.elu(self.norm1(z.transpose(1, 2))).transpose(1, 2) * mask
        z = self.conv2(z) * mask
        z = F.elu(self.norm2(z.transpose(1, 2)))  # (batch, time, hidden)
        packed = nn.utils.rnn.pack_padded_sequence(z, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=h.shape[-1])
        return F.log_softmax(self.out(out), dim=-1).transpose(0, 1)


class AECNMF(nn.Module):
    """Auto-encoder convolutive NMF: ``x (batch, channels, time)`` -> ``(x_hat, h)``."""

    def __init__(self, channels: int, cfg: NetConfig, n_phones: int = 0):
        super().__init__()
        self.channels = channels
        self.cfg = cfg
        hidden = cfg.hidden or channels
        self.encoder = ConvEncoder(
            channels, self._enc_out(cfg), hidden, list(cfg.kernels), final_relu=self._relu
        )
        self.decoder = ConvDecoder(channels, cfg.gestures, cfg.width, cfg.decoder)
        self.phone_head = (
            PhoneHead(cfg.gestures, n_phones, cfg.phone_hidden, cfg.phone_layers) if n_phones > 0 else None
        )

    _relu = True

    @staticmethod
    def _enc_out(cfg: NetConfig) -> int:
        return cfg.gestures

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Non-negative scores ``(batch, gestures, time)`` (zero on padding)."""
        return self.encoder(x, mask)

    def decode(
        self, h: torch.Tensor, mask: torch.Tensor | None = None, relu_scores: bool = False
    ) -> torch.Tensor:
        """Reconstruction ``(batch, channels, time)`` from scores (``relu_scores``: see
        :func:`convolutive_decode`; only for scores this network's ReLU made)."""
        out = self.decoder(h, relu_scores)
        return out if mask is None else out * mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"x_hat", "h"}`` (+ ``"log_probs"`` with a phone head; needs ``mask``)."""
        m = active_mask(mask)
        h = self.encode(x, m)
        relu_scores = self._relu and h.device.type == "cpu"  # (pruning on a GPU only adds syncs)
        return self._outputs(h, mask, {"x_hat": self.decode(h, m, relu_scores=relu_scores), "h": h})

    def _outputs(self, h: torch.Tensor, mask: torch.Tensor | None, out: dict) -> dict[str, torch.Tensor]:
        if self.phone_head is not None and mask is not None:
            out["log_probs"] = self.phone_head(h, mask[:, 0].sum(-1).to(torch.long))
        return out


class VAECNMF(AECNMF):
    """Variational CNMF: each score ``h[g, t] ~ LogNormal(mu, sigma)`` with prior ``Exp(rate)``.

    ``posterior(x)`` -> ``(mu, log_sigma)``; ``encode`` returns the posterior mean
    ``exp(mu + sigma^2 / 2)``; ``sample`` draws by reparameterisation; :meth:`kl` is the exact
    KL(LogNormal || Exponential) per score:
    ``-mu - log(sigma) - (1 + log 2pi) / 2 - log(rate) + rate * exp(mu + sigma^2 / 2)``.
    """

    _relu = False

    @staticmethod
    def _enc_out(cfg: NetConfig) -> int:
        return 2 * cfg.gestures

    def posterior(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x, mask)
        mu, log_sigma = z.chunk(2, dim=1)
        log_sigma = log_sigma.clamp(self.cfg.min_log_sigma, self.cfg.max_log_sigma)
        mu = mu.clamp(-20.0, 8.0)
        return mu, log_sigma

    @staticmethod
    def posterior_mean(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        return torch.exp(mu + 0.5 * torch.exp(2 * log_sigma))

    def sample_scores(self, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        return torch.exp(mu + torch.exp(log_sigma) * torch.randn_like(mu))

    def kl(self, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        """KL per score, same shape as ``mu``."""
        rate = self.cfg.prior_rate
        mean = self.posterior_mean(mu, log_sigma)
        return -mu - log_sigma - 0.5 * (1.0 + math.log(2 * math.pi)) - math.log(rate) + rate * mean

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mu, log_sigma = self.posterior(x, mask)
        h = self.posterior_mean(mu, log_sigma)
        return h if mask is None else h * mask

    def sample(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One draw of the scores from the posterior (zero on padding)."""
        mu, log_sigma = self.posterior(x, mask)
        h = self.sample_scores(mu, log_sigma)
        return h if mask is None else h * mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"x_hat", "h", "kl"}``: a posterior sample in training mode, the posterior mean in
        eval mode; ``kl`` per score (padding zeroed)."""
        m = active_mask(mask)
        mu, log_sigma = self.posterior(x, m)
        h = self.sample_scores(mu, log_sigma) if self.training else self.posterior_mean(mu, log_sigma)
        kl = self.kl(mu, log_sigma)
        if m is not None:
            h, kl = h * m, kl * m
        return self._outputs(h, mask, {"x_hat": self.decode(h, m), "h": h, "kl": kl})


def build_net(method: str, channels: int, cfg: NetConfig, n_phones: int = 0) -> AECNMF:
    """``"ae"`` -> :class:`AECNMF`, ``"vae"`` -> :class:`VAECNMF`."""
    if method == "ae":
        return AECNMF(channels, cfg, n_phones)
    if method == "vae":
        return VAECNMF(channels, cfg, n_phones)
    raise ValueError(f"unknown neural method {method!r}; use ae or vae")
