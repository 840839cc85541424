"""Metrics: Hoyer sparseness extremes, masking, Pearson r and errors."""

import numpy as np
import pytest

from gesturekit.units import metrics


def test_hoyer_is_one_for_one_hot_and_zero_for_flat() -> None:
    v = np.zeros(40)
    v[7] = 3.0
    assert metrics.hoyer(v) == pytest.approx(1.0)
    assert metrics.hoyer(np.full(40, 2.5)) == pytest.approx(0.0, abs=1e-12)
    mid = metrics.hoyer(np.r_[np.ones(10), np.zeros(30)])
    assert 0.0 < mid < 1.0


def test_hoyer_per_frame_and_gesture_with_mask() -> None:
    H = np.zeros((4, 6))
    H[2, :] = 1.0  # one gesture active in every frame: one-hot per frame, flat over time
    sc = metrics.sparseness_per_frame(H)
    st = metrics.sparseness_per_gesture(H)
    np.testing.assert_allclose(sc, 1.0)
    assert st[2] == pytest.approx(0.0)
    assert np.isnan(st[0])  # an all-zero gesture has no defined sparseness
    H2 = H.copy()
    H2[:, 5] = 1.0  # a flat padding frame
    mask = np.array([1, 1, 1, 1, 1, 0], bool)
    np.testing.assert_allclose(metrics.sparseness_per_frame(H2, mask), 1.0)
    assert metrics.sparseness_per_frame(H2)[5] == pytest.approx(0.0)
    assert metrics.active_gestures(H2, mask).tolist() == [1] * 5


def test_reconstruction_metrics() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    assert metrics.mean_channel_r(x, x) == pytest.approx(1.0)
    assert metrics.rmse(x, x + 0.5) == pytest.approx(0.5)
    assert metrics.l1(x, x - 0.25) == pytest.approx(0.25)
    assert metrics.explained_variance(x, x + 3.0) == pytest.approx(1.0)  # a constant offset is not variance
    y = x.copy()
    y[:, 1] = -y[:, 1]
    np.testing.assert_allclose(metrics.channel_r(x, y), [1, -1, 1])
    # a masked frame never counts
    z = x.copy()
    z[10] += 100
    mask = np.ones(500, bool)
    mask[10] = False
    assert metrics.rmse(x, z, mask) == 0.0
    m = metrics.reconstruction_metrics(x, x + 0.1, ["a", "b", "c"], mm_scale=np.array([2.0, 2.0, 2.0]))
    assert m["rmse_mm"] == pytest.approx(0.2) and m["channel_r"]["b"] == pytest.approx(1.0)
