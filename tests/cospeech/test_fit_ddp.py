"""DDP on the CPU: a 2-rank torchrun ``cospeech fit`` (gloo) exits 0, and in every epoch the two
ranks train on disjoint shares of the windows, gathered from the same memory-mapped store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import write_clip_folder

REPO = Path(__file__).resolve().parents[2]

# Runs the CLI in each rank with WindowDataset.get_batch recording the training windows it gathers
# once the engine's loop has started (the k-means sample before it is the same on every rank).
RANK_SCRIPT = """
import mmap, os, sys
import numpy as np
from gesturekit.store.dataset import PackedStore, WindowDataset
from gesturekit.train.loop import Trainer

seen, state = [], {"loop": False}
gather, loop = WindowDataset.get_batch, Trainer.fit

def recording_gather(self, ids):
    if state["loop"] and self.split == "train":
        for a in self._arrays.values():  # views of the store's memory maps, not copies
            while isinstance(a, np.ndarray):
                a = a.base
            assert isinstance(a.obj if isinstance(a, memoryview) else a, mmap.mmap)
        seen.append(np.asarray(ids).copy())
    return gather(self, ids)

def recording_loop(self, *a, **kw):
    state["loop"] = True
    return loop(self, *a, **kw)

WindowDataset.get_batch, Trainer.fit = recording_gather, recording_loop
from gesturekit.cli import main
code = main(sys.argv[1:])
out = sys.argv[sys.argv.index("--out") + 1]
np.save(out + f"-rank{os.environ['RANK']}.npy", np.stack(seen))
sys.exit(code)
"""


def test_two_rank_torchrun_fit_shares_the_windows(tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    corpus = make_synthetic_corpus(n_train=8, n_dev=1, n_test=1, frames=64, seed=0)
    data = write_clip_folder(tmp_path / "clips", corpus)
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), GESTUREKIT_QUIET="1", OMP_NUM_THREADS="1")
    sets = ["window=32", "hop=8", "num_clusters=3", "model_options.d=16", "model_options.cc_stat_epoch=0"]
    argv = [torchrun, "--standalone", "--nproc_per_node", "2", str(script), "cospeech", "fit",
            "--data", str(data), "--cache", str(tmp_path / "cache"), "--epochs", "2", "--num-iters", "2",
            "--batch-size", "4", "--threads", "1", "--device", "cpu", "--out", str(out)]  # fmt: skip
    argv += [x for s in sets for x in ("--set", s)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "training.json").read_text())
    assert summary["epochs"] == 2 and summary["steps"] == 4 and summary["train_windows"] == 40
    assert (out / "model.safetensors").exists() and (out / "state" / "latest.json").exists()
    ranks = [np.load(f"{out}-rank{r}.npy") for r in (0, 1)]  # (batches, batch size) per rank
    assert ranks[0].shape == ranks[1].shape == (4, 4)
    for epoch in range(2):
        a, b = (r[2 * epoch : 2 * epoch + 2].ravel() for r in ranks)
        assert len(set(a)) == len(a) == 8 and not set(a) & set(b), (epoch, a, b)
    assert not np.array_equal(ranks[0][:2], ranks[0][2:])  # each epoch its own order
