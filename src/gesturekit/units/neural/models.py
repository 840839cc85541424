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

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gesturekit.errors import ConfigError
from gesturekit.units import ops


@dataclass
class NetConfig:
    """The network of a neural CNMF (``ae`` or ``vae``): passed to :class:`AECNMF` /
    :class:`VAECNMF` and saved with the weights (``hparams["net"]`` of the checkpoint's meta).

    It is also the ``net`` section of a training config
    (:class:`~gesturekit.units.neural.config.NeuralUnitsConfig`), whose shared top-level
    ``gestures`` and ``width`` fill the first two fields (:meth:`NeuralUnitsConfig.net_config`).
    """

    gestures: int = 40
    width: int = 41
    hidden: int = 0  # encoder channels; 0: the number of input channels (the reference)
    kernels: list[int] = field(default_factory=lambda: [15, 3, 3])
    decoder: str = "signed"  # signed (semi-NMF) | softplus | exp (non-negative gestures)
    prior_rate: float = 1.0  # VAE: rate of the exponential prior on each score
    phone_head: bool = False  # CTC phone recogniser on the scores (trained on labelled data only)
    phone_hidden: int = 128
    phone_layers: int = 2
    min_log_sigma: float = -6.0  # VAE: clamp of the posterior's log standard deviation
    max_log_sigma: float = 2.0

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "net") -> NetConfig:
        """A saved ``NetConfig`` (``config_to_dict`` of one; older saves lack later keys, which take
        their defaults); a key it does not know is a :class:`~gesturekit.errors.ConfigError`
        naming it (``where``: the file and section, for the message)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown network option(s) {unknown}; known: {sorted(names)}")
        return cls(**values)


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

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's ``(weight (out, in, width), bias (out,))``."""
        return [(conv.weight, conv.bias) for conv in self.convs]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n = len(self.convs)
        for i, (w, b) in enumerate(self.layers()):
            last = i == n - 1
            x = ops.conv_layer(x, w, b, relu=not last or self.final_relu, scores=last)
            if mask is not None:
                x = x * mask
        return x


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

    def forward(self, h: torch.Tensor, relu_scores: bool = False) -> torch.Tensor:
        """``x_hat[b, a, t] = sum_g sum_k W[a, g, k] h[b, g, t - k + centre]`` (``relu_scores``: ``h``
        is a ReLU output, see :func:`~gesturekit.units.ops.reconstruct`)."""
        return ops.reconstruct(self.gestures(), h, self.centre, relu_scores=relu_scores)


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
        :func:`~gesturekit.units.ops.reconstruct`; only for scores this network's ReLU made)."""
        out = self.decoder(h, relu_scores)
        return out if mask is None else out * mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"x_hat", "h"}`` (+ ``"log_probs"`` with a phone head; needs ``mask``)."""
        m = active_mask(mask)
        h = self.encode(x, m)
        return self._outputs(h, mask, {"x_hat": self.decode(h, m, relu_scores=self._relu), "h": h})

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
        return self.split_posterior(self.encoder(x, mask))

    def split_posterior(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output ``(batch, 2 gestures, time)`` -> ``(mu, log_sigma)``, clamped."""
        mu, log_sigma = z.chunk(2, dim=1)
        log_sigma = log_sigma.clamp(self.cfg.min_log_sigma, self.cfg.max_log_sigma)
        mu = mu.clamp(-20.0, 8.0)
        return mu, log_sigma

    def mean_scores(self, z: torch.Tensor) -> torch.Tensor:
        """The encoder's output -> the posterior mean of the scores."""
        return self.posterior_mean(*self.split_posterior(z))

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
