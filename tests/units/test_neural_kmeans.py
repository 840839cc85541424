"""k-means gesture initialisation: window super-vectors, the 492 <-> 12 x 41 layout, clustering."""

from __future__ import annotations

import numpy as np
import torch

from gesturekit.units.neural.kmeans import kmeans, kmeans_gestures, window_vectors


def test_window_vector_reshape_roundtrip_492_to_12x41():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(100, 12)).astype(np.float32))
    v = window_vectors(x, 41)
    assert v.shape == (100, 492)
    for t in (0, 7, 20, 50, 99):
        win = v[t].reshape(12, 41)  # channel-major: index a * 41 + k
        for k in range(41):
            s = t - 20 + k
            want = x[s] if 0 <= s < 100 else torch.zeros(12)
            assert torch.equal(win[:, k], want)
        assert torch.equal(v[t], win.reshape(492))


def test_kmeans_recovers_planted_centres_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 8, generator=g) * 10
    labels = torch.arange(500) % 5
    data = centres[labels] + 0.1 * torch.randn(500, 8, generator=g)
    found, lab = kmeans(data, 5, seed=3)
    d = torch.cdist(found, centres)
    assert (d.min(1).values < 0.5).all() and len(set(d.argmin(1).tolist())) == 5
    again, _ = kmeans(data, 5, seed=3)
    assert torch.equal(found, again)


def test_kmeans_gestures_layout_matches_the_decoder():
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(n, 12)).astype(np.float32) for n in (60, 80)]
    w = kmeans_gestures(arrays, gestures=6, width=41, seed=0)
    assert w.shape == (12, 6, 41)
    # each gesture is a centre of windows: reshaping back gives the (gestures, 492) centre matrix
    flat = w.permute(1, 0, 2).reshape(6, 492)
    vecs = torch.cat([window_vectors(torch.from_numpy(a), 41) for a in arrays])
    lab = torch.cdist(vecs, flat).argmin(1)
    for g in range(6):
        if (lab == g).any():
            assert torch.allclose(vecs[lab == g].mean(0), flat[g], atol=1e-4)
