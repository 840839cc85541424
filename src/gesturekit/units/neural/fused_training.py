"""An AE-CNMF training step's loss and parameter gradients as two compiled passes (Numba, CPU).

Why: a training step of the reference configuration (16 crops of 500 frames, 100 gestures) is
about 130 M multiply-adds, a few milliseconds of arithmetic on two cores, but autograd runs it as
~150 small torch calls whose fixed costs, memory passes over the ``(16, 100, 500)`` scores and
per-op threading made it 12-20 ms. Here one call computes the loss of
:func:`~gesturekit.units.neural.objective.objective` and every parameter's gradient:

1. forward, one utterance per thread: each encoder layer as a direct convolution with its ReLU
   on the utterance's own frames (no padding work), the scores' used rows (a sparse-trained
   model uses ~15 of 100 in a crop), the decoder on those rows, the reconstruction error and the
   four score sums the sparsity terms need;
2. the batch-level terms (Hoyer means, usage entropies) and their derivatives with respect to the
   score sums, in float64 numpy on ``(batch, time)`` and ``(batch, gestures)`` arrays;
3. backward, one utterance per thread: the decoder's and the sparsity terms' gradient on the used
   score rows, through each ReLU and layer (input and weight gradients), every utterance into
   its own gradient buffer; the buffers are then summed in utterance order, so the result does
   not depend on the thread count and a resumed run repeats an uninterrupted one bit for bit.

:func:`fused_objective` wraps this as a :class:`torch.autograd.Function` of the network's
parameters (the gestures enter through ``decoder.gestures()``, so softplus / exp decoders chain
through autograd), so optimisers, clipping and checkpoints are untouched. It is the same
objective in another summation order (float32 rounding), tested against autograd on the torch
path. :func:`applies` says when it is used: a plain AE-CNMF without phone head, on the CPU, not
wrapped for distributed training, with Numba (``GESTUREKIT_FUSED=0`` turns it off with the
compiled inference).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gesturekit.units.neural import fused
from gesturekit.units.neural.config import LossConfig
from gesturekit.units.neural.data import Batch
from gesturekit.units.neural.losses import EPS
from gesturekit.units.neural.models import AECNMF

if fused.AVAILABLE:
    import numba
    from numba import njit, prange

    from gesturekit.units.neural.fused import _conv, _relu_rows, _taps

    @njit(boundscheck=False, cache=True, nogil=True)
    def _pad_rows(dst, src, rows, n, k, left):  # noqa: ANN001
        """``dst[q, :n + k - 1]`` = row ``rows[q]`` of ``src`` over frames ``-left .. n + k - 1 -
        left``, zero outside ``0 .. n``: the padded input of a "valid" width-``k`` conv."""
        for q in range(len(rows)):
            d = dst[q]
            s = src[rows[q]]
            for t in range(left):
                d[t] = 0.0
            for t in range(n):
                d[left + t] = s[t]
            for t in range(left + n, n + k - 1):
                d[t] = 0.0

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _conv_wgrad(g, off, xp, gw, n):  # noqa: ANN001
        """``gw[o, c, k] = sum_{t < n} g[o, off + t] * xp[c, t + k]``: the weight gradient of the
        "valid" conv of ``xp`` whose output gradient is ``g`` (shifted by ``off`` frames); four
        (channel, tap) dot products per pass along time."""
        n_out, n_in, k = gw.shape
        j_all = n_in * k
        jc, jk = _taps(n_in, k)
        gwf = gw.reshape(n_out, j_all)
        j4 = j_all - j_all % 4
        zero = np.float32(0.0)
        for o in range(n_out):
            r = g[o, off : off + n]
            for j in range(0, j4, 4):
                x0 = xp[jc[j], jk[j] : jk[j] + n]
                x1 = xp[jc[j + 1], jk[j + 1] : jk[j + 1] + n]
                x2 = xp[jc[j + 2], jk[j + 2] : jk[j + 2] + n]
                x3 = xp[jc[j + 3], jk[j + 3] : jk[j + 3] + n]
                s0, s1, s2, s3 = zero, zero, zero, zero
                for t in range(n):
                    a = r[t]
                    s0 += a * x0[t]
                    s1 += a * x1[t]
                    s2 += a * x2[t]
                    s3 += a * x3[t]
                gwf[o, j], gwf[o, j + 1], gwf[o, j + 2], gwf[o, j + 3] = s0, s1, s2, s3
            for j in range(j4, j_all):
                x0 = xp[jc[j], jk[j] : jk[j] + n]
                s0 = zero
                for t in range(n):
                    s0 += r[t] * x0[t]
                gwf[o, j] = s0

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _forward_item(
        b, x, lengths, weights, biases, w_dec, dec_left, mse, xps, acts, hp, used, n_used, xh, nc, nt, rec
    ):  # noqa: ANN001
        """For utterance ``b``: layer ``i``'s padded input ``xps[i][b]`` and ReLU
        output ``acts[i][b]``, the used score rows ``used[b, :n_used[b]]`` and their padded copy
        ``hp[b]``, the reconstruction ``xh[b]``, its summed absolute / squared error ``rec[b]``,
        the per-frame score sums ``nc[b]`` ``(2, time)`` and per-gesture ``nt[b]`` ``(2,
        gestures)`` (sum and sum of squares)."""
        n_layers = len(weights)
        c_out, g_all, k_dec = w_dec.shape
        zero_bias = np.zeros(c_out, np.float32)
        n = lengths[b]
        src = x[b]
        peak = np.zeros(1, np.float32)
        for i in range(n_layers):
            w = weights[i]
            k = w.shape[2]
            xp = xps[i][b]
            _pad_rows(xp, src, np.arange(w.shape[1]), n, k, k // 2)
            a = acts[i][b]
            _conv(xp, w, biases[i], a, n)
            peak = np.empty(w.shape[0], np.float32)
            _relu_rows(a, peak, n)
            src = a
        u = 0
        for g in range(g_all):
            if peak[g] > 0.0:
                used[b, u] = g
                u += 1
        n_used[b] = u
        rows = used[b, :u]
        _pad_rows(hp[b], src, rows, n, k_dec, dec_left)
        wq = np.empty((c_out, u, k_dec), np.float32)
        for q in range(u):
            wq[:, q, :] = w_dec[:, rows[q], :]
        y = xh[b]
        _conv(hp[b], wq, zero_bias, y, n)
        err = 0.0
        for a in range(c_out):
            for t in range(n):
                d = y[a, t] - x[b, a, t]
                err += d * d if mse else abs(d)
        rec[b] = err
        nc[b] = 0.0
        nt[b] = 0.0
        for q in range(u):
            hr = src[rows[q]]
            s1, s2 = 0.0, 0.0
            for t in range(n):
                v = hr[t]
                s1 += v
                s2 += v * v
                nc[b, 0, t] += v
                nc[b, 1, t] += v * v
            nt[b, 0, rows[q]], nt[b, 1, rows[q]] = s1, s2

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _backward_item(b, x, lengths, weights, weights_t, w_dec_t, centre, mse, rec_scale, xps, acts, hp, used,
                       n_used, xh, a1c, a2c, a1t, a2t, gws, gbs, gwd):  # noqa: ANN001  # fmt: skip
        """For utterance ``b``, from :func:`_forward`'s arrays: the gradients of
        layer ``i`` into ``gws[i][b]`` ``(out, in, width)`` and ``gbs[i][b]`` ``(out,)``, of the
        gestures into ``gwd[b]`` ``(channels, gestures, width)``. ``a1*`` / ``a2*`` are the
        loss's derivatives with respect to the per-frame (``c``, ``(batch, time)``) and
        per-gesture (``t``, ``(batch, gestures)``) score sums and sums of squares;
        ``weights_t[i]`` is layer ``i``'s weight transposed and time-flipped ``(in, out, width)``
        and ``w_dec_t`` the gestures ``(gestures, channels, width)``."""
        n_layers = len(weights)
        c_out = x.shape[1]
        k_dec = w_dec_t.shape[2]
        n = lengths[b]
        u = n_used[b]
        rows = used[b, :u].copy()
        # the reconstruction's gradient, padded as the decoder's input gradient needs
        gxp = np.zeros((c_out, n + k_dec - 1), np.float32)
        for a in range(c_out):
            for t in range(n):
                d = xh[b, a, t] - x[b, a, t]
                gxp[a, centre + t] = rec_scale * (2.0 * d if mse else np.sign(d))
        gwq = np.empty((c_out, u, k_dec), np.float32)  # flipped taps
        _conv_wgrad(gxp, centre, hp[b], gwq, n)
        gd = gwd[b]
        gd[:] = 0.0
        for a in range(c_out):
            for q in range(u):
                for j in range(k_dec):
                    gd[a, rows[q], k_dec - 1 - j] = gwq[a, q, j]
        wdq = np.empty((u, c_out, k_dec), np.float32)
        for q in range(u):
            wdq[q] = w_dec_t[rows[q]]
        gh = np.empty((u, n), np.float32)
        _conv(gxp, wdq, np.zeros(u, np.float32), gh, n)
        # + the sparsity terms; through the scores' ReLU; padded for the layer's input gradient
        last = n_layers - 1
        h = acts[last][b]
        lp = weights[last].shape[2] // 2
        gz = np.zeros((u, n + 2 * lp), np.float32)
        for q in range(u):
            g = rows[q]
            c1, c2 = a1t[b, g], a2t[b, g]
            for t in range(n):
                v = h[g, t]
                if v > 0.0:
                    gz[q, lp + t] = gh[q, t] + a1c[b, t] + c1 + 2.0 * v * (a2c[b, t] + c2)
        for i in range(last, -1, -1):
            w = weights[i]
            n_in, k = w.shape[1], w.shape[2]
            lp = k // 2
            nr = len(rows)
            gwr = np.empty((nr, n_in, k), np.float32)
            _conv_wgrad(gz, lp, xps[i][b], gwr, n)
            gw, gb = gws[i][b], gbs[i][b]
            if nr < w.shape[0]:
                gw[:] = 0.0
                gb[:] = 0.0
            for q in range(nr):
                gw[rows[q]] = gwr[q]
                s = 0.0
                for t in range(n):
                    s += gz[q, lp + t]
                gb[rows[q]] = s
            if i == 0:
                break
            wt = weights_t[i]
            wtq = np.empty((n_in, nr, k), np.float32)
            for q in range(nr):
                wtq[:, q, :] = wt[:, rows[q], :]
            ga = np.empty((n_in, n), np.float32)
            _conv(gz, wtq, np.zeros(n_in, np.float32), ga, n)
            prev = acts[i - 1][b]
            lq = weights[i - 1].shape[2] // 2
            gz = np.zeros((n_in, n + 2 * lq), np.float32)
            for c in range(n_in):
                for t in range(n):
                    if prev[c, t] > 0.0:
                        gz[c, lq + t] = ga[c, t]
            rows = np.arange(n_in)

    @njit(cache=True, parallel=True)
    def _forward(
        x, lengths, weights, biases, w_dec, dec_left, mse, xps, acts, hp, used, n_used, xh, nc, nt, rec
    ):  # noqa: ANN001
        """:func:`_forward_item` on every utterance of the batch, in parallel."""
        for b in prange(x.shape[0]):
            _forward_item(b, x, lengths, weights, biases, w_dec, dec_left, mse, xps, acts, hp, used, n_used, xh,
                          nc, nt, rec)  # fmt: skip

    @njit(cache=True, parallel=True)
    def _backward(x, lengths, weights, weights_t, w_dec_t, centre, mse, rec_scale, xps, acts, hp, used, n_used,
                  xh, a1c, a2c, a1t, a2t, gws, gbs, gwd):  # noqa: ANN001  # fmt: skip
        """:func:`_backward_item` on every utterance of the batch, in parallel."""
        for b in prange(x.shape[0]):
            _backward_item(b, x, lengths, weights, weights_t, w_dec_t, centre, mse, rec_scale, xps, acts, hp,
                           used, n_used, xh, a1c, a2c, a1t, a2t, gws, gbs, gwd)  # fmt: skip


def applies(model: torch.nn.Module, net: torch.nn.Module, batch: Batch) -> bool:
    """Whether a training step of ``model`` on ``batch`` can take :func:`fused_objective`: a
    plain :class:`AECNMF` (not the VAE, no phone head; ``model`` is the network itself, not a
    distributed wrapper), float32 on the CPU, compiled kernels enabled, gradients wanted."""
    if not (fused.ENABLED and model is net and type(net) is AECNMF and torch.is_grad_enabled()):
        return False
    enc = net.encoder
    return (
        net.phone_head is None
        and enc.final_relu
        and all(c.bias is not None and c.weight.shape[-1] % 2 == 1 for c in enc.convs)
        and batch.x.device.type == "cpu"
        and batch.x.dtype == torch.float32
        and not batch.x.requires_grad
        and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in net.parameters())
    )


def fused_objective(net: AECNMF, batch: Batch, cfg: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``objective(net(batch.x, batch.mask), batch, cfg)`` for an AE-CNMF (see :func:`applies`),
    computed with its gradients in two compiled passes: ``(loss, parts)`` where ``loss`` is
    differentiable with respect to the network's parameters."""
    if cfg.reconstruction not in ("l1", "mse"):
        raise ValueError(f"unknown reconstruction loss {cfg.reconstruction!r}; use l1 or mse")
    convs = net.encoder.convs
    params: list[torch.Tensor] = []
    for c in convs:
        params += [c.weight, c.bias]
    parts: dict[str, torch.Tensor] = {}
    loss = _FusedLoss.apply(
        batch.x, batch.lengths, cfg, net.decoder.centre, parts, net.decoder.gestures(), *params
    )
    parts["loss"] = loss.detach()
    return loss, parts


