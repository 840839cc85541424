"""Speed of the CC-NCE paper configuration: one full training step and generating 60 s.

``train_full_step_s``: median time of one generator step (pose L1 + adversarial + cc_nce +
cluster cross-entropy, backward, clip, AdamW) plus one discriminator step (on the generator
step's output), batch 32 x 64 pose frames, the reference paper model's configuration
(``JointLateClusterSoftContrastiveGlobalDTW_G``: 96-d pose, 8 clusters, 256 channels, 768-d
word vectors: frozen precomputed BERT features instead of a BERT fine-tuned inside the step).
cc_nce is active (epoch >= 3, the per-epoch dictionary filled by warm-up steps).
``generate_60s_s``: median model forward (eval) for 60 s of speech at 15 fps through the
pipeline's overlapping windows; feature extraction excluded.
The reference measured 4.8 s per step and 0.35 s per 60 s on 2 CPU cores, float32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from _common import main, median_time, parser


def run(args: Any) -> dict[str, Any]:
    import numpy as np
    import torch

    from gesturekit.cospeech.data import PoseFormat, Windows
    from gesturekit.cospeech.fit import FitConfig, ModelOptions, Prepared, Trainer
    from gesturekit.cospeech.pipeline import run_windows
    from gesturekit.features.normalize import Normalizer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    B, T, N = 32, 64, 256
    # structured poses (8 gesture groups) so that the online clustering finds clusters
    centres = rng.normal(0, 1, (8, 96)).astype(np.float32)
    group = rng.integers(0, 8, N)
    pose = centres[group][:, None, :] + 0.3 * rng.normal(size=(N, T, 96)).astype(np.float32)
    tokens = rng.normal(size=(N, T // 4, 768)).astype(np.float32).repeat(4, 1)  # word pieces of 4 frames
    audio = rng.normal(size=(N, T, 64)).astype(np.float32)
    w = Windows(audio, tokens, pose.astype(np.float32), ["x"] * N, np.zeros(N, int), rng.integers(0, 8, (N, T)))
    fmt = PoseFormat("vector", [f"j{i}" for i in range(48)], [-1] * 48, 2)
    norm = Normalizer("none").fit(np.zeros((2, 96)))
    prep = Prepared(w, w, norm, Normalizer("none").fit(np.zeros((2, 64))), None, fmt, 15.0, np.zeros(96))
    cfg = FitConfig(model="ccnce", batch_size=B, num_clusters=8, model_options=ModelOptions(cc_stat_epoch=2))
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, prep, Path(tmp), torch.device(args.device))
    g = tr.G
    dev = torch.device(args.device)
    state = {"i": 0}

    def batch():
        idx = (np.arange(B) + state["i"] * B) % N
        state["i"] += 1
        return [torch.as_tensor(x[idx], device=dev) for x in (w.audio, w.text, w.pose, w.labels)]

    for _ in range(3):  # the statistics epoch: learns the threshold
        tr.g_step(*batch(), epoch=2)
    g.curriculum_step.fill_(10**9)  # past the curriculum: the speech encoder runs every step
    for _ in range(2):  # fills the per-epoch cluster dictionary
        tr.g_step(*batch(), epoch=3)

    def full_step():
        a, t, y, lab = batch()
        fake, logs = tr.g_step(a, t, y, lab, epoch=3)
        tr.d_step(y, fake)
        return logs

    logs = full_step()
    step = median_time(full_step, repeats=args.repeats, warmup=1)
    g.eval()
    frames = 60 * 15
    a60 = rng.normal(size=(frames, 64)).astype(np.float32)
    t60 = rng.normal(size=(frames // 4 + 1, 768)).astype(np.float32).repeat(4, 0)[:frames]
    gen = median_time(lambda: run_windows(g, a60, t60, 64, dev), repeats=args.repeats, warmup=1)
    return {
        "train_full_step_s": step,
        "generate_60s_s": gen,
        "reference_train_step_s": 4.8,
        "reference_generate_60s_s": 0.35,
        "speedup_train": 4.8 / step,
        "speedup_generate": 0.35 / gen,
        "generator_params_m": sum(p.numel() for p in g.parameters()) / 1e6,
        "cc_nce_matched_clusters": int(g.cc.last_matched),
        "cc_nce_active": float(logs.get("cc_nce", 0.0)) > 0.0,
    }


if __name__ == "__main__":
    p = parser("CC-NCE training step and 60 s generation speed (paper configuration)")
    p.add_argument("--repeats", type=int, default=5)
    main("cospeech_speed", run, p)
