"""Building blocks of the CC-NCE family of co-speech models (one job each, shapes documented).

All sequence tensors are channels-first ``(batch, channels, time)`` unless a docstring says
otherwise. The blocks follow the reference (``ccnce-reference.md`` section 1): conv -> dropout ->
batch norm -> LeakyReLU(0.2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gesturekit.cospeech.data.types import TEXT_MODES, WORDPIECE_VOCAB
from gesturekit.errors import ConfigError


class ConvNormRelu(nn.Module):
    """Conv (1-D or 2-D) -> Dropout -> BatchNorm -> LeakyReLU(0.2).

    ``downsample`` gives kernel 4 / stride 2, otherwise kernel 3 / stride 1; padding
    ``(k - s) // 2`` unless given. With ``groups=g`` the channels are multiplied by ``g``.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        *,
        dim: int = 1,
        downsample: bool = False,
        kernel: int | tuple[int, int] | None = None,
        stride: int | None = None,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        p: float = 0.0,
        norm: bool = True,
    ) -> None:
        super().__init__()
        k = kernel if kernel is not None else (4 if downsample else 3)
        s = stride if stride is not None else (2 if downsample else 1)
        if padding is None:
            kk = k if isinstance(k, int) else k[0]
            padding = (kk - s) // 2
        conv = nn.Conv1d if dim == 1 else nn.Conv2d
        bn = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
        self.conv = conv(cin * groups, cout * groups, k, s, padding, groups=groups)
        self.drop = nn.Dropout(p) if p > 0 else nn.Identity()
        self.norm = bn(cout * groups) if norm else nn.Identity()
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.drop(self.conv(x))))


