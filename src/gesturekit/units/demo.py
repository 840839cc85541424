"""The units step of ``gesturekit demo``: classic CNMF on mngu0 (or a planted corpus) with figures.

With ``../shared/realdata/mngu0_nema`` present it fits the real utterances (two of the eight
held out and encoded with the learned gestures); otherwise it writes a synthetic planted corpus
(random gestures and sparse scores, convolved, 20 dB noise) and fits that. It writes the
kinematics (original vs reconstruction), gestural-score and gesture figures of one held-out
utterance to ``cnmf_run/figures``. ``quick`` keeps it to seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gesturekit.runtime import torch_threads
from gesturekit.units.cnmf_method import CNMFConfig
from gesturekit.units.methods import fit_run
from gesturekit.units.synthetic import write_planted_nema


def find_mngu0() -> Path | None:
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        cand = base.parent / "shared" / "realdata" / "mngu0_nema"
        if cand.is_dir() and any(cand.glob("*.npy")):
            return cand
    return None


def _figures(run_dir: Path, quick: bool) -> list[Path]:
    """Kinematics, score and gesture figures of the first held-out utterance (else a training one)."""
    from gesturekit.io import read_ema
    from gesturekit.units.model import UnitModel
    from gesturekit.units.plots import run_figures

    split = json.loads((run_dir / "split.json").read_text())
    first = (split.get("val") or split["train"])[0]
    model = UnitModel.load(run_dir)
    return run_figures(model, [read_ema(first)], run_dir / "figures", max_gestures=16 if quick else 40)


def step(out_dir: str | Path, seed: int = 0, quick: bool = False) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    real = find_mngu0()
    if real is not None:
        data = sorted(real.glob("*.npy"))
        source = f"mngu0 ({len(data)} utterances)"
        # the real sample: rank 40, width 41 as in the issue; quick mode runs fewer iterations
        # (60 already give a held-out mean r of about 0.97) on one thread (these small
        # transforms gain little from more, and lose a lot on a busy machine)
        cfg = CNMFConfig(
            gestures=40,
            width=41,
            epochs=60 if quick else 200,
            seed=seed,
            val_fraction=0.25,
            transform_max_iter=60 if quick else None,
            threads=1 if quick else None,
        )
    else:
        lengths = (400, 300, 350) if quick else (900, 800, 1000, 700, 850, 950)
        data, _ = write_planted_nema(
            out_dir / "planted_data", lengths, n_gestures=6, width=21, snr_db=20, seed=seed
        )
        source = f"planted corpus ({len(data)} utterances)"
        cfg = CNMFConfig(
            gestures=6,
            width=21,
            epochs=15 if quick else 200,
            seed=seed,
            val_fraction=0.34 if quick else 0.2,
            transform_max_iter=15 if quick else None,
            threads=1 if quick else None,
        )
    run_dir = out_dir / "cnmf_run"
    cfg.figures = False  # drawn below: quick mode draws fewer
    with torch_threads():  # the fit may change the count; the next demo steps keep the process's
        metrics = fit_run(data, cfg, run_dir, overwrite=True)
        figures = _figures(run_dir, quick)
    tr = metrics["train"]
    line = f"cnmf on {source}: train mean r {tr['mean_channel_r']:.3f}"
    if "val" in metrics:
        line += f", held-out mean r {metrics['val']['mean_channel_r']:.3f}"
    line += f", {cfg.gestures} gestures x {cfg.width} frames, fit {metrics['fit_seconds']:.1f}s"
    return {
        "summary": line,
        "run_dir": str(run_dir),
        "source": source,
        "train_mean_channel_r": tr["mean_channel_r"],
        "val_mean_channel_r": metrics.get("val", {}).get("mean_channel_r"),
        "figures": [str(p) for p in figures],
    }
