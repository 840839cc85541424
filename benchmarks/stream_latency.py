"""Live generation latency: a 60 s take pushed in 100 ms chunks through StreamingGenerator on one thread.

Per chunk: the wall-clock compute of ``push`` (p50, p95, max) and its process CPU time (one
thread: CPU time about equal to wall time, never above it by more than the interpreter's own
helpers); the lookahead (the audio after a frame's time that the frame waits for); ``latency_ms``
= lookahead + p95 compute, the goal being <= 100 ms; the real-time factor (all compute, flush
included, over the audio's duration); and ``max_abs_diff`` between the streamed poses and the
offline pipeline's (``cospeech generate``) for the same audio.

The model: ``--run RUN`` (a run trained with ``--config ccnce_stream``) or, by default, the
the ``ccnce_stream`` preset model for BEAT2 (330-d rot6d poses) with random weights (seed 0):
compute does not depend on the weights. Audio: ``beat2_take2/2_scott_0_2_2.wav`` cut to 60 s, or
60 s of noise when ``../shared`` is absent.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # one core, BLAS included
    os.environ.setdefault(_var, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from _common import main, parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WAV = ROOT.parent / "shared" / "realdata" / "beat2_take2" / "2_scott_0_2_2.wav"


def preset_pipeline(seed: int) -> Any:
    """The ccnce_stream preset's model for BEAT2 poses, random weights, identity-like normalisers."""
    import numpy as np
    import torch

    from gesturekit.config import config_to_dict, load_config
    from gesturekit.cospeech.data.store_inputs import (
        HASH_DIM as TEXT_DIM,  # BEAT2's hashed word vectors are 64-d
    )
    from gesturekit.cospeech.data.types import SMPLX_6D
    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.models import build_model
    from gesturekit.cospeech.training.fit import FitConfig
    from gesturekit.features.normalize import Normalizer

    cfg = load_config(FitConfig, "ccnce_stream")
    kw = config_to_dict(cfg.model_options)
    kw.pop("curriculum_epochs")
    kw.update(pose_dim=330, text_dim=TEXT_DIM, audio_dim=64, num_clusters=cfg.num_clusters, window=cfg.window)
    torch.manual_seed(seed)
    model = build_model(cfg.model, **kw).eval()
    rng = np.random.default_rng(seed)
    meta = {
        "kwargs": kw, "fps": cfg.fps, "window": cfg.window, "text_features": "none",
        "pose_norm": Normalizer("zscore").fit([rng.standard_normal((100, 330)) * 0.1]).to_dict(),
        "audio_norm": Normalizer("zscore").fit([rng.standard_normal((100, 64)) * 3 - 5]).to_dict(),
        "pose_format": SMPLX_6D.to_dict(),
    }  # fmt: skip
    return GesturePipeline(model, meta)


def run(args: Any) -> dict[str, Any]:
    import numpy as np

    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.inference.streaming import StreamingGenerator, replay
    from gesturekit.records import Audio

    pipe = GesturePipeline.load(args.run) if args.run else preset_pipeline(args.seed)
    n = int(args.seconds * 16000)
    if WAV.exists():
        from gesturekit.io.audio import read_audio

        samples, source = read_audio(WAV).samples[:n], str(WAV)
    else:
        samples, source = (np.random.default_rng(0).standard_normal(n) * 0.1).astype(np.float32), "noise"
    gen = StreamingGenerator(pipe)
    replay(gen, samples[:16000], int(args.chunk_ms * 16))  # warm-up (allocations, first-call costs)
    gen.reset()
    poses, fig = replay(gen, samples, int(args.chunk_ms * 16))
    ref = pipe(Audio(samples, 16000))
    return {"model": args.run or "preset ccnce_stream (random weights)", "audio": source, **fig,
            "frames": len(poses), "max_abs_diff": float(np.abs(poses - ref).max()),
            "cpu_over_wall": fig["cpu_total_s"] / fig["wall_total_s"]}  # fmt: skip


if __name__ == "__main__":
    p = parser("live generation latency: 100 ms chunks of a 60 s take, one CPU thread")
    p.set_defaults(threads=1)
    p.add_argument("--run", default=None, help="a ccnce_stream run (default: the preset, random)")
    p.add_argument("--chunk-ms", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    main("stream_latency", run, p)
