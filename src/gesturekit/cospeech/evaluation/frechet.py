"""Fréchet distance between Gaussians fitted to feature sets (FID on poses, FGD on encoder features).

Means and unbiased covariances (N - 1) are accumulated over the whole split; the distance is
``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` with the trace of
the matrix square root taken from a symmetric eigen-decomposition (exact for covariances).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg


@dataclass
class GaussianStats:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``n`` feature rows."""

    mean: np.ndarray
    cov: np.ndarray
    n: int


def gaussian_stats(features: np.ndarray) -> GaussianStats:
    """Fit a Gaussian to ``features`` ``(N, D)`` (float64; covariance with N - 1)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 feature rows for a covariance, got {x.shape[0]}")
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / (x.shape[0] - 1)
    return GaussianStats(mean, cov, x.shape[0])


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance between two Gaussians.

    ``tr((S1 S2)^(1/2))`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric ``S1^(1/2) S2 S1^(1/2)`` (same value as scipy's ``sqrtm`` of the product, and
    stable when the covariances are singular, e.g. joints that move rigidly together).
    """
    diff = a.mean - b.mean
    s1h = _psd_sqrt(a.cov)
    eig = linalg.eigvalsh(s1h @ b.cov @ s1h)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    value = float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * tr_covmean)
    return max(value, 0.0)


def frechet_from_features(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``x`` and ``y`` (both ``(N, D)``)."""
    return frechet_distance(gaussian_stats(x), gaussian_stats(y))
