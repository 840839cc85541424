"""An AE-CNMF training step's loss and parameter gradients as two compiled passes (Numba, CPU).

Why: a training step of the reference configuration (16 crops of 500 frames, 100 gestures) is
about 130 M multiply-adds, a few milliseconds of arithmetic on two cores, but autograd runs it as
~150 small torch calls whose fixed costs, memory passes over the ``(16, 100, 500)`` scores and
per-op threading dominate. Here one call computes the loss of
:func:`~gesturekit.units.neural.objective.objective` and every parameter's gradient:

1. forward, one utterance per thread: each encoder layer as a direct convolution with its ReLU
   on the utterance's own frames (no padding work), the scores' used rows (a sparse-trained
   model uses a few of its gestures in a crop), the decoder on those rows, the reconstruction
   error, the score sums the sparsity terms need and the utterance's share of those terms;
2. in Python, the batch means (``S_c``, ``S_t``, ``E_t``, ``E_c``, the reconstruction error), the
   loss, and the four scalars through which the batch-level terms reach each utterance;
3. backward, one utterance per thread: the reconstruction's and the sparsity terms' gradient on
   the used score rows, through each ReLU and layer (input and weight gradients), every
   utterance into its own gradient buffers; :func:`_sum_items` then adds them in utterance
   order, so the result does not depend on the thread count and a resumed run repeats an
   uninterrupted one bit for bit.

:func:`ae_objective` wraps this as a :class:`torch.autograd.Function` of the network's
parameters (the gestures enter as a tensor, so softplus / exp decoders chain through autograd),
so optimisers, clipping and checkpoints are untouched. It is the same objective in another
summation order (float32 rounding), tested against autograd on the torch backend. When it is
used is decided in :mod:`gesturekit.units.ops` (:func:`~gesturekit.units.ops.takes_compiled_ae_objective`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from gesturekit.units.ops._kernels import AVAILABLE, announce_compile, numba_threads
from gesturekit.units.ops._torch import EPS

if AVAILABLE:
    from numba import njit, prange

    from gesturekit.units.ops._kernels.conv import _conv, _fill_window, _relu_rows, _taps

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
        b,
        x,
        lengths,
        weights,
        biases,
        w_dec,
        dec_left,
        mse,
        xps,
        acts,
        hp,
        used,
        n_used,
        xh,
        nc,
        nt,
        rec,
        terms,
    ):  # noqa: ANN001
        """For utterance ``b``: layer ``i``'s padded input ``xps[i][b]`` and ReLU
        output ``acts[i][b]``, the used score rows ``used[b, :n_used[b]]`` and their padded copy
        ``hp[b]``, the reconstruction ``xh[b]``, its summed absolute / squared error ``rec[b]``,
        the per-frame score sums ``nc[b]`` ``(2, time)`` and per-gesture ``nt[b]`` ``(2,
        gestures)`` (sum and sum of squares), and its share of the sparsity terms
        (:func:`_item_terms`)."""
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
            _fill_window(xp, src, 0, np.arange(w.shape[1]), 0, n, k, k // 2, n)
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
        _fill_window(hp[b], src, 0, rows, 0, n, k_dec, dec_left, n)
        y = xh[b]
        _conv(hp[b], w_dec[:, rows, :], zero_bias, y, n)
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
        _item_terms(b, n, nc, nt, *terms)

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _backward_item(b, x, lengths, weights, weights_t, w_dec_t, centre, mse, rec_scale, xps, acts, hp, used,
                       n_used, xh, nc, nt, terms, coef, gws, gbs, gwd):  # noqa: ANN001  # fmt: skip
        """For utterance ``b``, from :func:`_forward`'s arrays: the gradients of
        layer ``i`` into ``gws[i][b]`` ``(out, in, width)`` and ``gbs[i][b]`` ``(out,)``, of the
        gestures into ``gwd[b]`` ``(channels, gestures, width)``, the scores layer's rows and the
        gestures compacted to the used ones (:func:`_sum_items` puts them in place; ``coef``: see
        :func:`_item_derivatives`); ``weights_t[i]`` is layer ``i``'s weight transposed and
        time-flipped ``(in, out, width)`` and ``w_dec_t`` the gestures ``(gestures, channels, width)``."""
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
        gwd[b, :, :u, :] = gwq
        gh = np.empty((u, n), np.float32)
        _conv(gxp, w_dec_t[rows], np.zeros(u, np.float32), gh, n)
        a1c, a2c, a1t, a2t = _item_derivatives(b, n, nc, nt, *terms, coef)
        # + the sparsity terms; through the scores' ReLU; padded for the layer's input gradient
        last = n_layers - 1
        h = acts[last][b]
        lp = weights[last].shape[2] // 2
        gz = np.zeros((u, n + 2 * lp), np.float32)
        for q in range(u):
            g = rows[q]
            c1, c2 = a1t[g], a2t[g]
            for t in range(n):
                v = h[g, t]
                if v > 0.0:
                    gz[q, lp + t] = gh[q, t] + a1c[t] + c1 + 2.0 * v * (a2c[t] + c2)
        for i in range(last, -1, -1):
            w = weights[i]
            n_in, k = w.shape[1], w.shape[2]
            lp = k // 2
            nr = len(rows)
            gwr = np.empty((nr, n_in, k), np.float32)
            _conv_wgrad(gz, lp, xps[i][b], gwr, n)
            gw, gb = gws[i][b], gbs[i][b]
            gw[:nr] = gwr
            for q in range(nr):
                s = 0.0
                for t in range(n):
                    s += gz[q, lp + t]
                gb[q] = s
            if i == 0:
                break
            ga = np.empty((n_in, n), np.float32)
            _conv(gz, weights_t[i][:, rows, :], np.zeros(n_in, np.float32), ga, n)
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
        x, lengths, weights, biases, w_dec, dec_left, mse, xps, acts, hp, used, n_used, xh, nc, nt, rec, terms
    ):  # noqa: ANN001
        """:func:`_forward_item` on every utterance of the batch, in parallel."""
        for b in prange(x.shape[0]):
            _forward_item(b, x, lengths, weights, biases, w_dec, dec_left, mse, xps, acts, hp, used, n_used, xh,
                          nc, nt, rec, terms)  # fmt: skip

    @njit(cache=True, parallel=True)
    def _backward(x, lengths, weights, weights_t, w_dec_t, centre, mse, rec_scale, xps, acts, hp, used, n_used,
                  xh, nc, nt, terms, coef, gws, gbs, gwd):  # noqa: ANN001  # fmt: skip
        """:func:`_backward_item` on every utterance of the batch, in parallel."""
        for b in prange(x.shape[0]):
            _backward_item(b, x, lengths, weights, weights_t, w_dec_t, centre, mse, rec_scale, xps, acts, hp,
                           used, n_used, xh, nc, nt, terms, coef, gws, gbs, gwd)  # fmt: skip

    @njit(cache=True, nogil=True)
    def _hoyer_rows(l1, sq, rn, out):  # noqa: ANN001
        """``out[i]``: the Hoyer sparseness of a vector of length ``rn**2`` whose sum is ``l1[i]``
        and sum of squares ``sq[i]`` (as :func:`~gesturekit.units.neural.losses.hoyer_from_norms`);
        returns the sum of ``out`` and of the usage weights ``max(1 - out, 0) + 1e-5``."""
        total = weights = 0.0
        for i in range(len(out)):
            v = (rn - (l1[i] + EPS) / np.sqrt(sq[i] + EPS * EPS)) / (rn - 1.0)
            out[i] = v
            total += v
            weights += max(1.0 - v, 0.0) + 1e-5
        return total, weights

    @njit(cache=True, nogil=True)
    def _log_usage(s, total, lq):  # noqa: ANN001
        """``lq[i]`` = log of the usage weight of sparseness ``s[i]`` over ``total`` (clamped at
        1e-30 as the torch path's entropy); returns ``sum q log q``."""
        ent = 0.0
        for i in range(len(s)):
            q = (max(1.0 - s[i], 0.0) + 1e-5) / total
            lq[i] = np.log(max(q, 1e-30))
            ent += q * lq[i]
        return ent

    @njit(cache=True, nogil=True)
    def _item_terms(b, n, nc, nt, s_c, lq_c, s_t, lq_t, stats):  # noqa: ANN001
        """Utterance ``b``'s share of :func:`~gesturekit.units.neural.losses.sparsity_terms` from
        its ``n`` frames' score sums (``nc[b]`` ``(2, time)`` per frame, ``nt[b]`` ``(2,
        gestures)`` per gesture: sum and sum of squares): the Hoyer sparseness per frame
        ``s_c[b]`` and per gesture ``s_t[b]``, the logs of their usage weights over the weights'
        sum ``lq_c[b]``, ``lq_t[b]``, and ``stats[b]``: mean ``s_c``, sum of ``s_t``, ``E_t``,
        ``E_c``, the usage weights' sums (per gesture, per frame) and ``sum q log q`` per
        gesture."""
        n_g = nt.shape[2]
        nf = max(n, 1)
        acc, p_c = _hoyer_rows(nc[b, 0, :n], nc[b, 1, :n], np.sqrt(n_g), s_c[b, :n])
        sum_t, p_t = _hoyer_rows(nt[b, 0], nt[b, 1], np.sqrt(max(n, 2)), s_t[b])
        ent_t = _log_usage(s_t[b], p_t, lq_t[b])
        ent_c = _log_usage(s_c[b, :n], max(p_c, EPS), lq_c[b, :n])
        stats[b, 0], stats[b, 1], stats[b, 2], stats[b, 3] = acc / nf, sum_t, ent_t / n_g, ent_c / nf
        stats[b, 4], stats[b, 5], stats[b, 6] = p_t, p_c, ent_t

    @njit(cache=True, nogil=True)
    def _item_derivatives(b, n, nc, nt, s_c, lq_c, s_t, lq_t, stats, coef):  # noqa: ANN001
        """The loss's derivatives with respect to utterance ``b``'s per-frame score sum and sum of
        squares ``(n,)`` each, and per-gesture ones ``(gestures,)`` each (float32), from
        :func:`_item_terms`'s arrays. ``coef``: ``2 w_c (S_c - beta_c) / batch``, ``2 w_t (S_t -
        beta_t) / (batch gestures)``, ``w_Et / batch``, ``w_Ec / batch`` (zeros: no sparsity
        terms)."""
        n_g = nt.shape[2]
        eps2 = EPS * EPS
        rg, rt = np.sqrt(n_g), np.sqrt(max(n, 2))
        nf = max(n, 1)
        k_c, k_t, w_et, w_ec = coef[0], coef[1], coef[2], coef[3]
        p_t, p_c, ent_t = stats[b, 4], stats[b, 5], stats[b, 6]
        a1t, a2t = np.empty(n_g, np.float32), np.empty(n_g, np.float32)
        for g in range(n_g):  # d loss / d s_t, then through the Hoyer ratio
            u = 1.0 - s_t[b, g]
            d = k_t - w_et * (lq_t[b, g] - ent_t) / (n_g * p_t) * (u >= 0.0)
            l2 = np.sqrt(nt[b, 1, g] + eps2)
            a1t[g] = -d / (l2 * (rt - 1.0))
            a2t[g] = d * (nt[b, 0, g] + EPS) / (2.0 * l2**3 * (rt - 1.0))
        pc = max(p_c, EPS)
        through = p_c >= EPS  # the clamp of the usage weights' sum passes a gradient
        gp = 0.0  # sum_t (d E_c / d q_t) p_t
        for t in range(n):
            gp += (lq_c[b, t] + 1.0) / nf * (max(1.0 - s_c[b, t], 0.0) + 1e-5)
        a1c, a2c = np.empty(n, np.float32), np.empty(n, np.float32)
        for t in range(n):  # d loss / d s_c, then through the Hoyer ratio
            u = 1.0 - s_c[b, t]
            d_p = (lq_c[b, t] + 1.0) / nf / pc - through * gp / (pc * pc)
            d = k_c / nf - w_ec * d_p * (u >= 0.0)
            l2 = np.sqrt(nc[b, 1, t] + eps2)
            a1c[t] = -d / (l2 * (rg - 1.0))
            a2c[t] = d * (nc[b, 0, t] + EPS) / (2.0 * l2**3 * (rg - 1.0))
        return a1c, a2c, a1t, a2t

    @njit(cache=True, nogil=True)
    def _sum_items(used, n_used, gws, gbs, gwd, grad_w, grad_b, grad_d):  # noqa: ANN001
        """The batch's gradients from :func:`_backward`'s per-utterance ones, summed in utterance
        order (so whatever thread made them): the scores layer's rows and the gestures of
        utterance ``b`` are its used ones, ``used[b, :n_used[b]]``; the gestures' taps flipped."""
        last = len(gws) - 1
        k_dec = grad_d.shape[2]
        for i in range(last + 1):
            grad_w[i][:] = 0.0
            grad_b[i][:] = 0.0
        grad_d[:] = 0.0
        for b in range(gwd.shape[0]):
            for i in range(last):
                gw, gb = grad_w[i], grad_b[i]
                gw += gws[i][b]
                gb += gbs[i][b]
            gw, gb = grad_w[last], grad_b[last]
            for q in range(n_used[b]):
                g = used[b, q]
                gw[g] += gws[last][b, q]
                gb[g] += gbs[last][b, q]
                for a in range(grad_d.shape[0]):
                    for j in range(k_dec):
                        grad_d[a, g, k_dec - 1 - j] += gwd[b, a, q, j]


def ae_objective(
    x: torch.Tensor, lengths: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]],
    gestures: torch.Tensor, centre: int, cfg: Any,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """The AE-CNMF objective of a batch ``x`` ``(batch, channels, time)`` with ``lengths``
    (:func:`~gesturekit.units.neural.objective.objective` of the encoder ``layers`` (weight, bias)
    and the decoder's ``gestures``, loss options ``cfg``), computed with its gradients in two
    compiled passes: ``(loss, parts)`` where ``loss`` is differentiable with respect to the
    layers' parameters and the gestures."""
    if cfg.reconstruction not in ("l1", "mse"):
        raise ValueError(f"unknown reconstruction loss {cfg.reconstruction!r}; use l1 or mse")
    params: list[torch.Tensor] = []
    for w, b in layers:
        params += [w, b]
    parts: dict[str, torch.Tensor] = {}
    loss = _FusedLoss.apply(x, lengths, cfg, centre, parts, gestures, *params)
    parts["loss"] = loss.detach()
    return loss, parts