class _FusedLoss(torch.autograd.Function):
    """The loss of :func:`fused_objective`; its gradients are computed with it and kept for the
    backward (the loss is a scalar, so the backward only scales them)."""

    @staticmethod
    def forward(ctx, x, lengths, cfg, centre, parts, gestures, *params):  # type: ignore[override]  # noqa: ANN001
        loss, values, grads = _loss_and_grads(
            x, lengths, cfg, centre, gestures.detach(), [p.detach() for p in params]
        )
        parts.update({k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()})
        ctx.grads = grads
        return torch.tensor(loss, dtype=torch.float32)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]  # noqa: ANN001
        return (None, None, None, None, None, *(g * grad for g in ctx.grads))


#: Scratch arrays of the last batch shape (a training run repeats one shape; big arrays allocated
#: anew every step would be paged in anew every step).
_scratch: dict[tuple, dict[str, Any]] = {}


def _arrays(
    b: int, t: int, layers: list[tuple[int, int, int]], channels: int, gestures: int, k_dec: int
) -> dict:
    key = (b, t, tuple(layers), channels, gestures, k_dec)
    if key not in _scratch:
        _scratch.clear()
        f32 = np.float32
        _scratch[key] = {
            "xps": tuple(np.empty((b, i, t + k - 1), f32) for _, i, k in layers),
            "acts": tuple(np.empty((b, o, t), f32) for o, _, _ in layers),
            "hp": np.empty((b, gestures, t + k_dec - 1), f32),
            "used": np.empty((b, gestures), np.int64),
            "n_used": np.empty(b, np.int64),
            "xh": np.empty((b, channels, t), f32),
            "nc": np.empty((b, 2, t), np.float64),
            "nt": np.empty((b, 2, gestures), np.float64),
            "rec": np.empty(b, np.float64),
        }
    return _scratch[key]


