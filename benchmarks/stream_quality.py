"""Quality of the causal (live) model against the offline default on a held-out real BEAT2 take.

Folds of issue 9: train on one shared take (``beat2_sample/2_scott_0_1_1``: its first 90% trains,
its last 10% is the dev part for the best checkpoint), generate the whole other take
(``beat2_take2/2_scott_0_2_2``, never seen in training) from its audio, and score it with the
evaluation's own code (:func:`~gesturekit.cospeech.evaluation.metrics.evaluate_samples`: L1 on joint
positions, FGD with the default encoder trained on the held-out take's ground truth, seed 0, so
both models are measured with the same encoder). Models: the ``ccnce`` preset (offline default:
U-Net, words + audio) and the ``ccnce_stream`` preset (causal, audio only), the same training
budget (``--epochs`` x ``--num-iters`` batches of ``--batch-size``, no early stopping). ``ratio_*`` is
stream / offline (the goal: <= 1.2). ``--runs DIR`` keeps the trained runs (train the models in
separate processes with ``--models``, then score them together). ``mean-pose`` (the training
take's mean pose at every frame) is there for scale: a model that hardly moves scores near it.
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
REAL = ROOT.parent / "shared" / "realdata"
MODELS = {"offline": "ccnce", "stream": "ccnce_stream", "mean-pose": None}


def run(args: Any) -> dict[str, Any]:
    import numpy as np

    from gesturekit.config import load_config
    from gesturekit.cospeech.data.store_inputs import StoreInputs
    from gesturekit.cospeech.evaluation.metrics import evaluate_samples
    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.training.fit import FitConfig, fit
    from gesturekit.io.samples import SampleItem, Samples
    from gesturekit.skeleton import SKELETONS
    from gesturekit.store.cache import open_corpus_store

    runs = Path(args.runs or tempfile.mkdtemp(prefix="stream_quality_"))
    cache = runs / "store-cache"
    # the held-out take whole (no time split: all of it in one piece), read one interval at a time
    held = StoreInputs.from_store(open_corpus_store(args.test, cache=cache, holdout=0.0, dev_fraction=0.0))
    out: dict[str, Any] = {
        "train_take": args.train, "test_take": args.test, "epochs": args.epochs, "num_iters": args.num_iters,
        "batch_size": args.batch_size, "models": {},
    }  # fmt: skip
    for name in args.models:
        run_dir = runs / name
        if not (run_dir / "train_time.txt").exists():  # written when training finished
            preset = MODELS[name]
            cfg = load_config(FitConfig, preset, [], model=None if preset else name)
            cfg.epochs, cfg.num_iters, cfg.seed = args.epochs, args.num_iters, args.seed
            cfg.batch_size = args.batch_size
            cfg.dev_key, cfg.early_stopping = "L1", False
            cfg.holdout = 0.0  # the training take: its first 90% trains, its last 10% is the dev part
            cfg.model_options.cc_stat_epoch = max(1, args.epochs // 10)
            run_dir.mkdir(parents=True, exist_ok=True)
            t0, c0 = time.perf_counter(), time.process_time()
            fit(cfg, args.train, None, run_dir, device=args.device, cache=cache)
            (run_dir / "train_time.txt").write_text(
                f"{time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU\n"
            )
        if args.train_only:
            continue
        pipe = GesturePipeline.load(run_dir, args.device)
        items = []
        ds = held.dataset("train", 1, 1 << 30)
        for i in np.unique(ds.window_interval).tolist():
            audio, text, pose = held.interval(ds, i)
            gen = pipe.from_features(audio, np.zeros_like(text) if not pipe.reads_text else text)
            gt = pipe.pose_format.to_joints(pose)
            interval = str(held.store.index("train")["names"][i]).replace(":", "_")
            items.append(SampleItem(interval, held.store.speakers[0], gen, gt, split="test"))
        res = evaluate_samples(Samples(items, pipe.fps, SKELETONS["beat2"], "m", name))
        o = res["overall"]
        took = (run_dir / "train_time.txt").read_text().strip()
        out["models"][name] = {**{k: o[k] for k in ("l1", "fgd", "w1_vel", "diversity") if k in o},
                               "train_time": took}  # fmt: skip
        print(name, out["models"][name], flush=True)
    if {"offline", "stream"} <= set(out["models"]):
        for k in ("l1", "fgd"):
            out[f"ratio_{k}"] = out["models"]["stream"][k] / out["models"]["offline"][k]
    return out


if __name__ == "__main__":
    p = parser("causal (live) model vs the offline default: train on one BEAT2 take, score the other")
    p.add_argument("--train", default=str(REAL / "beat2_sample"))
    p.add_argument("--test", default=str(REAL / "beat2_take2"))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--num-iters", type=int, default=10, help="iterations (batches) per epoch")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--runs", default=None, help="folder that keeps the trained runs (reused when present)")
    p.add_argument("--train-only", action="store_true")
    main("stream_quality", run, p)
