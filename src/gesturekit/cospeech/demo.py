"""The co-speech step of ``gesturekit demo``: train a tiny CC-NCE model, sample, generate.

Data: the BEAT2 sample take (``../shared/realdata/beat2_sample``: no split CSV, so split in time:
the last 20% held out) when it exists, else the built-in synthetic corpus. Writes into
``out_dir``: the run folder ``run/`` (model, config, metrics, state), the packed data in
``store-cache/``, ``samples.h5`` (generated and ground-truth poses of the held-out part, the
layout of :mod:`gesturekit.io.samples`) and ``generated/poses.npz``
(gestures for a whole recording: the BEAT2 take's audio, or a synthetic clip's features).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.fsutil import atomic_path

BEAT2_SAMPLE = Path(__file__).resolve().parents[4] / "shared" / "realdata" / "beat2_sample"
BEAT2_TAKE = "2_scott_0_1_1"


def _beat2_dir() -> Path | None:
    for root in (Path.cwd().parent / "shared" / "realdata" / "beat2_sample", BEAT2_SAMPLE):
        if (root / f"{BEAT2_TAKE}.npz").exists() and (root / f"{BEAT2_TAKE}.wav").exists():
            return root
    return None


def step(out_dir: str | Path, seed: int = 0, quick: bool = False) -> dict[str, Any]:
    from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
    from gesturekit.cospeech.data.types import write_clip_folder
    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.inference.sampling import generate_file, sample_split
    from gesturekit.cospeech.training.fit import FitConfig, ModelOptions, fit

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    beat2 = _beat2_dir()
    corpus = None
    if beat2 is not None:
        data: Path = beat2  # no train_test_split.csv: the store cache splits the take in time
    else:
        corpus = make_synthetic_corpus(n_train=12, n_dev=2, n_test=2, frames=128, seed=seed)
        data = write_clip_folder(out / "synthetic", corpus)
    mo = ModelOptions(d=32 if quick else 64, decoder_width=16 if quick else 32, cc_stat_epoch=1,
                      curriculum_epochs=1.0)  # fmt: skip
    cfg = FitConfig(
        model="ccnce", seed=seed, window=32 if quick else 64, hop=4, batch_size=16,
        epochs=3 if quick else 30, num_iters=4 if quick else 10, num_clusters=4 if quick else 8,
        early_stopping=False, dev_key="L1", lr=1e-3, model_options=mo,
    )  # fmt: skip
    run = out / "run"
    run.mkdir(exist_ok=True)
    cache = out / "store-cache"
    res = fit(cfg, data, None, run, device="cpu", cache=cache)
    pipe = GesturePipeline.load(run)
    samples = sample_split(pipe, data, "test", out / "samples.h5", overwrite=True, cache=cache)
    gen_dir = out / "generated"
    if beat2 is not None:
        gen = generate_file(pipe, beat2 / f"{BEAT2_TAKE}.wav", beat2 / f"{BEAT2_TAKE}.TextGrid", gen_dir)
    else:
        assert corpus is not None
        clip = corpus.split("test")[0]
        poses = pipe.from_features(clip.audio, clip.text)
        gen_dir.mkdir(exist_ok=True)
        with atomic_path(gen_dir / "poses.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, poses=poses.astype(np.float32), fps=np.float32(pipe.fps),
                     joint_names=np.array(pipe.joint_names), parents=np.array(pipe.parents))  # fmt: skip
        gen = {"out": str(gen_dir / "poses.npz"), "frames": len(poses)}
    source = f"BEAT2 {BEAT2_TAKE}" if beat2 is not None else "synthetic corpus"
    return {
        "summary": f"CC-NCE on {source}: {res['epochs']} epochs, dev L1 {res['best']:.3f}; "
        f"{samples['intervals']} held-out interval(s) -> samples.h5; "
        f"{gen['frames']} frames -> generated/poses.npz",
        "data": source, "run": str(run), "samples": str(out / "samples.h5"), "poses": gen["out"],
        "epochs": res["epochs"], "dev_L1": res["best"], "train_windows": res["train_windows"],
    }  # fmt: skip
