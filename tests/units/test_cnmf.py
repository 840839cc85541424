"""ConvNMF: planted-gesture recovery, costs, masking, batching, sparsity options, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from gesturekit.errors import DataError
from gesturekit.units import ConvNMF
from gesturekit.units.cnmf import hoyer_project
from gesturekit.units.metrics import hoyer
from gesturekit.units.synthetic import planted_corpus

pytestmark = pytest.mark.usefixtures("one_thread")


def _shift(w: np.ndarray, lag: int) -> np.ndarray:
    """``w`` ``(channels, width)`` moved ``lag`` frames later in time, zeros shifted in."""
    out = np.zeros_like(w)
    if lag >= 0:
        out[:, lag:] = w[:, : w.shape[1] - lag]
    else:
        out[:, :lag] = w[:, -lag:]
    return out


def kernel_match(W_true: np.ndarray, W_est: np.ndarray, max_lag: int = 3) -> float:
    """Mean correlation of the planted gestures with their Hungarian-matched estimates.

    A convolutive factorisation recovers a gesture only up to a small shift in time (moved into
    its scores), so each pair is compared at its best lag within ``max_lag`` frames. A dead
    (all-zero) estimate correlates 0 with everything.
    """
    G, E = W_true.shape[1], W_est.shape[1]
    C = np.zeros((G, E))
    for i in range(G):
        a = W_true[:, i, :].ravel()
        for j in range(E):
            best = 0.0
            for lag in range(-max_lag, max_lag + 1):
                b = _shift(W_est[:, j, :], lag).ravel()
                if b.std() > 0:
                    best = max(best, float(np.corrcoef(a, b)[0, 1]))
            C[i, j] = best
    rows, cols = linear_sum_assignment(-C)
    return float(C[rows, cols].mean())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("beta_loss", "sparseness"), [("frobenius", 0.85), ("kullback-leibler", 0.8)])
def test_recovers_planted_gestures_at_20db(seed: int, beta_loss: str, sparseness: float) -> None:
    """Random gestures and sparse scores, convolved, Gaussian noise at SNR 20 dB.

    Without a sparsity prior the temporal extent of a gesture trades off against the spread
    of its scores (a sharper kernel with blurred scores fits as well, mean match about 0.8);
    the Hoyer constraint on the scores (the planted ones have sparseness of about 0.92) removes
    that ambiguity. Known limit: when two planted gestures share their dominant channels
    (e.g. seeds 6 and 7), KL can merge them and spend a gesture on the constant offset that
    keeps the noisy data non-negative (match 0.80-0.83).
    """
    X, W_true, _ = planted_corpus(
        n_channels=8, n_gestures=4, width=15, lengths=(700, 500, 800), snr_db=20, seed=seed
    )
    m = ConvNMF(4, 15, beta_loss=beta_loss, max_iter=300, tol=0, random_state=0, sparseness=sparseness)
    H = m.fit_transform(X)
    assert isinstance(H, list) and [h.shape for h in H] == [(4, 700), (4, 500), (4, 800)]
    score = kernel_match(W_true, m.components_)
    assert score >= 0.9, score
    R = m.inverse_transform(H)
    # The fit explains most of the data (the noise-free signal reaches r = 0.994; a model with
    # no offset term cannot follow the constant that keeps the noisy data non-negative).
    assert np.corrcoef(np.concatenate(X).ravel(), np.concatenate(R).ravel())[0, 1] > 0.93
    # a random set of gestures of the same shape family is far from the planted ones
    _, W_other, _ = planted_corpus(n_channels=8, n_gestures=4, width=15, lengths=(50,), seed=seed + 100)
    assert kernel_match(W_true, W_other) < 0.8


def test_cost_decreases_and_reconstruction_err_matches() -> None:
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(400,), snr_db=20, seed=0)
    for beta in ("frobenius", "kullback-leibler"):
        m = ConvNMF(3, 11, beta_loss=beta, max_iter=60, tol=0, check_every=1, dtype="float64").fit(X[0])
        hist = np.array(m.loss_history_)
        assert np.all(np.diff(hist) <= 1e-9 * hist[0]), beta  # monotone (MU guarantee)
    m = ConvNMF(3, 11, beta_loss="frobenius", max_iter=40, tol=0, dtype="float64")
    H = m.fit_transform(X[0])
    resid = X[0] - m.inverse_transform(H)
    assert m.reconstruction_err_ == pytest.approx(np.linalg.norm(resid), rel=1e-6)


def test_tol_stops_early() -> None:
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(400,), snr_db=20, seed=0)
    m = ConvNMF(3, 11, max_iter=2000, tol=1e-2).fit(X[0])
    assert m.n_iter_ < 2000


def test_list_batch_has_no_padding_artefacts() -> None:
    """A batch of utterances gives each one the scores it gets alone; no score leaks across."""
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(300, 120, 250), snr_db=20, seed=1)
    m = ConvNMF(3, 11, max_iter=30, tol=0, dtype="float64").fit(X)
    Hs = m.transform(X, max_iter=40)
    for x, h in zip(X, Hs, strict=True):
        alone = m.transform(x, max_iter=40)
        assert alone.shape == (3, len(x))
        np.testing.assert_allclose(alone, h, rtol=1e-9, atol=1e-12)
    # fit_transform's scores reproduce the fitted reconstruction utterance by utterance
    m2 = ConvNMF(3, 11, beta_loss="frobenius", max_iter=20, tol=0, dtype="float64")
    H2 = m2.fit_transform(X)
    err2 = sum(float(((x - r) ** 2).sum()) for x, r in zip(X, m2.inverse_transform(H2), strict=True))
    assert m2.reconstruction_err_ == pytest.approx(np.sqrt(err2), rel=1e-9)


def test_masking_ignores_held_out_frames() -> None:
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(500,), snr_db=30, seed=2)
    x = X[0].copy()
    mask = np.ones(len(x), bool)
    mask[200:260] = False
    corrupted = x.copy()
    corrupted[200:260] = 50.0  # garbage in held-out frames
    a = ConvNMF(3, 11, max_iter=100, tol=0, dtype="float64")
    Ha = a.fit_transform(corrupted, mask=mask)
    b = ConvNMF(3, 11, max_iter=100, tol=0, dtype="float64")
    Hb = b.fit_transform(x, mask=mask)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(Ha, Hb, rtol=1e-8, atol=1e-10)
    # but the held-out frames do count when they are not masked
    c0 = ConvNMF(3, 11, max_iter=100, tol=0, dtype="float64").fit(corrupted)
    assert not np.allclose(c0.components_, b.components_, atol=1e-3)
    # per-entry masks work too
    emask = np.ones_like(x, bool)
    emask[100:150, 2] = False
    c = ConvNMF(3, 11, max_iter=20, tol=0).fit(x, mask=emask)
    assert c.components_.shape == (6, 3, 11)


def test_negative_input_is_refused_not_clipped() -> None:
    x = np.random.default_rng(0).normal(size=(100, 4))
    with pytest.raises(DataError, match="nonneg_split"):
        ConvNMF(2, 5).fit(x)
    with pytest.raises(DataError, match="NaN"):
        ConvNMF(2, 5).fit(np.full((50, 3), np.nan))
    m = ConvNMF(2, 5, max_iter=5).fit(np.abs(x))
    with pytest.raises(DataError, match="channels"):
        m.transform(np.abs(x[:, :3]))


def test_hoyer_constraint_and_l1_and_xortho() -> None:
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(600,), snr_db=20, seed=4)
    m = ConvNMF(3, 11, max_iter=40, tol=0, sparseness=0.8)
    H = m.fit_transform(X[0])
    np.testing.assert_allclose(hoyer(H, axis=1), 0.8, atol=2e-3)
    dense = ConvNMF(3, 11, max_iter=40, tol=0).fit_transform(X[0])
    sparse = ConvNMF(3, 11, max_iter=40, tol=0, alpha_H=5.0).fit_transform(X[0])
    assert np.nanmean(hoyer(sparse, axis=1)) > np.nanmean(hoyer(dense, axis=1))
    xo = ConvNMF(3, 11, max_iter=40, tol=0, lambda_xortho=0.01, beta_loss="frobenius").fit_transform(X[0])
    assert np.all(np.isfinite(xo)) and xo.min() >= 0


def test_hoyer_projection_vectorised() -> None:
    v = torch.rand(5, 200, dtype=torch.float64)
    for s in (0.2, 0.6, 0.95):
        p = hoyer_project(v, s)
        np.testing.assert_allclose(hoyer(p.numpy(), axis=1), s, atol=1e-6)
        np.testing.assert_allclose(torch.linalg.vector_norm(p, dim=1), torch.linalg.vector_norm(v, dim=1))
        assert p.min() >= 0


def test_causal_float64_and_gestures_are_unit_norm() -> None:
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(300,), snr_db=20, seed=5)
    m = ConvNMF(3, 11, max_iter=30, centred=False, dtype="float64", engine="direct")
    H = m.fit_transform(X[0])
    assert H.dtype == np.float64 and m.components_.shape == (6, 3, 11)
    np.testing.assert_allclose(np.linalg.norm(m.components_, axis=(0, 2)), 1.0, rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_matches_cpu() -> None:
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(300,), snr_db=20, seed=5)
    a = ConvNMF(3, 11, max_iter=30, tol=0, dtype="float64").fit(X[0])
    b = ConvNMF(3, 11, max_iter=30, tol=0, dtype="float64", device="cuda").fit(X[0])
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-6, atol=1e-9)


def test_kl_sparseness_target_warms_up() -> None:
    """KL with a Hoyer target ramps it over a third of the iterations and never stops early then."""
    X, _, _ = planted_corpus(n_channels=6, n_gestures=3, width=11, lengths=(600,), snr_db=20, seed=4)
    m = ConvNMF(3, 11, max_iter=60, tol=0.5, sparseness=0.8, check_every=1)
    assert m._sparseness_at(10, 60) == pytest.approx(0.4) and m._sparseness_at(20, 60) == pytest.approx(0.8)
    H = m.fit_transform(X[0])
    assert 20 <= m.n_iter_ < 60  # the loose tol stops it, but only after the warm-up
    np.testing.assert_allclose(hoyer(H, axis=1), 0.8, atol=2e-3)
    fro = ConvNMF(3, 11, beta_loss="frobenius", max_iter=60, sparseness=0.8)
    assert fro._sparseness_at(1, 60) == 0.8  # no warm-up by default for Frobenius
    assert ConvNMF(3, 11, sparseness=0.8, sparseness_warmup=0)._sparseness_at(1, 60) == 0.8
