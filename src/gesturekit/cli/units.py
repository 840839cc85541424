"""``gesturekit units ...``: fit, evaluate and plot gestural-unit models (every method).

``fit --method NAME`` dispatches through :mod:`gesturekit.units.methods`; ``evaluate`` and
``plot`` load any run folder with :meth:`gesturekit.units.model.UnitModel.load`. Further
subcommands come from the modules in SUBMODULES (``register(group)``), skipped when missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

from gesturekit.cli.common import add_group, add_precision_option, add_run_options, print_json
from gesturekit.errors import ConfigError

SUBMODULES = ["gesturekit.cli.units_neural"]


def register(sub: Any) -> None:
    _, group = add_group(sub, "units", "articulatory gestural units: fit, evaluate, plot")

    p = group.add_parser(
        "fit",
        help="fit a gestural-unit model on EMA files",
        description="Fit a gestural-unit model (--method cnmf, or a neural method when installed) on "
        "EMA files or folders and write a run folder (config.yaml, model.safetensors/json, metrics.json, "
        "split.json, figures/).",
    )
    p.add_argument("--method", default="cnmf", help="cnmf (default), or ae / vae when available")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH", help="EMA files or folders")
    p.add_argument("--gestures", type=int, default=None, help="number of gestures G (default 40)")
    p.add_argument("--width", type=int, default=None, help="gesture width K in frames (default 41)")
    p.add_argument("--epochs", type=int, default=None, help="iterations (cnmf) or epochs (neural)")
    p.add_argument("--normalize", choices=["none", "zscore", "minmax"], default=None, help="default minmax")
    p.add_argument(
        "--nonneg-split", choices=["auto", "true", "false"], default=None,
        help="split each channel into + and - parts (auto: unless minmax)",
    )  # fmt: skip
    p.add_argument("--val-fraction", type=float, default=None, help="share of files held out (default 0)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_run_options(p)
    add_precision_option(p)
    p.set_defaults(func=run_fit)

    e = group.add_parser(
        "evaluate",
        help="reconstruction and sparsity metrics of a run on EMA files",
        description="Encode and reconstruct FILEs with the model of RUN_DIR (its normalisation applied) "
        "and print mean per-channel r, RMSE, L1, explained variance and score sparsity, per file and overall.",
    )
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("files", nargs="+", metavar="FILE", help="EMA files or folders")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--save", metavar="FILE", help="also write the JSON to FILE (never overwrites)")
    e.set_defaults(func=run_evaluate)

    q = group.add_parser(
        "plot",
        help="draw the figures of a run",
        description="Draw the gestures of RUN_DIR on the midsagittal plane and, for each FILE (default: "
        "the first file of the run's split), the original vs reconstructed trajectories and the "
        "gestural score.",
    )
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("files", nargs="*", metavar="FILE")
    q.add_argument("--out", metavar="DIR", help="folder for the PNG files (default RUN_DIR/figures)")
    q.set_defaults(func=run_plot)

    for name in SUBMODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(group)


def run_fit(args: argparse.Namespace) -> int:
    from gesturekit.config import load_config
    from gesturekit.units.methods import fit_run, get_method

    method = get_method(args.method)
    flags = {
        "method": args.method,
        "gestures": args.gestures,
        "width": args.width,
        "epochs": args.epochs,
        "normalize": args.normalize,
        "nonneg_split": args.nonneg_split,
        "val_fraction": args.val_fraction,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
        "precision": args.precision,
    }
    if args.no_figures:
        flags["figures"] = False
    cfg = load_config(method.config_cls, args.config, args.overrides, **flags)
    if cfg.method != args.method:
        raise ConfigError(f"config says method '{cfg.method}' but --method is '{args.method}'")
    metrics = fit_run(args.data, cfg, args.out, resume=args.resume, overwrite=args.overwrite)
    if not metrics:  # a non-main rank of a distributed (torchrun) run: rank 0 reports
        return 0
    if args.json:
        print_json(metrics)
    else:
        _print_table("train", metrics["train"])
        if "val" in metrics:
            _print_table("val", metrics["val"])
        print(f"fit {metrics['fit_seconds']:.1f}s; run folder {args.out}")
    return 0


def _print_table(name: str, m: dict[str, Any]) -> None:
    print(
        f"{name}: {m['files']} files, {m['frames']} frames  mean_channel_r {m['mean_channel_r']:.4f}  "
        f"rmse {m['rmse']:.4g}  l1 {m['l1']:.4g}  explained_variance {m['explained_variance']:.4f}  "
        f"hoyer/frame {m['hoyer_per_frame']:.3f}  hoyer/gesture {m['hoyer_per_gesture']:.3f}  "
        f"active/frame {m['active_gestures_per_frame']:.1f}"
    )


def run_evaluate(args: argparse.Namespace) -> int:
    from gesturekit.fsutil import atomic_write_text, to_json
    from gesturekit.io import load_recordings
    from gesturekit.units.methods import evaluate_model
    from gesturekit.units.model import UnitModel

    model = UnitModel.load(args.run_dir)
    recs = load_recordings(args.files)
    result = {"run_dir": str(args.run_dir), "method": model.method, **evaluate_model(model, recs)}
    if args.save:
        target = Path(args.save)
        if target.exists():
            raise ConfigError(f"{target}: exists; choose another --save file")
        atomic_write_text(target, to_json(result) + "\n")
    if args.json:
        print_json(result)
    else:
        for f in result["per_file"]:
            print(f"{f['name']}: r {f['mean_channel_r']:.4f}  rmse {f['rmse']:.4g}  frames {f['frames']}")
        _print_table("all", result)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from gesturekit.io import load_recordings, read_ema
    from gesturekit.units.model import UnitModel
    from gesturekit.units.plots import run_figures

    model = UnitModel.load(args.run_dir)
    if args.files:
        recs = load_recordings(args.files)
    else:
        recs = []
        split = Path(args.run_dir) / "split.json"
        if split.exists():
            s = json.loads(split.read_text())
            first = (s.get("val") or []) + (s.get("train") or [])
            if first and Path(first[0]).exists():
                recs = [read_ema(first[0])]
    paths = run_figures(model, recs, args.out or Path(args.run_dir) / "figures")
    for p in paths:
        print(p)
    return 0
