"""Training reads batches from the store's memory maps and never builds an array of all windows.

Two checks that do not depend on timing or on the machine: every gather during a fit asks the
memory-mapped arrays for at most one batch (or one chunk, or one interval) of windows; and the
peak of the memory Python and NumPy allocate during a fit (tracemalloc) stays flat when the corpus
grows eightfold, where materialising its windows would add tens of megabytes.
"""

from __future__ import annotations

import mmap
import tracemalloc

import numpy as np
import pytest
import torch

from gesturekit.cospeech.data.store_inputs import open_store
from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import write_clip_folder
from gesturekit.cospeech.training.fit import FitConfig, ModelOptions, fit
from gesturekit.store.dataset import WindowDataset

torch.set_num_threads(1)


def _mapped(a: np.ndarray) -> bool:
    """Whether ``a`` is a view of a memory map (of the store's files), not an array in memory."""
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a.obj if isinstance(a, memoryview) else a, mmap.mmap)


def _cfg(**kw) -> FitConfig:
    mo = ModelOptions(d=16, decoder_width=8, cc_stat_epoch=0, curriculum_epochs=1.0)
    base = dict(epochs=1, num_iters=2, batch_size=8, window=32, hop=2, num_clusters=3, cluster_windows=64,
                min_epochs=0, seed=3, eval_batch=16, model_options=mo)  # fmt: skip
    base.update(kw)
    return FitConfig(**base)


def _store(tmp_path, n_train: int, n_dev: int):  # noqa: ANN202
    corpus = make_synthetic_corpus(n_train=n_train, n_dev=n_dev, n_test=1, frames=256, seed=0)
    return open_store(write_clip_folder(tmp_path / f"clips{n_train}", corpus), tmp_path / "cache").path


def test_every_gather_is_one_batch_chunk_or_interval_from_memory_maps(tmp_path, monkeypatch):
    store = _store(tmp_path, 6, 2)
    seen: list[tuple[int, int, bool]] = []
    real = WindowDataset._gather

    def recording(self, iv, starts, length):
        seen.append((len(iv), length, all(_mapped(a) for a in self._arrays.values())))
        return real(self, iv, starts, length)

    monkeypatch.setattr(WindowDataset, "_gather", recording)
    res = fit(_cfg(), store, None, tmp_path / "run", device="cpu")
    assert res["train_windows"] == 6 * 113 and seen
    assert all(memmap for _, _, memmap in seen)
    # batches of 8 (training), chunks of 16 (dev) or of 256 (the k-means sample of 64), or one interval
    for n, length, _ in seen:
        assert (n <= 64 and length == 32) or (n == 1 and length == 256), (n, length)


def _peak_traced(tmp_path, store, name: str) -> int:
    tracemalloc.start()
    try:
        fit(_cfg(), store, None, tmp_path / name, device="cpu")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_peak_allocations_do_not_grow_with_the_corpus(tmp_path):
    small, large = _store(tmp_path, 4, 1), _store(tmp_path, 32, 8)
    _peak_traced(tmp_path, small, "warm")  # first-use allocations (imports, caches) out of the way
    a = _peak_traced(tmp_path, small, "small")
    b = _peak_traced(tmp_path, large, "large")
    # every training window of the large corpus at once: 3616 x 32 frames x (98 + 64 + 16) float32
    materialised = (32 - 4) * 113 * 32 * (98 + 64 + 16) * 4
    assert b - a < 0.1 * materialised, (a, b, materialised)
