"""The synthetic corpus's word durations: within the asked range, bad ranges refused."""

from __future__ import annotations

import numpy as np
import pytest

from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.errors import ConfigError


def _runs(text: np.ndarray) -> list[int]:
    change = np.flatnonzero(np.any(np.diff(text, axis=0) != 0, axis=1)) + 1
    return np.diff(np.concatenate([[0], change, [len(text)]])).tolist()


@pytest.mark.parametrize("lo, hi", [(6, 16), (24, 48)])
def test_word_durations_within_range(lo, hi):  # noqa: ANN001
    syn = make_synthetic_corpus(n_train=3, n_dev=0, n_test=0, frames=200, seed=3, word_frames=(lo, hi))
    inner = [r for c in syn.clips for r in _runs(c.text)[1:-1]]  # first/last may be cut or merged
    assert inner and max(inner) < 2 * hi
    # a repeated word merges two runs; most runs are single words within the range
    assert np.mean([lo <= r < hi for r in inner]) > 0.7


@pytest.mark.parametrize("bad", [(0, 5), (8, 8), (10, 4)])
def test_bad_word_frames_refused(bad):  # noqa: ANN001
    with pytest.raises(ConfigError, match="word_frames"):
        make_synthetic_corpus(n_train=1, n_dev=0, n_test=0, frames=20, word_frames=bad)
