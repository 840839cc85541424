"""Kernels shared by the compiled inference and training passes (Numba, CPU).

Every conv layer is a direct convolution whose inner loop runs along time (contiguous) and
updates two output channels from four (channel, tap) inputs per pass, so each output row is
loaded and stored once per four products and the pass's weights, inputs and sums fit the vector
registers (docs/units-kernels.md has the measurements behind these choices).
"""

from __future__ import annotations

import numpy as np

from gesturekit.units.ops._kernels import AVAILABLE

if AVAILABLE:
    from numba import njit

    @njit(cache=True, nogil=True)
    def _taps(n_in: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The (channel, tap) of each flattened weight column ``j = channel * k + tap`` (tables:
        an integer division per use costs more than the products it indexes)."""
        j = np.arange(n_in * k)
        return j // k, j % k

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _conv(xp: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, n: int) -> None:
        """``out[o, t] = b[o] + sum_{c,k} w[o, c, k] xp[c, t + k]`` for ``t < n``: a "valid" conv of
        the padded input ``xp`` ``(in, n + width - 1)`` (at least) into ``out`` ``(out, n)`` (at
        least; rows may be longer, and ``xp`` may have more rows than ``w`` reads).

        Two output rows from four (channel, tap) inputs per pass along time: 8 weights, 4 inputs
        and 2 sums stay in the 16 vector registers.
        """
        n_out, n_in, k = w.shape
        j_all = n_in * k
        jc, jk = _taps(n_in, k)
        wf = w.reshape(n_out, j_all)
        j4 = j_all - j_all % 4
        o2 = n_out - n_out % 2
        for o in range(0, o2, 2):
            r = out[o]
            s = out[o + 1]
            bo, bp = b[o], b[o + 1]
            for t in range(n):
                r[t] = bo
                s[t] = bp
            for j in range(0, j4, 4):
                x0 = xp[jc[j], jk[j] : jk[j] + n]
                x1 = xp[jc[j + 1], jk[j + 1] : jk[j + 1] + n]
                x2 = xp[jc[j + 2], jk[j + 2] : jk[j + 2] + n]
                x3 = xp[jc[j + 3], jk[j + 3] : jk[j + 3] + n]
                w0, w1, w2, w3 = wf[o, j], wf[o, j + 1], wf[o, j + 2], wf[o, j + 3]
                v0, v1, v2, v3 = wf[o + 1, j], wf[o + 1, j + 1], wf[o + 1, j + 2], wf[o + 1, j + 3]
                for t in range(n):
                    a0, a1, a2, a3 = x0[t], x1[t], x2[t], x3[t]
                    r[t] += w0 * a0 + w1 * a1 + w2 * a2 + w3 * a3
                    s[t] += v0 * a0 + v1 * a1 + v2 * a2 + v3 * a3
            for j in range(j4, j_all):
                x0 = xp[jc[j], jk[j] : jk[j] + n]
                w0, v0 = wf[o, j], wf[o + 1, j]
                for t in range(n):
                    r[t] += w0 * x0[t]
                    s[t] += v0 * x0[t]
        for o in range(o2, n_out):  # an odd last channel
            r = out[o]
            for t in range(n):
                r[t] = b[o]
            for j in range(j_all):
                x0 = xp[jc[j], jk[j] : jk[j] + n]
                w0 = wf[o, j]
                for t in range(n):
                    r[t] += w0 * x0[t]

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _relu_rows(out: np.ndarray, peak: np.ndarray, n: int) -> None:
        """ReLU in place on the first ``n`` frames, and ``peak[o]`` = the largest value of row ``o``
        after it (0: silent)."""
        zero = np.float32(0.0)
        for o in range(out.shape[0]):
            r = out[o]
            m = zero
            for t in range(n):
                v = max(r[t], zero)
                r[t] = v
                m = max(m, v)
            peak[o] = m

    @njit(boundscheck=False, cache=True, nogil=True)
    def _fill_window(dst, src, src_start, rows, start, n, k, left, t_all):  # noqa: ANN001
        """``dst[q, :n + k - 1]`` = row ``rows[q]`` of ``src`` (whose column 0 is frame
        ``src_start``) over frames ``start - left .. start + n + k - 1 - left``, zero outside ``0 ..
        t_all``: the padded input of a "valid" width-``k`` conv giving ``n`` outputs from frame
        ``start`` (``dst`` may be wider and have more rows)."""
        lo, hi = max(start - left, 0), min(start + n + k - 1 - left, t_all)
        a, e = lo - (start - left), hi - (start - left)
        for q in range(len(rows)):
            d = dst[q]
            d[:a] = 0.0
            d[a:e] = src[rows[q], lo - src_start : hi - src_start]
            d[e : n + k - 1] = 0.0

    @njit(boundscheck=False, cache=True, nogil=True)
    def _window(src, src_start, rows, start, n, k, left, t_all):  # noqa: ANN001
        """:func:`_fill_window` into a new ``(len(rows), n + k - 1)`` array."""
        xp = np.empty((len(rows), n + k - 1), np.float32)
        _fill_window(xp, src, src_start, rows, start, n, k, left, t_all)
        return xp
