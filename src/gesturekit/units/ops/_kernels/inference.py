"""A frozen AE-CNMF's encode + reconstruct as one compiled call per utterance, and the decoder of
given scores (any neural model) as another (Numba, CPU).

Why: one utterance is small (about a thousand frames of 12 channels), so a chain of ~25 torch
calls spends about as long in their fixed costs as in arithmetic, and splitting each small op
over threads costs more than it saves. Here the whole chain (normalisation, every encoder layer
with its ReLU, the decoder in data units) is one call: the utterance is cut into one time chunk
per thread, each chunk computes its encoder layers over the frames its outputs need (a halo of a
few frames, recomputed) and writes its own frames of the scores and of the reconstruction, so
the chunks share nothing. The scores are the same sums as torch's conv1d in another order
(differences of float32 rounding), and a frame's value does not depend on how the utterance was
cut.

The encoder layers use :func:`~.conv._conv`. The decoder (:func:`_decode_frames`, also
:class:`FusedDecoder` for ``UnitModel.decode``) works from the scores' side: every non-zero
score adds its gesture, a contiguous ``(width, channels)`` block, to the output frames it
reaches, four scores of a frame per pass. Its cost follows the number of non-zero scores, not of
gestures used (a conv over the used gestures did several times the products on a partly trained
model; docs/units-kernels.md).

Threads: every call runs on the thread count it is given; one chunk (one thread, or a short
utterance) calls the serial kernel without a parallel region at all, so one thread is one (no
pool threads woken).
"""

from __future__ import annotations

import numpy as np

from gesturekit.units.ops._kernels import AVAILABLE, MIN_CHUNK_FRAMES, announce_compile, numba_threads

