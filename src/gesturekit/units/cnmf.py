"""Classic convolutive (sparse) NMF as a scikit-learn-style estimator in PyTorch.

``ConvNMF`` factorises non-negative kinematics ``X`` ``(time, channels)`` into gestures
``components_`` ``(channels, gestures, width)`` and gestural scores ``H`` ``(gestures, time)``
with ``X[t, a] ~ sum_g sum_k W[a, g, k] H[g, t - k + c]`` (``c = (width-1)//2`` centred,
``0`` causal), by multiplicative updates for the Frobenius (beta = 2) or generalised
Kullback-Leibler (beta = 1) cost (Lee & Seung; Smaragdis 2004; seqNMF, Mackevicius et al. 2019).

Options: an L1 penalty on the scores (``alpha_H``), a Hoyer-sparseness constraint on each
gesture's scores over time (``sparseness``; projection after each update, as cNMFsc), seqNMF's
cross-orthogonality penalty (``lambda_xortho``), unit-norm gestures with the scale moved into
the scores, masking of held-out frames or entries, and several utterances of different lengths
in one batch: they are concatenated with ``width - 1`` zero frames between them whose scores are
held at zero and whose data are masked, so no utterance sees another (no padding artefacts).

Negative data are refused (use ``Normalizer(nonneg_split=True)``), never clipped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gesturekit.errors import ConfigError, DataError
from gesturekit.units import ops

log = logging.getLogger("gesturekit")

BETA_LOSSES = {"frobenius": 2.0, "kullback-leibler": 1.0, 2: 2.0, 1: 1.0}
EPS = 1e-10


def hoyer_project(v: torch.Tensor, sparseness: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Project each row of non-negative ``v`` ``(rows, n)`` to Hoyer sparseness ``sparseness``.

    Keeps each row's L2 norm (Hoyer 2004, ``projfunc``, vectorised over rows). ``valid``
    ``(n,)`` bool marks the entries that may be non-zero (the others stay 0 and do not count
    in ``n``). Rows that are all zero stay zero.
    """
    rows, n = v.shape
    valid = torch.ones(n, dtype=torch.bool, device=v.device) if valid is None else valid.bool()
    nv = int(valid.sum())
    if nv < 2:
        return v
    norms = torch.linalg.vector_norm(v * valid, dim=1, keepdim=True)
    live = norms.squeeze(1) > 0
    x = torch.where(valid, v, torch.zeros_like(v)) / norms.clamp_min(EPS)
    l1 = math.sqrt(nv) - (math.sqrt(nv) - 1.0) * float(sparseness)
    zero = (~valid).expand(rows, n).clone()
    n_act = (~zero).sum(1, keepdim=True).to(v.dtype)
    s = torch.where(zero, 0.0, x + (l1 - x.sum(1, keepdim=True)) / n_act)
    done = torch.zeros(rows, dtype=torch.bool, device=v.device)
    out = s.clone()
    for _ in range(nv):
        n_act = (~zero).sum(1, keepdim=True).to(v.dtype).clamp_min(1)
        m = torch.where(zero, 0.0, l1 / n_act)
        w = s - m
        a = (w * w).sum(1, keepdim=True)
        b = 2 * (w * m).sum(1, keepdim=True)
        c = (m * m).sum(1, keepdim=True) - 1.0
        disc = (b * b - 4 * a * c).clamp_min(0)
        alpha = (-b + disc.sqrt()) / (2 * a).clamp_min(EPS)
        s_new = m + alpha * w
        neg = (s_new < 0) & ~zero
        finished = ~neg.any(1) & ~done
        out[finished] = s_new[finished]
        done |= finished
        if bool(done.all()):
            break
        zero = zero | neg
        s_new = torch.where(zero, 0.0, s_new)
        n_act = (~zero).sum(1, keepdim=True).to(v.dtype).clamp_min(1)
        cshift = (s_new.sum(1, keepdim=True) - l1) / n_act
        s = torch.where(zero, 0.0, s_new - cshift)
    out = out.clamp_min(0) * norms
    return torch.where(live.unsqueeze(1), out, v)


