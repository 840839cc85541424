import numpy as np
import pytest

from gesturekit.errors import DataError
from gesturekit.features.normalize import Normalizer


@pytest.mark.parametrize("method", ["none", "zscore", "minmax"])
@pytest.mark.parametrize("split", [False, True])
def test_round_trip_and_json(method: str, split: bool) -> None:
    rng = np.random.default_rng(0)
    xs = [rng.normal(3, 2, size=(50, 4)), rng.normal(3, 2, size=(30, 4))]
    n = Normalizer(method, nonneg_split=split).fit(xs, ["a", "b", "c", "d"])
    y = n.transform(xs[0])
    assert y.shape == (50, 8 if split else 4)
    if split:
        assert y.min() >= 0
    back = Normalizer.from_dict(n.to_dict()).inverse_transform(y)
    np.testing.assert_allclose(back, xs[0], atol=1e-4)


def test_statistics_are_what_they_claim() -> None:
    x = np.array([[0.0, 10.0], [2.0, 30.0], [np.nan, 20.0]])
    z = Normalizer("zscore").fit(x)
    np.testing.assert_allclose(z.shift, [1.0, 20.0])
    m = Normalizer("minmax").fit(x).transform(np.array([[0.0, 30.0]]))
    np.testing.assert_allclose(m, [[0.0, 1.0]])


def test_errors() -> None:
    with pytest.raises(DataError, match="before fit"):
        Normalizer().transform(np.zeros((2, 2)))
    n = Normalizer().fit(np.ones((3, 2)))
    with pytest.raises(DataError, match=r"\(time, 2\)"):
        n.transform(np.zeros((3, 5)))
    with pytest.raises(DataError, match="no finite"):
        Normalizer().fit(np.full((3, 1), np.nan))