if AVAILABLE:
    from numba import njit, prange

    from gesturekit.units.ops._kernels.conv import _conv, _relu_rows, _window

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _decode_frames(h, h_start, t_all, rows, w_rows, shift, centre, y, a, e):  # noqa: ANN001
        """``y[a:e]`` ``(time, channels)`` = ``shift`` + the convolutive sum of the scores ``h``
        ``(gestures, frames)``, whose column 0 is frame ``h_start`` and which cover every frame of
        ``a - (width - 1 - centre) .. e + centre`` within ``0 .. t_all`` (the inputs of those outputs).
        Only the gestures ``rows`` are read (the others must be zero on those frames).

        ``w_rows`` ``(gestures, width * channels)``: gesture ``g`` as the block it adds, per unit of
        score, to the ``width`` frames from ``tau - centre`` in ``(time, channels)`` order. Every
        non-zero score adds its block (zeros are skipped, so the cost follows the scores' sparsity,
        not the number of gestures used), four scores of a frame per pass: four weights, the block
        and its sum per vector, where one score per pass spends a store per product.
        """
        n_rows = len(rows)
        c = shift.shape[0]
        kc = w_rows.shape[1]
        k = kc // c
        lo, hi = max(0, a - (k - 1 - centre)), min(t_all, e + centre)
        base = a - (k - 1)  # the frame of acc's row 0: the earliest output an input of lo .. hi reaches
        acc = np.zeros((e - a + 2 * (k - 1)) * c, np.float32)
        idx = np.empty(n_rows, np.int64)
        val = np.empty(n_rows, np.float32)
        for tau in range(lo, hi):
            m = 0
            for g in rows:  # branch-free: a mispredicted branch per score cost more than its products
                v = h[g, tau - h_start]
                idx[m] = g
                val[m] = v
                m += v != 0.0  # NaN too: it reaches the output, as in torch
            off = (tau - centre - base) * c
            seg = acc[off : off + kc]
            m4 = m - m % 4
            for q in range(0, m4, 4):
                w0, w1, w2, w3 = w_rows[idx[q]], w_rows[idx[q + 1]], w_rows[idx[q + 2]], w_rows[idx[q + 3]]
                v0, v1, v2, v3 = val[q], val[q + 1], val[q + 2], val[q + 3]
                for p in range(kc):
                    seg[p] += v0 * w0[p] + v1 * w1[p] + v2 * w2[p] + v3 * w3[p]
            for q in range(m4, m):
                w0 = w_rows[idx[q]]
                v0 = val[q]
                for p in range(kc):
                    seg[p] += v0 * w0[p]
        for t in range(a, e):
            o = (t - base) * c
            for ch in range(c):
                y[t, ch] = acc[o + ch] + shift[ch]

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _decode_scores(h, w_rows, shift, centre, y, a, e):  # noqa: ANN001
        """:func:`_decode_frames` of given scores ``h`` ``(gestures, time)`` (any sign) for the
        output frames ``a .. e``, reading only the gestures with a non-zero score on their inputs
        (scanning every gesture per frame cost more than the products on a sparse model)."""
        t_all = h.shape[1]
        k = w_rows.shape[1] // shift.shape[0]
        lo, hi = max(0, a - (k - 1 - centre)), min(t_all, e + centre)
        used = np.zeros(h.shape[0], np.bool_)
        for g in range(h.shape[0]):
            r = h[g]
            for t in range(lo, hi):
                if r[t] != 0.0:  # NaN too
                    used[g] = True
                    break
        _decode_frames(h, 0, t_all, np.flatnonzero(used), w_rows, shift, centre, y, a, e)

    @njit(cache=True, nogil=True)
    def _chunk_span(t_all: int, n_chunks: int, ci: int) -> tuple[int, int]:
        """Frames ``a .. e`` of chunk ``ci`` of ``n_chunks`` consecutive chunks of ``t_all`` frames
        (``a >= e``: empty)."""
        step = (t_all + n_chunks - 1) // n_chunks
        return ci * step, min(t_all, (ci + 1) * step)

    @njit(fastmath=True, boundscheck=False, cache=True, parallel=True)
    def _decode_run(h, w_rows, shift, centre, n_chunks, y):  # noqa: ANN001
        """:func:`_decode_scores` on ``n_chunks`` consecutive time chunks of ``h``, in parallel."""
        for ci in prange(n_chunks):
            a, e = _chunk_span(h.shape[1], n_chunks, ci)
            if a < e:
                _decode_scores(h, w_rows, shift, centre, y, a, e)

    @njit(fastmath=True, boundscheck=False, cache=True, nogil=True)
    def _chunk(x, shift, scale, weights, biases, w_rows, centre, decode, h, y, a, e):  # noqa: ANN001
        """Scores ``h[:, a:e]`` and (``decode``) the reconstruction ``y[a:e]`` ``(time, channels)``
        for frames ``a .. e`` of ``x`` ``(time, channels)``; every layer runs over the frames its
        consumers need."""
        t_all, c_in = x.shape
        n_layers = len(weights)
        k_dec = w_rows.shape[1] // c_in
        dec_left = k_dec - 1 - centre
        # frames each layer's output must cover: the decoder needs the scores on
        # [a - dec_left, e + dec_right); each layer widens its input's range by its half-width
        starts = np.empty(n_layers, np.int64)
        ends = np.empty(n_layers, np.int64)
        s, f = (max(0, a - dec_left), min(t_all, e + k_dec - 1 - dec_left)) if decode else (a, e)
        for i in range(n_layers - 1, -1, -1):
            starts[i], ends[i] = s, f
            p = weights[i].shape[2] // 2
            s, f = max(0, s - p), min(t_all, f + p)
        prev = np.empty((c_in, f - s), np.float32)  # the normalised input, channel-major
        for t in range(s, f):
            for c in range(c_in):
                prev[c, t - s] = (x[t, c] - shift[c]) / scale[c]
        p_start = s
        for i in range(n_layers):
            w = weights[i]
            s, f = starts[i], ends[i]
            xp = _window(prev, p_start, np.arange(w.shape[1]), s, f - s, w.shape[2], w.shape[2] // 2, t_all)
            prev = np.empty((w.shape[0], f - s), np.float32)
            _conv(xp, w, biases[i], prev, f - s)
            peak = np.empty(w.shape[0], np.float32)  # each row's maximum after the ReLU
            _relu_rows(prev, peak, f - s)
            p_start = s
        h[:, a:e] = prev[:, a - s : e - s]  # (s, f): the scores layer's frames
        if decode:
            # the gestures that score above zero on the decoder's input frames (a silent row adds nothing)
            _decode_frames(prev, s, t_all, np.flatnonzero(peak > 0.0), w_rows, shift, centre, y, a, e)

    @njit(fastmath=True, boundscheck=False, cache=True, parallel=True)
    def _run(x, shift, scale, weights, biases, w_rows, centre, decode, n_chunks, h, y):  # noqa: ANN001
        """:func:`_chunk` on ``n_chunks`` consecutive time chunks of ``x``, in parallel."""
        for ci in prange(n_chunks):
            a, e = _chunk_span(x.shape[0], n_chunks, ci)
            if a < e:
                _chunk(x, shift, scale, weights, biases, w_rows, centre, decode, h, y, a, e)


def gesture_rows(gestures: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Gestures ``(channels, gestures, width)`` times ``scale`` ``(channels,)`` as the decoder's
    ``(gestures, width * channels)`` blocks (see :func:`_decode_frames`), float32."""
    g = np.asarray(gestures, dtype=np.float32) * np.asarray(scale, dtype=np.float32).reshape(-1, 1, 1)
    return np.ascontiguousarray(g.transpose(1, 2, 0).reshape(g.shape[1], -1))


class FusedDecoder:
    """The convolutive decoder of given scores as a compiled call (any neural model).

    ``gestures`` ``(channels, gestures, width)`` and the ``centre`` tap; ``shift``, ``scale``
    ``(channels,)``: the output is ``decoded * scale + shift`` (data units for an affine
    normaliser; zeros and ones for normalised units). :meth:`decode` takes scores ``(gestures,
    time)`` of any sign and returns ``(time, channels)``, float32.
    """

    def __init__(self, gestures: np.ndarray, centre: int, shift: np.ndarray, scale: np.ndarray) -> None:
        if not AVAILABLE:
            raise RuntimeError("the fused kernels need numba (pip install numba)")
        self.shift = np.ascontiguousarray(shift, dtype=np.float32).reshape(-1)
        scale = np.asarray(scale, dtype=np.float32).reshape(-1)
        if (
            np.ndim(gestures) != 3
            or np.shape(gestures)[0] != self.shift.shape[0]
            or scale.shape != self.shift.shape
        ):
            raise ValueError(
                f"gestures {np.shape(gestures)} do not fit a shift and scale of {self.shift.shape[0]} channels"
            )
        if not 0 <= int(centre) < np.shape(gestures)[2]:
            raise ValueError(f"centre {centre} is not a tap of gestures {np.shape(gestures)}")
        self.w_rows = gesture_rows(gestures, scale)
        self.centre = int(centre)
        self.n_gestures = self.w_rows.shape[0]
        announce_compile("decoder kernels", 5, _decode_scores, _decode_run)

    def decode(self, h: np.ndarray, threads: int = 1) -> np.ndarray:
        """Scores ``(gestures, time)`` -> ``(time, channels)`` on up to ``threads`` threads."""
        h = np.ascontiguousarray(h, dtype=np.float32)
        if h.ndim != 2 or h.shape[0] != self.n_gestures:
            raise ValueError(f"expected ({self.n_gestures}, time) scores, got shape {h.shape}")
        t = h.shape[1]
        y = np.empty((t, self.shift.shape[0]), np.float32)
        n_chunks = max(1, min(int(threads), t // MIN_CHUNK_FRAMES))
        if t == 0:
            return y
        if n_chunks == 1:  # no parallel region: one thread is one thread
            _decode_scores(h, self.w_rows, self.shift, self.centre, y, 0, t)
            return y
        with numba_threads(n_chunks):
            _decode_run(h, self.w_rows, self.shift, self.centre, n_chunks, y)
        return y


class FusedReconstruct:
    """A frozen AE-CNMF (ReLU scores, an affine normaliser) as one compiled call per utterance.

    ``layers``: the encoder's ``(weight (out, in, width), bias (out,))`` arrays (odd widths,
    "same" zero padding, a ReLU after each); ``gestures`` ``(channels, gestures, width)`` and the
    decoder's ``centre`` tap; ``shift``, ``scale`` ``(channels,)``: data = normalised * scale +
    shift. :meth:`reconstruct` and :meth:`encode` take ``x`` ``(time, channels)`` in data units
    (float32 or float64, finite: the caller checks).
    """

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], gestures: np.ndarray, centre: int,
                 shift: np.ndarray, scale: np.ndarray) -> None:  # fmt: skip
        if not AVAILABLE:
            raise RuntimeError("the fused kernels need numba (pip install numba)")
        self.weights = tuple(np.ascontiguousarray(w, dtype=np.float32) for w, _ in layers)
        self.biases = tuple(np.ascontiguousarray(b, dtype=np.float32) for _, b in layers)
        self.shift = np.ascontiguousarray(shift, dtype=np.float32).reshape(-1)
        self.scale = np.ascontiguousarray(scale, dtype=np.float32).reshape(-1)
        g = np.asarray(gestures, dtype=np.float32)
        self._check_shapes(g, int(centre))
        self.w_rows = gesture_rows(g, self.scale)  # the decoder in data units (the shift added last)
        self.centre = int(centre)
        self.n_gestures = g.shape[1]
        announce_compile("inference kernels", 30, _run, _chunk)

    def _check_shapes(self, gestures: np.ndarray, centre: int) -> None:
        """The kernels index without bounds checks: every shape must chain, or nothing runs."""
        if not self.weights:
            raise ValueError("the encoder has no layers")
        channels, scores = self.shift.shape[0], self.weights[-1].shape[0]
        if gestures.ndim != 3 or gestures.shape[0] != channels or self.scale.shape != (channels,):
            raise ValueError(f"gestures {gestures.shape} do not fit a shift and scale of {channels} channels")
        widths_in = [channels] + [w.shape[0] for w in self.weights[:-1]]
        for i, (w, b, n_in) in enumerate(zip(self.weights, self.biases, widths_in, strict=True)):
            if w.ndim != 3 or w.shape[1] != n_in or w.shape[2] % 2 == 0 or b.shape != (w.shape[0],):
                raise ValueError(
                    f"encoder layer {i}: weight {w.shape} / bias {b.shape} do not take {n_in} channels"
                )
        if gestures.shape[1] != scores or not 0 <= centre < gestures.shape[2]:
            raise ValueError(f"gestures {gestures.shape} do not fit the scores layer's {scores} channels")

    def reconstruct(self, x: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(gestures, time)`` and the reconstruction ``(time, channels)`` (data units),
        float32, on up to ``threads`` threads."""
        return self._call(x, threads, True)

    def encode(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """Scores ``(gestures, time)``, float32."""
        return self._call(x, threads, False)[0]

    def _call(self, x: np.ndarray, threads: int, decode: bool) -> tuple[np.ndarray, np.ndarray]:
        if x.ndim != 2 or x.shape[1] != self.shift.shape[0]:
            raise ValueError(f"expected (time, {self.shift.shape[0]}) data, got shape {x.shape}")
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float32)
        x = np.ascontiguousarray(x)
        t = x.shape[0]
        h = np.empty((self.n_gestures, t), np.float32)
        y = np.empty((t if decode else 0, self.shift.shape[0]), np.float32)
        if t == 0:
            return h, y
        n_chunks = max(1, min(int(threads), t // MIN_CHUNK_FRAMES))
        args = (x, self.shift, self.scale, self.weights, self.biases, self.w_rows, self.centre, decode)
        if n_chunks == 1:  # no parallel region: one thread is one thread
            _chunk(*args, h, y, 0, t)
        else:
            with numba_threads(n_chunks):
                _run(*args, n_chunks, h, y)
        return h, y