def _dtype(d: str | torch.dtype) -> torch.dtype:
    if isinstance(d, torch.dtype):
        return d
    table = {"float32": torch.float32, "float64": torch.float64, "double": torch.float64}
    if d not in table:
        raise ConfigError(f"unknown dtype '{d}'; use float32 or float64")
    return table[d]


@dataclass
class _Batch:
    """Utterances concatenated along time with zero gaps: data, masks and where each one lies."""

    V: torch.Tensor  # (A, T) data, zero in gaps
    M: torch.Tensor  # (1 or A, T) loss weight: 0 in gaps and held-out entries
    Hmask: torch.Tensor  # (1, T) 1 where scores may be non-zero (not in gaps)
    spans: list[tuple[int, int]]  # (start, stop) of each utterance


class ConvNMF:
    """Convolutive NMF ``X ~ W * H`` with multiplicative updates (see the module docstring).

    Parameters
    ----------
    n_components: number of gestures ``G``.
    width: kernel length ``K`` in frames.
    beta_loss: ``"kullback-leibler"`` (beta = 1) or ``"frobenius"`` (beta = 2).
    max_iter, tol: at most ``max_iter`` iterations; stop early when the relative decrease of
        the cost over ``check_every`` iterations falls below ``tol`` (``tol=0`` never stops early).
    random_state: seed of the random initialisation.
    centred: centred kernels (``True``) or causal ones (the kernel starts at the activation).
    alpha_H: L1 penalty on the scores. ``sparseness``: Hoyer sparseness in ``[0, 1]`` imposed
        on each gesture's scores over time (``None``: no constraint).
    sparseness_warmup: iterations over which the Hoyer target rises linearly from 0 (``None``:
        a third of the iterations for KL, whose cost explodes where a sudden projection leaves
        data unexplained, and none for Frobenius).
    lambda_xortho: seqNMF's cross-orthogonality penalty (discourages redundant gestures).
    normalize_gestures: rescale each gesture to unit L2 norm after every update, with the
        scale moved into its scores.
    transform_max_iter: iterations of score inference in :meth:`transform` (default ``max_iter``).
    device: ``"cpu"``, ``"cuda"`` or ``"auto"``; ``dtype``: ``"float32"`` or ``"float64"``.
    engine: ``"fft"`` (block FFT convolution, fast) or ``"direct"`` (``conv1d``).
    """

    def __init__(
        self,
        n_components: int = 40,
        width: int = 41,
        beta_loss: str | float = "kullback-leibler",
        max_iter: int = 200,
        tol: float = 1e-4,
        random_state: int | None = 0,
        *,
        centred: bool = True,
        alpha_H: float = 0.0,
        sparseness: float | None = None,
        sparseness_warmup: int | None = None,
        lambda_xortho: float = 0.0,
        normalize_gestures: bool = True,
        transform_max_iter: int | None = None,
        check_every: int = 10,
        device: str = "cpu",
        dtype: str | torch.dtype = "float32",
        engine: str = "fft",
        verbose: int = 0,
    ) -> None:
        self.n_components = n_components
        self.width = width
        self.beta_loss = beta_loss
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.centred = centred
        self.alpha_H = alpha_H
        self.sparseness = sparseness
        self.sparseness_warmup = sparseness_warmup
        self.lambda_xortho = lambda_xortho
        self.normalize_gestures = normalize_gestures
        self.transform_max_iter = transform_max_iter
        self.check_every = check_every
        self.device = device
        self.dtype = dtype
        self.engine = engine
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict:
        names = [
            "n_components", "width", "beta_loss", "max_iter", "tol", "random_state", "centred",
            "alpha_H", "sparseness", "sparseness_warmup", "lambda_xortho", "normalize_gestures",
            "transform_max_iter", "check_every", "device", "dtype", "engine", "verbose",
        ]  # fmt: skip
        out = {n: getattr(self, n) for n in names}
        if isinstance(out["dtype"], torch.dtype):
            out["dtype"] = str(out["dtype"]).replace("torch.", "")
        return out

    def set_params(self, **params) -> ConvNMF:
        for k, v in params.items():
            if not hasattr(self, k):
                raise ConfigError(f"ConvNMF has no parameter '{k}'")
            setattr(self, k, v)
        return self

    def _check_params(self) -> None:
        if self.beta_loss not in BETA_LOSSES:
            raise ConfigError(f"beta_loss must be 'kullback-leibler' or 'frobenius', got {self.beta_loss!r}")
        if int(self.n_components) < 1:
            raise ConfigError(f"n_components must be >= 1, got {self.n_components}")
        if int(self.width) < 1:
            raise ConfigError(f"width must be >= 1, got {self.width}")
        if self.sparseness is not None and not 0.0 <= float(self.sparseness) <= 1.0:
            raise ConfigError(f"sparseness must be in [0, 1], got {self.sparseness}")
        if self.sparseness_warmup is not None and int(self.sparseness_warmup) < 0:
            raise ConfigError(f"sparseness_warmup must be >= 0, got {self.sparseness_warmup}")
        if self.alpha_H < 0 or self.lambda_xortho < 0:
            raise ConfigError("alpha_H and lambda_xortho must be >= 0")
        if self.engine not in ops.ENGINES:
            raise ConfigError(f"engine must be one of {ops.ENGINES}, got {self.engine!r}")

    @property
    def _beta(self) -> float:
        return BETA_LOSSES[self.beta_loss]

    @property
    def _offset(self) -> int:
        return ops.kernel_offset(int(self.width), self.centred)

    def _device(self) -> torch.device:
        from gesturekit.runtime import resolve_device

        return resolve_device(self.device)

    # ------------------------------------------------------------------ data handling
    def _as_list(self, X) -> tuple[list[np.ndarray], bool]:
        if isinstance(X, (np.ndarray, torch.Tensor)) and np.ndim(X) == 2:
            return [np.asarray(X.cpu() if isinstance(X, torch.Tensor) else X)], False
        if isinstance(X, (Sequence, np.ndarray)):
            items = [np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x) for x in X]
            if not items:
                raise DataError("no data: an empty list of utterances")
            return items, True
        raise DataError(f"expected an array (time, channels) or a list of them, got {type(X).__name__}")

    def _validate(self, items: list[np.ndarray], n_channels: int | None) -> None:
        for i, x in enumerate(items):
            where = f"utterance {i}" if len(items) > 1 else "data"
            if x.ndim != 2:
                raise DataError(f"{where}: expected a 2-D array (time, channels), got shape {x.shape}")
            if x.shape[0] == 0:
                raise DataError(f"{where}: has no frames")
            if n_channels is not None and x.shape[1] != n_channels:
                raise DataError(f"{where}: has {x.shape[1]} channels; the model was fitted on {n_channels}")
            if not np.issubdtype(x.dtype, np.number):
                raise DataError(f"{where}: not numeric ({x.dtype})")
            bad = ~np.isfinite(x)
            if bad.any():
                raise DataError(
                    f"{where}: {int(bad.sum())} NaN or infinite samples in channels "
                    f"{sorted(set(np.nonzero(bad)[1].tolist()))}; repair them or mask them out"
                )
            if (x < 0).any():
                raise DataError(
                    f"{where}: {int((x < 0).sum())} negative values (min {float(x.min()):.4g}); "
                    "NMF needs non-negative data: scale with Normalizer('minmax') or split signs "
                    "with Normalizer(..., nonneg_split=True)"
                )
        widths = {x.shape[1] for x in items}
        if len(widths) > 1:
            raise DataError(f"utterances have different channel counts {sorted(widths)}")

    def _batch(self, items: list[np.ndarray], masks) -> _Batch:
        dev, dt = self._device(), _dtype(self.dtype)
        gap = max(int(self.width) - 1, 0)
        A = items[0].shape[1]
        lengths = [x.shape[0] for x in items]
        T = sum(lengths) + gap * (len(items) - 1)
        V = np.zeros((A, T), dtype=np.float64)
        Hm = np.zeros((1, T), dtype=np.float64)
        spans = []
        pos = 0
        for x in items:
            V[:, pos : pos + len(x)] = x.T
            Hm[0, pos : pos + len(x)] = 1
            spans.append((pos, pos + len(x)))
            pos += len(x) + gap
        M = Hm.copy()
        if masks is not None:
            mlist = [masks] if isinstance(masks, np.ndarray) and len(items) == 1 else list(masks)
            if len(mlist) != len(items):
                raise DataError(f"{len(mlist)} masks for {len(items)} utterances")
            per_entry = any(np.ndim(m) == 2 for m in mlist)
            if per_entry:
                M = np.repeat(M, A, axis=0)
            for (a, b), m in zip(spans, mlist, strict=True):
                m = np.asarray(m, dtype=bool)
                if m.shape not in ((b - a,), (b - a, A)):
                    raise DataError(f"mask of shape {m.shape} does not fit data of shape {(b - a, A)}")
                if per_entry:
                    M[:, a:b] = (m.T if m.ndim == 2 else m[None, :]).astype(np.float64)
                else:
                    M[0, a:b] = m.astype(np.float64)
            if not M.any():
                raise DataError("the mask hides every frame")
        to = lambda a: torch.as_tensor(a, dtype=dt, device=dev)  # noqa: E731
        return _Batch(to(V), to(M), to(Hm), spans)

    # ------------------------------------------------------------------ the updates
    def _recon(self, W: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
        return ops.reconstruct(W, H, self._offset, self.engine)

    def _cost(self, b: _Batch, Xh: torch.Tensor) -> float:
        V, M = b.V, b.M
        if self._beta == 2.0:
            return float(0.5 * (M * (V - Xh) ** 2).sum())
        Xh = Xh.clamp_min(EPS)
        return float((M * (torch.xlogy(V, V / Xh) - V + Xh)).sum())

    def _update_H(
        self, W: torch.Tensor, H: torch.Tensor, b: _Batch, xortho: float, sparseness: float | None = None
    ) -> torch.Tensor:
        off, eng = self._offset, self.engine
        Xh = self._recon(W, H).clamp_min(EPS)
        MV = b.M * b.V
        if self._beta == 1.0:
            num = ops.adjoint(W, MV / Xh, off, eng)
            if b.M.shape[0] == 1:
                den = ops.adjoint(W.sum(0, keepdim=True), b.M, off, eng)
            else:
                den = ops.adjoint(W, b.M, off, eng)
            wtx = ops.adjoint(W, MV, off, eng) if xortho > 0 else None
        else:
            both = ops.adjoint(W, torch.stack([MV, b.M * Xh]), off, eng)
            num, den = both[0], both[1]
            wtx = num
        den = den + self.alpha_H
        if xortho > 0:
            den = den + xortho * self._xortho_term(wtx)
        H = H * num.clamp_min(0) / den.clamp_min(EPS)
        H = H * b.Hmask
        if sparseness is not None:
            H = hoyer_project(H, sparseness, b.Hmask[0] > 0)
        return H

    def _xortho_term(self, wtx: torch.Tensor) -> torch.Tensor:
        """``(1 - I) (W^T X) S``: W^T X smoothed by a box of width 2K-1, summed over other gestures."""
        smooth = self._box(wtx)
        return smooth.sum(0, keepdim=True) - smooth

    def _update_W(self, W: torch.Tensor, H: torch.Tensor, b: _Batch, xortho: float) -> torch.Tensor:
        off, eng, K = self._offset, self.engine, int(self.width)
        Xh = self._recon(W, H).clamp_min(EPS)
        MV = b.M * b.V
        if self._beta == 1.0:
            # one call for both (they share the transform of H): rows A.. are the mask's
            both = ops.correlate(torch.cat([MV / Xh, b.M]), H, K, off, eng)
            num, den = both[: MV.shape[0]], both[MV.shape[0] :]  # den (1 or A, G, K) broadcasts
        else:
            both = ops.correlate(torch.stack([MV, b.M * Xh]), H, K, off, eng)
            num, den = both[0], both[1]
        if xortho > 0:
            G = H.shape[0]
            off_diag = torch.ones(G, G, dtype=H.dtype, device=H.device) - torch.eye(
                G, dtype=H.dtype, device=H.device
            )
            # seqNMF: lambda * shift(XS) H^T (1 - I), XS = data smoothed by the same box.
            Hs = off_diag @ self._box(H)
            den = den + xortho * ops.correlate(MV, Hs, K, off, eng)
        return W * num.clamp_min(0) / den.clamp_min(EPS)

    def _box(self, H: torch.Tensor) -> torch.Tensor:
        K = int(self.width)
        c = torch.nn.functional.pad(torch.nn.functional.pad(H, (K - 1, K - 1)).cumsum(-1), (1, 0))
        return c[:, 2 * K - 1 :] - c[:, : -(2 * K - 1)]

    @staticmethod
    def _renormalise(W: torch.Tensor, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        norms = torch.linalg.vector_norm(W, dim=(0, 2)).clamp_min(EPS)  # (G,)
        return W / norms[None, :, None], H * norms[:, None]

    def _init_H(self, b: _Batch, W: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        G, T = int(self.n_components), b.V.shape[1]
        H = torch.rand(G, T, generator=gen, dtype=torch.float64).to(b.V)
        # scale so that the initial reconstruction has the data's mean level
        Xh = self._recon(W, H)
        ratio = float((b.M * b.V).sum() / (b.M * Xh).sum().clamp_min(EPS))
        return H * b.Hmask * max(ratio, EPS)

    def _sparseness_at(self, it: int, n_iter: int) -> float | None:
        """The Hoyer target at iteration ``it`` (1-based): it rises linearly over the warm-up."""
        if self.sparseness is None:
            return None
        warm = self.sparseness_warmup
        if warm is None:
            warm = n_iter // 3 if self._beta == 1.0 else 0
        return float(self.sparseness) * min(1.0, it / warm) if warm > 0 else float(self.sparseness)

    def _run(self, b: _Batch, W: torch.Tensor, H: torch.Tensor, n_iter: int, update_W: bool):
        history: list[float] = []
        prev = self._cost(b, self._recon(W, H))
        history.append(prev)
        it = 0
        t0 = time.perf_counter()
        for it in range(1, n_iter + 1):
            xortho = self.lambda_xortho if it < n_iter else 0.0
            s_now = self._sparseness_at(it, n_iter)
            H = self._update_H(W, H, b, xortho, s_now)
            if update_W:
                W = self._update_W(W, H, b, xortho)
                if self.normalize_gestures:
                    W, H = self._renormalise(W, H)
            if self.check_every and (it % self.check_every == 0 or it == n_iter):
                cost = self._cost(b, self._recon(W, H))
                history.append(cost)
                if not math.isfinite(cost):
                    raise DataError(
                        f"ConvNMF diverged: the cost is not finite at iteration {it}; lower "
                        "sparseness (or its warm-up), alpha_H or lambda_xortho"
                    )
                if self.verbose:
                    log.info("ConvNMF iter %d  cost %.6g  (%.2fs)", it, cost, time.perf_counter() - t0)
                warming = s_now is not None and s_now < float(self.sparseness)  # the cost may rise
                if self.tol > 0 and not warming and prev - cost < self.tol * abs(prev) and it < n_iter:
                    prev = cost
                    break
                prev = cost
        return W, H, it, history

    # ------------------------------------------------------------------ public API
    def fit(self, X, y=None, mask=None) -> ConvNMF:
        """Learn gestures from ``X`` ``(time, channels)`` or a list of them; returns ``self``."""
        self.fit_transform(X, mask=mask)
        return self

    def fit_transform(self, X, y=None, mask=None, W_init: np.ndarray | None = None):
        """Learn gestures and return the scores ``(n_components, time)`` (a list for a list).

        ``mask``: bool ``(time,)`` or ``(time, channels)`` per utterance, ``True`` = used in
        the fit, ``False`` = held out (its reconstruction is not scored but still produced).
        """
        self._check_params()
        items, is_list = self._as_list(X)
        self._validate(items, None)
        b = self._batch(items, mask)
        A, G, K = items[0].shape[1], int(self.n_components), int(self.width)
        gen = torch.Generator().manual_seed(int(self.random_state or 0))
        if W_init is not None:
            W = torch.as_tensor(np.asarray(W_init), dtype=b.V.dtype, device=b.V.device).clone()
            if tuple(W.shape) != (A, G, K):
                raise DataError(f"W_init has shape {tuple(W.shape)}, expected {(A, G, K)}")
        else:
            W = torch.rand(A, G, K, generator=gen, dtype=torch.float64).to(b.V)
        if self.normalize_gestures:
            W = W / torch.linalg.vector_norm(W, dim=(0, 2), keepdim=True).clamp_min(EPS)
        H = self._init_H(b, W, gen)
        t0 = time.perf_counter()
        W, H, n_iter, history = self._run(b, W, H, int(self.max_iter), update_W=True)
        self.fit_time_ = time.perf_counter() - t0
        self.components_ = W.detach().cpu().numpy()
        self.n_features_in_ = A
        self.n_iter_ = n_iter
        self.loss_history_ = history
        self.reconstruction_err_ = self._err(history[-1])
        return self._split(H, b, is_list)

    def _err(self, cost: float) -> float:
        # As scikit-learn: the Frobenius norm of the residual, or sqrt(2 * beta-divergence).
        return math.sqrt(max(2.0 * cost, 0.0))

    def _split(self, H: torch.Tensor, b: _Batch, is_list: bool):
        Hn = H.detach().cpu().numpy()
        out = [Hn[:, a:c].copy() for a, c in b.spans]
        return out if is_list else out[0]

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise DataError("this ConvNMF is not fitted yet; call fit() first")

    def transform(self, X, mask=None, max_iter: int | None = None):
        """Scores ``(n_components, time)`` for new data with the gestures held fixed."""
        self._check_fitted()
        self._check_params()
        items, is_list = self._as_list(X)
        self._validate(items, self.components_.shape[0])
        b = self._batch(items, mask)
        W = torch.as_tensor(self.components_, dtype=b.V.dtype, device=b.V.device)
        # A flat start: multiplicative updates forget its scale after one step, and no random
        # draw ties an utterance's scores to its place in the batch.
        H = b.Hmask.expand(W.shape[1], -1).clone()
        n = max_iter or self.transform_max_iter or self.max_iter
        _, H, n_iter, history = self._run(b, W, H, int(n), update_W=False)
        self.transform_n_iter_ = n_iter
        self.transform_err_ = self._err(history[-1])
        return self._split(H, b, is_list)

    def inverse_transform(self, H):
        """Reconstruction ``(time, channels)`` from scores ``(n_components, time)`` (or a list)."""
        self._check_fitted()
        if isinstance(H, (list, tuple)):
            items, is_list = [np.asarray(h) for h in H], True
        else:
            items, is_list = [np.asarray(H.cpu() if isinstance(H, torch.Tensor) else H)], False
        W = torch.as_tensor(self.components_, dtype=_dtype(self.dtype), device=self._device())
        out = []
        for h in items:
            if h.ndim != 2 or h.shape[0] != W.shape[1]:
                raise DataError(f"scores must be ({W.shape[1]}, time), got shape {h.shape}")
            Ht = torch.as_tensor(h, dtype=W.dtype, device=W.device)
            out.append(self._recon(W, Ht).T.cpu().numpy())
        return out if is_list else out[0]

    def score(self, X) -> float:
        """Mean per-channel Pearson r of the reconstruction of ``X`` (gestures fixed)."""
        from gesturekit.units.metrics import mean_channel_r

        items, _ = self._as_list(X)
        H = self.transform(items)
        R = self.inverse_transform(H)
        return float(np.mean([mean_channel_r(x, r) for x, r in zip(items, R, strict=True)]))
