"""A planted corpus for convolutive NMF: random gestures, sparse scores, convolved, plus noise.

Used by the recovery tests and by the demo when no real data are present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gesturekit.units.ops import kernel_offset, reconstruct


def planted_corpus(
    n_channels: int = 12,
    n_gestures: int = 6,
    width: int = 21,
    lengths: tuple[int, ...] = (800, 600, 700),
    density: float = 0.01,
    snr_db: float = 20.0,
    seed: int = 0,
    centred: bool = True,
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """``(X list of (time, channels), W (channels, gestures, width), H list of (gestures, time))``.

    Gestures are smooth non-negative bumps with random spatial loadings (unit norm); scores are
    sparse spikes (about ``density`` of the frames per gesture) with random heights; Gaussian
    noise at ``snr_db`` (signal power over noise power) is added and the result is kept
    non-negative by a constant offset per channel, never by clipping.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(-1, 1, width)
    W = np.zeros((n_channels, n_gestures, width))
    for g in range(n_gestures):
        load = rng.gamma(0.6, 1.0, size=n_channels)
        centre = rng.uniform(-0.3, 0.3, size=n_channels)
        spread = rng.uniform(0.25, 0.5, size=n_channels)
        W[:, g, :] = load[:, None] * np.exp(-0.5 * ((t[None, :] - centre[:, None]) / spread[:, None]) ** 2)
        W[:, g, :] /= np.linalg.norm(W[:, g, :])
    Hs, Xs = [], []
    off = kernel_offset(width, centred)
    for T in lengths:
        H = (rng.random((n_gestures, T)) < density) * rng.uniform(0.5, 1.5, size=(n_gestures, T))
        clean = reconstruct(torch.from_numpy(W), torch.from_numpy(H), off, "direct").numpy().T
        p_sig = np.mean(clean**2)
        noise = rng.normal(scale=np.sqrt(p_sig / 10 ** (snr_db / 10)), size=clean.shape)
        Hs.append(H)
        Xs.append(clean + noise)
    low = min(float(x.min()) for x in Xs)
    shift = max(0.0, -low)
    Xs = [(x + shift).astype(np.float64) for x in Xs]
    return Xs, W, Hs


def write_planted_nema(
    folder: str | Path,
    lengths: tuple[int, ...] = (300, 260, 240),
    n_gestures: int = 3,
    width: int = 11,
    snr_db: float = 25.0,
    seed: int = 0,
    signed: bool = True,
) -> tuple[list[Path], np.ndarray]:
    """Write a planted corpus as 12-channel nema ``.npy`` files ``planted_NN.npy``.

    ``signed``: centre the data (like z-scored nema) so that it has negative values.
    Returns the file paths and the planted gestures.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    X, W, _ = planted_corpus(
        n_channels=12, n_gestures=n_gestures, width=width, lengths=lengths, snr_db=snr_db, seed=seed
    )
    mean = np.concatenate(X).mean(0) if signed else np.zeros(12)
    paths = []
    for i, x in enumerate(X):
        p = folder / f"planted_{i:02d}.npy"
        np.save(p, ((x - mean) * (3.0 if signed else 1.0)).astype(np.float64))
        paths.append(p)
    return paths, W