class CausalConv1d(nn.Conv1d):
    """A 1-D convolution padded on the left only: output ``t`` sees inputs ``t - context .. t``
    (``context = (kernel - 1) * dilation``), never a later one.

    Offline it pads with ``context`` zero frames. While ``cache`` is a dict (a stream's state,
    set by :func:`stream_caches`) it instead prepends the last ``context`` input frames it kept
    from the previous call (zeros at the stream's start, as offline), so a sequence fed in
    pieces gives the frames of one offline pass: the streaming state is these tails alone.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, dilation: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, 1, 0, dilation, groups)
        self.context = (kernel - 1) * dilation
        self.cache: dict[nn.Module, torch.Tensor] | None = None
        self._taps: list[torch.Tensor] = []
        self._bias = torch.zeros(0)
        self._taps_key: tuple[int, int, torch.dtype] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cache is None:
            return super().forward(F.pad(x, (self.context, 0)))
        tail = self.cache.get(self)
        if tail is None:
            tail = x.new_zeros(*x.shape[:-1], self.context)
        x = torch.cat([tail, x], -1)
        self.cache[self] = x[..., x.shape[-1] - self.context :]
        if x.shape[0] != 1:
            return super().forward(x)
        # a stream's few frames: one (batched) matmul per tap and group beats conv1d's fixed cost
        device = x.device.type  # under autocast (bf16) the taps run in its dtype, as conv1d would
        dt = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else self.weight.dtype
        g, key = self.groups, (self.weight._version, self.weight.data_ptr(), dt)
        if self._taps_key != key:  # contiguous per-tap weights, remade when the weights change
            cout, cin = self.out_channels // g, self.in_channels // g
            w = self.weight.detach().to(dt)
            self._taps = [w[:, :, k].reshape(g, cout, cin).contiguous() for k in range(self.kernel_size[0])]
            self._bias = self.bias.detach().to(dt).reshape(g, cout, 1)
            self._taps_key = key
        T, d = x.shape[-1] - self.context, self.dilation[0]
        xg = x[0].to(dt).reshape(g, self.in_channels // g, -1)
        y = torch.baddbmm(self._bias, self._taps[0], xg[:, :, :T])
        for k in range(1, len(self._taps)):
            y.baddbmm_(self._taps[k], xg[:, :, k * d : k * d + T])
        return y.reshape(1, self.out_channels, T)


def stream_caches(module: nn.Module, cache: dict[nn.Module, torch.Tensor] | None) -> None:
    """Point every :class:`CausalConv1d` in ``module`` at ``cache`` (a stream's state) or, with
    ``None``, back to offline padding."""
    convs = module.__dict__.get("_causal_convs")
    if convs is None:  # walked once: a stream sets and clears these on every push
        convs = [m for m in module.modules() if isinstance(m, CausalConv1d)]
        module.__dict__["_causal_convs"] = convs
    for m in convs:
        m.cache = cache


def conv_block(cin: int, cout: int, *, causal: bool = False, kernel: int = 3, dilation: int = 1,
               groups: int = 1, p: float = 0.0) -> ConvNormRelu:  # fmt: skip
    """A stride-1 :class:`ConvNormRelu`; ``causal`` swaps its convolution for a :class:`CausalConv1d`
    (same parameters, left padding only)."""
    if dilation != 1 and not causal:
        raise ConfigError("conv_block: dilation is only implemented for causal blocks")
    block = ConvNormRelu(cin, cout, kernel=kernel, padding=(kernel - 1) // 2, groups=groups, p=p)
    if causal:
        block.conv = CausalConv1d(cin * groups, cout * groups, kernel, dilation, groups)
    return block


class CausalAudioEncoder(nn.Module):
    """The causal counterpart of :class:`AudioEncoder1D`: ``(B, T, F)`` -> ``(B, C, T)``.

    The mel bands as channels of a causal conv (F -> C), then three causal convs dilated 2, 4, 8
    in place of the three stride-2 convs (the same 30-frame reach into the past, without the
    downsampling and nearest upsampling, which would need the future of a cell).
    """

    def __init__(self, n_mels: int = 64, out: int = 256, p: float = 0.0) -> None:
        super().__init__()
        layers = [conv_block(n_mels, out, causal=True, p=p)]
        layers += [conv_block(out, out, causal=True, dilation=2**i, p=p) for i in (1, 2, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.net(audio.transpose(1, 2))


class CausalTCN(nn.Module):
    """The causal stand-in for :class:`UNet1D`: ``(B, C, T) -> (B, C, T)``, any ``T``.

    Two causal pre-convs, then ``depth`` residual causal convs dilated 1, 2, 4, ..., reaching
    ``4 + 2 * (2**depth - 1)`` frames into the past (66 for depth 5; the U-Net's coarsest level
    spans 32 frames each way). A strided U-Net cannot be both causal and exact in chunks
    without waiting for whole coarse cells (up to ``2**depth - 1`` frames of latency).
    """

    def __init__(self, c: int = 256, depth: int = 5, p: float = 0.0) -> None:
        super().__init__()
        self.pre = nn.Sequential(conv_block(c, c, causal=True, p=p), conv_block(c, c, causal=True, p=p))
        self.levels = nn.ModuleList([conv_block(c, c, causal=True, dilation=2**i, p=p) for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        for layer in self.levels:
            x = x + layer(x)
        return x


class AudioEncoder2D(nn.Module):
    """The reference's 2-D conv encoder over log-mel windows.

    ``(B, T, F)`` log-mel frames at pose rate -> ``(B, C, T)``; channels C/4, C/2, C (64, 128,
    256 for the reference's C = 256). Eight 2-D conv blocks reduce
    time and frequency by 8; like the reference (nearest interpolation to ``(T, 1)``) the
    first frequency column is kept and each time cell repeated to frame rate
    (``freq_pool="first"``); ``"mean"`` averages the frequency columns instead.
    """

    def __init__(self, out: int = 256, p: float = 0.0, freq_pool: str = "first") -> None:
        super().__init__()
        q, h = max(out // 4, 1), max(out // 2, 1)
        c = [1, q, q, h, h, out, out]
        layers: list[nn.Module] = []
        for i in range(6):
            layers.append(ConvNormRelu(c[i], c[i + 1], dim=2, downsample=i % 2 == 1, p=p))
        layers.append(ConvNormRelu(out, out, dim=2, p=p))
        layers.append(ConvNormRelu(out, out, dim=2, kernel=(3, 8), stride=1, padding=(1, 3), p=p))
        self.net = nn.Sequential(*layers)
        self.freq_pool = freq_pool

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        T = audio.shape[1]
        x = self.net(audio.unsqueeze(1))  # (B, C, T/8, F')
        x = x[..., 0] if self.freq_pool == "first" else x.mean(-1)
        return F.interpolate(x, size=T, mode="nearest")


class AudioEncoder1D(nn.Module):
    """A cheap audio encoder: the mel bands as channels of 1-D convolutions over time.

    ``(B, T, F)`` -> ``(B, C, T)``: ConvNormRelu(F -> C), three stride-2 convs to ``T/8`` time
    cells (the reference's 2-D encoder also ends with ``T/8`` cells), nearest upsampling back to
    frame rate. About 1/100 of the 2-D encoder's multiply-adds; it loses the 2-D encoder's
    translation invariance along frequency.
    """

    def __init__(self, n_mels: int = 64, out: int = 256, p: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormRelu(n_mels, out, p=p)]
        layers += [ConvNormRelu(out, out, downsample=True, p=p) for _ in range(3)]
        self.net = nn.Sequential(*layers)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        T = audio.shape[1]
        return F.interpolate(self.net(audio.transpose(1, 2)), size=T, mode="nearest")


def sinusoidal(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal positional encoding of integer ``positions`` (any shape) -> ``(*shape, dim)``."""
    half = torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * half / dim)
    ang = positions.to(torch.float32).unsqueeze(-1) * freq
    pe = torch.zeros(*positions.shape, dim, device=positions.device)
    pe[..., 0::2] = torch.sin(ang)
    pe[..., 1::2] = torch.cos(ang)
    return pe


def token_positions(text: torch.Tensor) -> torch.Tensor:
    """Index of the word piece spoken at each frame: ``(B, T, D)`` or ``(B, T)`` -> ``(B, T)``.

    A new token starts where the frame's feature (or token id) differs from the previous
    frame's, as the reference merges equal consecutive tokens of a window.
    """
    change = (text[:, 1:] != text[:, :-1]).any(-1) if text.dim() == 3 else text[:, 1:] != text[:, :-1]
    first = torch.zeros(text.shape[0], 1, dtype=torch.long, device=text.device)
    return torch.cat([first, change.long()], 1).cumsum(1)


class TextEncoder(nn.Module):
    """Word features aligned to frames -> ``(B, C, T)``.

    ``mode="features"``: precomputed (frozen) contextual vectors ``(B, T, D)`` (PATS
    ``text/bert``, 768-d) -> Linear(D, C). ``mode="tokens"``: token ids ``(B, T)`` or ``(B, T, 1)``
    (PATS ``text/tokens``, BERT's uncased WordPiece vocabulary) -> a trainable embedding. Either
    way the sinusoidal encoding of the token's position in the window is added, as the reference
    indexes its encoding by token.
    """

    def __init__(
        self, in_dim: int = 768, out: int = 256, mode: str = "features", vocab: int = WORDPIECE_VOCAB
    ) -> None:
        super().__init__()
        if mode not in TEXT_MODES:
            raise ConfigError(f"text_mode must be one of {list(TEXT_MODES)}, got {mode!r}")
        self.mode = mode
        self.out = out
        self.proj = nn.Linear(in_dim, out) if mode == "features" else nn.Embedding(vocab, out)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        if self.mode != "features" and text.dim() == 3:
            text = text[..., 0]  # (B, T, 1) ids, as feature clips hold them
        pos = token_positions(text)
        x = self.proj(text if self.mode == "features" else text.long())
        return (x + sinusoidal(pos, self.out)).transpose(1, 2)


class AlignedFusionLayer(nn.Module):
    """One transformer-decoder layer whose cross-attention lets frame t see only its own token.

    The reference's decoder layer (post-norm, 8 heads, feed-forward width ``ff``, dropout 0.1)
    with an alignment mask that admits exactly one key per frame. Softmax over one key is 1, so
    the cross-attention equals ``out_proj(v_proj(token_t))``: computed on the frame-aligned text
    directly, per sample, with no mask and no padding (the reference applies sample 0's mask to
    the whole batch). ``x``: ``(B, T, C)`` audio frames; ``mem``: ``(B, T, C)`` aligned text.
    """

    def __init__(self, d: int = 256, heads: int = 8, ff: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.d1, self.d2, self.d3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        x = self.n1(x + self.d1(self.self_attn(x, x, x, need_weights=False)[0]))
        x = self.n2(x + self.d2(self.out_proj(self.v_proj(mem))))
        return self.n3(x + self.d3(self.ff(x)))


class SpeechTextEncoder(nn.Module):
    """Audio + text -> fused speech/language latent ``(B, C, T)`` (late fusion).

    ``audio`` ``(B, T, F)``, ``text`` ``(B, T, D)`` features or ``(B, T)`` ids, or ``None`` for
    audio only. Fusion: 2 aligned decoder layers (audio frames + positional encoding as
    queries), final LayerNorm, concatenation with the audio features, ConvNormRelu(2C -> C) and
    a LayerNorm over channels.
    """

    def __init__(
        self, text_dim: int = 768, d: int = 256, text_mode: str = "features", use_text: bool = True,
        ff: int = 2, layers: int = 2, p: float = 0.0, freq_pool: str = "first",
        audio_encoder: str = "conv2d", n_mels: int = 64,
    ) -> None:  # fmt: skip
        super().__init__()
        encoders = {
            "conv2d": lambda: AudioEncoder2D(d, p, freq_pool),
            "conv1d": lambda: AudioEncoder1D(n_mels, d, p),
            "causal1d": lambda: CausalAudioEncoder(n_mels, d, p),
        }
        if audio_encoder not in encoders:
            raise ValueError(f"audio_encoder must be one of {list(encoders)}, got {audio_encoder!r}")
        self.audio = encoders[audio_encoder]()
        self.use_text = use_text
        if use_text:
            self.text = TextEncoder(text_dim, d, text_mode)
            self.layers = nn.ModuleList([AlignedFusionLayer(d, 8, ff) for _ in range(layers)])
            self.fnorm = nn.LayerNorm(d)
            self.mix = ConvNormRelu(2 * d, d, p=p)
        self.out_norm = nn.LayerNorm(d)
        self.d = d

    def forward(self, audio: torch.Tensor, text: torch.Tensor | None = None, block: int = 0) -> torch.Tensor:
        """``block``: when ``T`` is a multiple of it, the attention runs within blocks of that many
        frames (positions restart per block, as in a training window) while the convolutions see
        the whole sequence: a long recording in one pass, without window seams."""
        a = self.audio(audio)  # (B, C, T)
        if not self.use_text:
            return self.out_norm(a.transpose(1, 2)).transpose(1, 2)
        B, _, T = a.shape
        n = T // block if block and block < T and T % block == 0 else 1
        L = T // n
        txt = text.reshape(B * n, L, *text.shape[2:])
        q = a.transpose(1, 2).reshape(B * n, L, self.d) + sinusoidal(torch.arange(L, device=a.device), self.d)
        mem = self.text(txt).transpose(1, 2)
        for layer in self.layers:
            q = layer(q, mem)
        fused = self.fnorm(q).reshape(B, T, self.d).transpose(1, 2)
        x = self.mix(torch.cat([fused, a], 1))
        return self.out_norm(x.transpose(1, 2)).transpose(1, 2)


class PoseEncoder(nn.Module):
    """Pose ``(B, T, P)`` -> ``(B, C, T)``: six ConvNormRelu layers P-64-64-128-128-C-C."""

    def __init__(self, pose_dim: int, out: int = 256, p: float = 0.0) -> None:
        super().__init__()
        c = [pose_dim, 64, 64, 128, 128, out, out]
        self.net = nn.Sequential(*[ConvNormRelu(c[i], c[i + 1], p=p) for i in range(6)])

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        return self.net(pose.transpose(1, 2))


class UNet1D(nn.Module):
    """1-D U-Net ``(B, C, T) -> (B, C, T)``; ``T`` must be a multiple of ``2**depth``.

    Two pre-convs, ``depth`` stride-2 down convs, then per level nearest x2 upsampling, an
    additive skip and a conv. ``forward(x, return_levels=True)`` also returns the up-path
    features of each level (coarse to fine) for the patch-wise loss.
    """

    def __init__(self, c: int = 256, depth: int = 5, p: float = 0.0) -> None:
        super().__init__()
        self.pre = nn.Sequential(ConvNormRelu(c, c, p=p), ConvNormRelu(c, c, p=p))
        self.down = nn.ModuleList([ConvNormRelu(c, c, downsample=True, p=p) for _ in range(depth)])
        self.up = nn.ModuleList([ConvNormRelu(c, c, p=p) for _ in range(depth)])
        self.depth = depth

    def forward(self, x: torch.Tensor, return_levels: bool = False):  # noqa: ANN201
        if x.shape[-1] % (2**self.depth):
            raise ValueError(f"UNet1D: time length {x.shape[-1]} is not a multiple of {2**self.depth}")
        x = self.pre(x)
        skips = [x]
        for d in self.down:
            x = d(x)
            skips.append(x)
        skips.pop()
        levels = []
        for u in self.up:
            x = u(F.interpolate(x, scale_factor=2.0, mode="nearest") + skips.pop())
            levels.append(x)
        return (x, levels) if return_levels else x


class ClusterClassifier(nn.Module):
    """Latent ``(B, C, T)`` -> per-frame logits over K clusters ``(B, T, K)`` (``causal``: left padding)."""

    def __init__(self, c: int = 256, k: int = 8, p: float = 0.0, layers: int = 6, causal: bool = False) -> None:
        super().__init__()
        convs = [conv_block(c, c, causal=causal, p=p) for _ in range(layers)]
        self.net = nn.Sequential(*convs, (CausalConv1d if causal else nn.Conv1d)(c, k, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).transpose(1, 2)


class MixtureDecoder(nn.Module):
    """K cluster-specific conv decoders mixed by per-frame weights.

    ``z`` ``(B, C, T)``, ``weights`` ``(B, T, K)`` (softmax of the classifier) -> ``(B, T, P)``.
    The K decoders run as grouped convolutions (groups=K); the first layer reads z once
    (a dense conv ``C -> K*width``, equal to K separate convs on z tiled K times). ``layers``
    conv layers of ``width`` channels per cluster (the reference: 4 of C); ``causal``: left padding.
    """

    def __init__(
        self, c: int = 256, pose_dim: int = 96, k: int = 8, p: float = 0.0, layers: int = 4, width: int = 0,
        causal: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.k, self.pose_dim = k, pose_dim
        w = width or c
        first = conv_block(c, w * k, causal=causal, p=p)
        rest = [conv_block(w, w, causal=causal, groups=k, p=p) for _ in range(max(layers, 1) - 1)]
        # kernel-1 output convs: CausalConv1d in a causal model only for its fast stream path
        out_conv = CausalConv1d if causal else nn.Conv1d
        out = out_conv(w * k, pose_dim * k, 1, groups=k)
        self.net = nn.Sequential(first, *rest, out)

    def forward(self, z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        B, _, T = z.shape
        out = self.net(z).view(B, self.k, self.pose_dim, T)
        # weighted sum over clusters as a broadcast product (an einsum here becomes a slow bmm)
        return (out * weights.transpose(1, 2).unsqueeze(2)).sum(1).transpose(1, 2)


class VelocityDiscriminator(nn.Module):
    """Speech2Gesture discriminator on pose velocities: ``(B, T, P)`` poses -> ``(B, T')`` scores.

    The velocity is ``x_t - x_{t-1}`` with 0 at the first frame (computed inside).
    """

    def __init__(self, pose_dim: int = 96, c: int = 64, p: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(pose_dim, c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            ConvNormRelu(c, 2 * c, kernel=4, stride=2, padding=1, p=p),
            ConvNormRelu(2 * c, 4 * c, kernel=4, stride=1, padding=1, p=p),
            nn.Conv1d(4 * c, 1, 4, 1, 0),
        )

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        vel = torch.cat([torch.zeros_like(pose[:, :1]), pose[:, 1:] - pose[:, :-1]], 1)
        return self.net(vel.transpose(1, 2)).squeeze(1)


class GaussianSmoothing(nn.Module):
    """Fixed Gaussian low-pass along time: ``(B, T, P)`` -> ``(B, T, P)``, edges replicated.

    ``sigma`` in frames; the kernel spans ``+-ceil(3 sigma)`` frames and sums to 1 (a constant pose
    passes unchanged). No parameters: the network in front learns to emit what survives it.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        r = max(1, math.ceil(3 * sigma))
        t = torch.arange(-r, r + 1, dtype=torch.float32)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        self.register_buffer("kernel", (k / k.sum()).view(1, 1, -1), persistent=False)
        self.radius = r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, P = x.shape
        y = x.transpose(1, 2).reshape(B * P, 1, T)
        y = F.pad(y, (self.radius, self.radius), mode="replicate")
        y = F.conv1d(y, self.kernel.to(y.dtype))
        return y.view(B, P, T).transpose(1, 2)
