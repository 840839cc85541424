"""BEAT2 sample: train each co-speech model for a few minutes on the first 80% of the take and
generate for the held-out last 20% of the speech; L1 and velocity statistics against baselines.

The take ``../shared/realdata/beat2_sample/2_scott_0_1_1`` at 15 fps is split in time: the
first 70% trains, the next 10% is the dev part (best checkpoint), the last 20% is held out
(never seen in training). For each model (the ``ccnce`` preset CC-NCE, the mixture model
without cc_nce, Speech2Gesture, nearest neighbour, mean pose) the held-out speech goes through
:class:`~gesturekit.cospeech.inference.pipeline.GesturePipeline` (features -> one-pass generation ->
axis-angle), then the generic-skeleton forward kinematics gives joint positions (metres, no
root translation). Figures over the upper-body joints: ``L1_cm`` (mean absolute position
error), ``vel_L1_cm_s`` (the same on velocities), ``speed_mean_m_s`` / ``speed_p95_m_s``
(generated; the ground truth's under ``ground_truth``), ``speed_w1_m_s`` (Wasserstein-1 between
generated and real per-frame joint speeds), ``jerk_m_s3`` and ``rot6d_L1`` (the model's own
output space).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from _common import main, parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "realdata" / "beat2_sample"
MODELS = {
    "ccnce": "ccnce",
    "mix": "mix",
    "speech2gesture": "speech2gesture",
    "nearest-neighbour": None,
    "mean-pose": None,
}


def motion_stats(pos: Any, fps: float) -> dict[str, Any]:
    import numpy as np

    from gesturekit.cospeech.evaluation.pose_metrics import jerk

    speed = np.linalg.norm(np.diff(pos, axis=0) * fps, axis=-1)  # per joint and frame
    return {
        "speed": speed,
        "speed_mean_m_s": float(speed.mean()),
        "speed_p95_m_s": float(np.percentile(speed, 95)),
        "jerk_m_s3": jerk([pos], np.arange(pos.shape[1]), fps)["mean"],
    }


def run(args: Any) -> dict[str, Any]:
    import numpy as np
    import torch
    from scipy.stats import wasserstein_distance

    from gesturekit.config import load_config
    from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store
    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.training.fit import FitConfig, fit
    from gesturekit.features.rotations import axis_angle_to_rot6d
    from gesturekit.skeleton import BEAT2_UPPER_BODY, forward_kinematics

    torch.set_num_threads(args.threads)
    cache = Path(tempfile.mkdtemp()) / "cache"
    inputs = StoreInputs.from_store(open_store(args.data, cache, holdout=0.2))  # no CSV: time split
    held = inputs.dataset("test", 1, 1 << 30)
    test_audio, test_text, test_pose = inputs.interval(held, int(held.window_interval[0]))
    fps = inputs.fps
    gt_aa = inputs.pose_format.to_joints(test_pose)
    gt_pos = forward_kinematics(gt_aa)[:, BEAT2_UPPER_BODY]
    gt = motion_stats(gt_pos, fps)
    out: dict[str, Any] = {
        "data": str(args.data), "fps": fps, "held_out_frames": len(test_pose),
        "train_frames": int(inputs.dataset("train", 1, 1 << 30).interval_frames.sum()),
        "ground_truth": {k: v for k, v in gt.items() if k != "speed"}, "models": {},
    }  # fmt: skip
    for name, cfg_file in MODELS.items():
        if args.models and name not in args.models:
            continue
        cfg = load_config(FitConfig, cfg_file, [], model=name)
        cfg.epochs, cfg.num_iters, cfg.batch_size, cfg.seed = args.epochs, args.num_iters, 16, args.seed
        cfg.dev_key, cfg.early_stopping = "L1", False
        cfg.model_options.cc_stat_epoch = max(1, args.epochs // 10)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            res = fit(cfg, args.data, None, Path(tmp), device=args.device, cache=cache)
            pipe = GesturePipeline.load(tmp, args.device)
            train_s = time.perf_counter() - t0
            aa = pipe.from_features(test_audio, test_text)
        pos = forward_kinematics(aa)[:, BEAT2_UPPER_BODY]
        st = motion_stats(pos, fps)
        gen6 = axis_angle_to_rot6d(aa).reshape(len(aa), -1)
        out["models"][name] = {
            "L1_cm": float(np.abs(pos - gt_pos).mean() * 100),
            "vel_L1_cm_s": float(np.abs(np.diff(pos - gt_pos, axis=0)).mean() * fps * 100),
            "speed_w1_m_s": float(wasserstein_distance(st["speed"].ravel(), gt["speed"].ravel())),
            "rot6d_L1": float(np.abs(gen6 - test_pose).mean()),
            **{k: v for k, v in st.items() if k != "speed"},
            "train_s": round(train_s, 1), "epochs": res["epochs"], "best_epoch": res["best_epoch"],
        }  # fmt: skip
        print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in out["models"][name].items()},
              flush=True)  # fmt: skip
    return out


if __name__ == "__main__":
    p = parser("BEAT2 sample: train on the first 80%, generate the held-out 20%, compare with baselines")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--num-iters", type=int, default=10, help="iterations (batches of 16) per epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="*", default=None, help=f"subset of {list(MODELS)}")
    main("beat2_holdout", run, p)