class _FusedLoss(torch.autograd.Function):
    """The loss of :func:`ae_objective`; its gradients are computed with it and kept for the
    backward (the loss is a scalar, so the backward only scales them)."""

    @staticmethod
    def forward(ctx, x, lengths, cfg, centre, parts, gestures, *params):  # type: ignore[override]  # noqa: ANN001
        loss, values, grads = _loss_and_grads(
            x, lengths, cfg, centre, gestures.detach(), [p.detach() for p in params]
        )
        as_tensors = torch.tensor(list(values.values()), dtype=torch.float32).unbind()
        parts.update(zip(values, as_tensors, strict=True))
        ctx.grads = grads
        return torch.tensor(loss, dtype=torch.float32)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]  # noqa: ANN001
        return (None, None, None, None, None, *(g * grad for g in ctx.grads))


#: Each thread's scratch arrays for its last batch shape (a training run repeats one shape; big
#: arrays allocated anew every step would be paged in anew every step).
_local = threading.local()


def _arrays(
    b: int, t: int, layers: list[tuple[int, int, int]], channels: int, gestures: int, k_dec: int
) -> dict:
    key = (b, t, tuple(layers), channels, gestures, k_dec)
    if getattr(_local, "key", None) != key:
        f32 = np.float32
        _local.key, _local.arrays = (
            key,
            {
                "xps": tuple(np.empty((b, i, t + k - 1), f32) for _, i, k in layers),
                "acts": tuple(np.empty((b, o, t), f32) for o, _, _ in layers),
                "hp": np.empty((b, gestures, t + k_dec - 1), f32),
                "used": np.empty((b, gestures), np.int64),
                "n_used": np.empty(b, np.int64),
                "xh": np.empty((b, channels, t), f32),
                "nc": np.empty((b, 2, t), np.float64),
                "nt": np.empty((b, 2, gestures), np.float64),
                "rec": np.empty(b, np.float64),
                "s_c": np.empty((b, t), np.float64),
                "lq_c": np.empty((b, t), np.float64),
                "s_t": np.empty((b, gestures), np.float64),
                "lq_t": np.empty((b, gestures), np.float64),
                "stats": np.empty((b, 7), np.float64),
            },
        )
    return _local.arrays


