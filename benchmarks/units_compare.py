"""Comparison of the unit methods on mngu0: classic CNMF, AE-CNMF (signed / non-negative), VAE-CNMF.

Every method is fitted with ``gesturekit.units.methods.fit_run`` on ``../shared/realdata/mngu0_nema``
with the same held-out split (``val_fraction`` 0.25, seed 0: 6 training and 2 validation files),
40 gestures of width 41. The neural runs use the presets ``ae_mngu0``, ``ae_nonneg``
and ``vae_mngu0``; the classic CNMF its defaults (KL multiplicative updates, min-max data).
Figures per method, on the validation files: mean per-channel r, RMSE (data units: z-scores),
Hoyer sparseness of the scores per frame and per gesture, active gestures per frame (scores above
5 % of the utterance's peak), fit seconds, and encode + reconstruct speed in frames per second on
one CPU thread. ``--table`` prints the Markdown table of docs/units.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from _common import main, median_time, parser

ROOT = Path(__file__).resolve().parents[1]
MNGU0 = ROOT.parent / "shared" / "realdata" / "mngu0_nema"
METHODS = {
    "cnmf": ("classic CNMF (KL, MU)", None),
    "ae_signed": ("AE-CNMF signed", "ae_mngu0"),
    "ae_nonneg": ("AE-CNMF non-negative", "ae_nonneg"),
    "vae": ("VAE-CNMF", "vae_mngu0"),
}


def _config(name: str, epochs: int | None, threads: int):
    from gesturekit.config import load_config
    from gesturekit.units.methods import get_method

    label, preset = METHODS[name]
    method = "cnmf" if preset is None else ("vae" if name == "vae" else "ae")
    flags: dict[str, Any] = {"method": method, "threads": threads, "figures": False}
    if preset is None:
        flags.update(gestures=40, width=41, val_fraction=0.25, seed=0)
    if epochs:
        flags["epochs"] = epochs
    overrides = [] if preset is None else ["train.progress=false"]
    cfg = load_config(get_method(method).config_cls, preset, overrides, **flags)
    return label, cfg


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from gesturekit.io import read_ema
    from gesturekit.units.methods import fit_run
    from gesturekit.units.model import UnitModel

    if not MNGU0.is_dir():
        raise SystemExit(f"{MNGU0}: the mngu0 samples are needed")
    threads = torch.get_num_threads()
    out_root = Path(args.runs) if args.runs else Path(tempfile.mkdtemp(prefix="units_compare_"))
    figures: dict[str, Any] = {"runs": str(out_root)}
    rows = []
    for name in args.methods:
        label, cfg = _config(name, args.epochs, threads)
        run_dir = out_root / name
        if args.reuse and (run_dir / "metrics.json").exists():  # re-measure speed on a fitted run
            metrics = json.loads((run_dir / "metrics.json").read_text())
        else:
            metrics = fit_run([MNGU0], cfg, run_dir, overwrite=True)
        val = metrics["val"]
        model = UnitModel.load(run_dir)
        recs = [read_ema(f["path"]) for f in val["per_file"]]
        frames = sum(r.frames for r in recs)
        torch.set_num_threads(1)
        reps = 3 if name == "cnmf" else 20
        t = median_time(lambda m=model, rs=recs: [m.reconstruct(r) for r in rs], repeats=reps, warmup=1)
        torch.set_num_threads(threads)
        row = {
            "method": label,
            "val_r": val["mean_channel_r"],
            "val_rmse": val["rmse"],
            "hoyer_per_frame": val["hoyer_per_frame"],
            "hoyer_per_gesture": val["hoyer_per_gesture"],
            "active_per_frame": val["active_gestures_per_frame"],
            "fit_s": metrics["fit_seconds"],
            "frames_per_s_1thread": frames / t,
        }
        rows.append(row)
        for k, v in row.items():
            if k != "method":
                figures[f"{name}.{k}"] = v
    figures["table"] = markdown(rows, threads)
    if args.table:
        print(figures["table"])
    return figures


def markdown(rows: list[dict[str, Any]], threads: int) -> str:
    head = (
        "| method | val r | val RMSE | Hoyer/frame | Hoyer/gesture | active/frame | fit s "
        f"({threads} thr) | frames/s (1 thread) |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['val_r']:.3f} | {r['val_rmse']:.3f} | {r['hoyer_per_frame']:.2f} | "
            f"{r['hoyer_per_gesture']:.2f} | {r['active_per_frame']:.1f} | {r['fit_s']:.0f} | "
            f"{r['frames_per_s_1thread']:,.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--epochs", type=int, default=None, help="override the epochs / iterations of every method")
    p.add_argument("--runs", default=None, help="folder for the run folders (default: a temporary folder)")
    p.add_argument("--table", action="store_true", help="print the Markdown table")
    p.add_argument("--reuse", action="store_true", help="keep the fitted runs in --runs; only re-measure speed")
    main("units_compare", run, p)