def _loss_and_grads(
    x: torch.Tensor, lengths: torch.Tensor, cfg: LossConfig, centre: int, gestures: torch.Tensor,
    params: list[torch.Tensor],
) -> tuple[float, dict[str, float], list[torch.Tensor]]:  # fmt: skip
    """The loss, its parts and the gradients ``[gestures, weight 0, bias 0, weight 1, ...]``."""
    xn = np.ascontiguousarray(x.numpy())
    bsz, channels, t_max = xn.shape
    lens = np.ascontiguousarray(lengths.numpy().astype(np.int64))
    weights = tuple(np.ascontiguousarray(p.numpy()) for p in params[0::2])
    biases = tuple(np.ascontiguousarray(p.numpy()) for p in params[1::2])
    if (
        weights[0].shape[1] != channels
        or len(lens) != bsz
        or lens.max(initial=0) > t_max
        or lens.min(initial=0) < 0
    ):
        raise ValueError(f"batch {tuple(xn.shape)} with lengths {lens.tolist()} does not fit the network")
    g = gestures.numpy()
    w_dec = np.ascontiguousarray(g[:, :, ::-1])  # the decoder as a conv weight
    w_dec_t = np.ascontiguousarray(g.transpose(1, 0, 2))
    weights_t = tuple(np.ascontiguousarray(w.transpose(1, 0, 2)[:, :, ::-1]) for w in weights)
    k_dec = g.shape[2]
    s = _arrays(bsz, t_max, [w.shape for w in weights], channels, g.shape[1], k_dec)
    mse = cfg.reconstruction == "mse"
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    try:
        _forward(xn, lens, weights, biases, w_dec, k_dec - 1 - centre, mse, s["xps"], s["acts"], s["hp"],
                 s["used"], s["n_used"], s["xh"], s["nc"], s["nt"], s["rec"])  # fmt: skip
        rec_den = max(channels * float(lens.sum()), 1.0)
        loss, values, deriv = _batch_terms(s["nc"], s["nt"], lens, cfg)
        loss += float(s["rec"].sum()) / rec_den
        values["rec"] = float(s["rec"].sum()) / rec_den
        gws = tuple(np.empty((bsz, *w.shape), np.float32) for w in weights)
        gbs = tuple(np.empty((bsz, w.shape[0]), np.float32) for w in weights)
        gwd = np.empty((bsz, *g.shape), np.float32)
        _backward(xn, lens, weights, weights_t, w_dec_t, centre, mse, np.float32(1.0 / rec_den), s["xps"],
                  s["acts"], s["hp"], s["used"], s["n_used"], s["xh"], *deriv, gws, gbs, gwd)  # fmt: skip
    finally:
        numba.set_num_threads(before)
    grads = [torch.from_numpy(gwd.sum(0))]
    for gw, gb in zip(gws, gbs, strict=True):
        grads += [torch.from_numpy(gw.sum(0)), torch.from_numpy(gb.sum(0))]
    return loss, values, grads