def _loss_and_grads(
    x: torch.Tensor, lengths: torch.Tensor, cfg: Any, centre: int, gestures: torch.Tensor,
    params: list[torch.Tensor],
) -> tuple[float, dict[str, float], list[torch.Tensor]]:  # fmt: skip
    """The loss, its parts and the gradients ``[gestures, weight 0, bias 0, weight 1, ...]``."""
    announce_compile("training kernels", 80, _forward, _backward, _sum_items)
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
    chained = all(w.shape[1] == v.shape[0] for v, w in zip(weights[:-1], weights[1:], strict=True))
    if not chained or g.shape[:2] != (channels, weights[-1].shape[0]) or not 0 <= centre < g.shape[2]:
        raise ValueError(f"gestures {g.shape} (centre {centre}) and the encoder's layers do not chain")
    w_dec = np.ascontiguousarray(g[:, :, ::-1])  # the decoder as a conv weight
    w_dec_t = np.ascontiguousarray(g.transpose(1, 0, 2))
    weights_t = tuple(np.ascontiguousarray(w.transpose(1, 0, 2)[:, :, ::-1]) for w in weights)
    k_dec = g.shape[2]
    s = _arrays(bsz, t_max, [w.shape for w in weights], channels, g.shape[1], k_dec)
    mse = cfg.reconstruction == "mse"
    with numba_threads(torch.get_num_threads()):
        terms = (s["s_c"], s["lq_c"], s["s_t"], s["lq_t"], s["stats"])
        _forward(xn, lens, weights, biases, w_dec, k_dec - 1 - centre, mse, s["xps"], s["acts"], s["hp"],
                 s["used"], s["n_used"], s["xh"], s["nc"], s["nt"], s["rec"], terms)  # fmt: skip
        stats = s["stats"]
        rec_den = max(channels * float(lens.sum()), 1.0)
        rec = float(s["rec"].sum()) / rec_den
        S_c, S_t = float(stats[:, 0].mean()), float(stats[:, 1].sum()) / (bsz * g.shape[1])
        E_t, E_c = float(stats[:, 2].mean()), float(stats[:, 3].mean())
        values = {"rec": rec, "S_c": S_c, "S_t": S_t, "E_t": E_t, "E_c": E_c}
        loss = rec
        coef = np.zeros(4)
        if cfg.sparse:
            loss += cfg.w_c * (S_c - cfg.beta_c) ** 2 + cfg.w_t * (S_t - cfg.beta_t) ** 2
            loss += cfg.w_Et * E_t + cfg.w_Ec * E_c
            k_c = 2 * cfg.w_c * (S_c - cfg.beta_c) / bsz
            coef[:] = (
                k_c,
                2 * cfg.w_t * (S_t - cfg.beta_t) / (bsz * g.shape[1]),
                cfg.w_Et / bsz,
                cfg.w_Ec / bsz,
            )
        gws = tuple(np.empty((bsz, *w.shape), np.float32) for w in weights)
        gbs = tuple(np.empty((bsz, w.shape[0]), np.float32) for w in weights)
        gwd = np.empty((bsz, *g.shape), np.float32)
        _backward(xn, lens, weights, weights_t, w_dec_t, centre, mse, np.float32(1.0 / rec_den), s["xps"],
                  s["acts"], s["hp"], s["used"], s["n_used"], s["xh"], s["nc"], s["nt"], terms, coef,
                  gws, gbs, gwd)  # fmt: skip
        grad_w = tuple(np.empty(w.shape, np.float32) for w in weights)
        grad_b = tuple(np.empty(w.shape[0], np.float32) for w in weights)
        grad_d = np.empty(g.shape, np.float32)
        _sum_items(s["used"], s["n_used"], gws, gbs, gwd, grad_w, grad_b, grad_d)
    grads = [torch.from_numpy(grad_d)]
    for gw, gb in zip(grad_w, grad_b, strict=True):
        grads += [torch.from_numpy(gw), torch.from_numpy(gb)]
    return loss, values, grads
