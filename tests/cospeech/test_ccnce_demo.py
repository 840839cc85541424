"""The co-speech demo step: quick mode trains, samples and generates into its folder."""

from __future__ import annotations

import numpy as np
import torch

from gesturekit.cospeech.demo import step
from gesturekit.io.samples import read_samples

torch.set_num_threads(1)


def test_demo_step_writes_samples_and_poses(tmp_path):
    res = step(tmp_path / "cospeech", seed=0, quick=True)
    assert res["summary"].startswith("CC-NCE on ") and res["epochs"] == 3
    s = read_samples(tmp_path / "cospeech" / "samples.h5")
    assert s.items and s.items[0].generated.shape == s.items[0].ground_truth.shape
    assert np.all(np.isfinite(s.items[0].generated))
    with np.load(tmp_path / "cospeech" / "generated" / "poses.npz") as z:
        poses = z["poses"]
        assert poses.ndim == 3 and len(z["joint_names"]) == poses.shape[1] == len(z["parents"])
        assert float(z["fps"]) == 15.0
    assert (tmp_path / "cospeech" / "run" / "model.safetensors").exists()