def _hoyer(n: np.ndarray | float, l1: np.ndarray, sq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hoyer sparseness (as :func:`~gesturekit.units.neural.losses.hoyer_from_norms`) and its
    derivatives with respect to the sum ``l1`` and the sum of squares ``sq``."""
    l2 = np.sqrt(sq + EPS**2)
    rn = np.sqrt(n)
    s = (rn - (l1 + EPS) / l2) / (rn - 1)
    return s, -1.0 / (l2 * (rn - 1)), (l1 + EPS) / (2.0 * l2**3 * (rn - 1))


def _batch_terms(
    nc: np.ndarray, nt: np.ndarray, lengths: np.ndarray, cfg: LossConfig
) -> tuple[float, dict[str, float], tuple[np.ndarray, ...]]:
    """The sparsity terms of :func:`~gesturekit.units.neural.losses.sparsity_terms` from the score
    sums (``nc`` ``(batch, 2, time)`` per frame, ``nt`` ``(batch, 2, gestures)`` per gesture),
    their weighted sum in the loss, and the loss's derivatives with respect to the four sums
    (float32 ``(batch, time)``, ``(batch, time)``, ``(batch, gestures)``, ``(batch, gestures)``)."""
    bsz, _, t_max = nc.shape
    n_g = nt.shape[2]
    m = np.arange(t_max)[None, :] < lengths[:, None]
    nf = np.maximum(lengths, 1).astype(np.float64)[:, None]
    s_c, ds_c1, ds_c2 = _hoyer(float(n_g), nc[:, 0], nc[:, 1])
    s_c = np.where(m, s_c, 0.0)
    n_t = np.maximum(lengths, 2).astype(np.float64)[:, None]
    s_t, ds_t1, ds_t2 = _hoyer(n_t, nt[:, 0], nt[:, 1])
    S_c = float(np.mean(s_c.sum(1, keepdims=True) / nf))
    S_t = float(s_t.mean())
    u_t = 1.0 - s_t
    p_t = np.maximum(u_t, 0.0) + 1e-5
    P_t = p_t.sum(1, keepdims=True)
    q_t = p_t / P_t
    lq_t = np.log(q_t)
    ent_t = (q_t * lq_t).sum(1, keepdims=True)
    E_t = float(np.mean(ent_t / n_g))
    u_c = 1.0 - s_c
    p_c = (np.maximum(u_c, 0.0) + 1e-5) * m
    P_sum = p_c.sum(1, keepdims=True)
    P_c = np.maximum(P_sum, EPS)
    q_c = p_c / P_c
    lq_c = np.log(np.maximum(q_c, 1e-30))
    E_c = float(np.mean((q_c * lq_c).sum(1, keepdims=True) / nf))
    values = {"S_c": S_c, "S_t": S_t, "E_t": E_t, "E_c": E_c}
    zeros_c, zeros_t = np.zeros((bsz, t_max), np.float32), np.zeros((bsz, n_g), np.float32)
    if not cfg.sparse:
        return 0.0, values, (zeros_c, zeros_c, zeros_t, zeros_t)
    loss = (
        cfg.w_c * (S_c - cfg.beta_c) ** 2 + cfg.w_t * (S_t - cfg.beta_t) ** 2 + cfg.w_Et * E_t + cfg.w_Ec * E_c
    )
    # d loss / d s_c (batch, time) and d loss / d s_t (batch, gestures)
    d_c = 2.0 * cfg.w_c * (S_c - cfg.beta_c) * m / (bsz * nf)
    d_t = np.full((bsz, n_g), 2.0 * cfg.w_t * (S_t - cfg.beta_t) / (bsz * n_g))
    d_pt = (lq_t - ent_t) / (n_g * P_t)  # d E_t(b) / d p_t (the q's sum to 1)
    d_t -= cfg.w_Et / bsz * d_pt * (u_t >= 0.0)
    g_q = (lq_c + 1.0) * m / nf  # d E_c(b) / d q_c
    d_pc = g_q / P_c - (P_sum >= EPS) * (g_q * p_c).sum(1, keepdims=True) / P_c**2
    d_c -= cfg.w_Ec / bsz * d_pc * (u_c >= 0.0) * m
    f32 = np.float32
    deriv = ((d_c * ds_c1).astype(f32), (d_c * ds_c2).astype(f32), (d_t * ds_t1).astype(f32),
             (d_t * ds_t2).astype(f32))  # fmt: skip
    return loss, values, deriv
