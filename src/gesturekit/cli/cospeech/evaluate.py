"""``gesturekit cospeech evaluate | compare | render | fgd-train``: metrics, model tables, videos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gesturekit.cli.common import print_json
from gesturekit.errors import ConfigError

_HEADLINE = ["l1", "pck", "fid", "fgd", "w1_vel", "w1_acc", "diversity", "beat_consistency", "cluster_f1"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="every metric of a samples file, per speaker and overall",
        description="Compute L1, PCK, FID, W1 of velocity/acceleration, diversity, L1div, spatialNorm, jerk, "
        "cluster F1/accuracy, FGD and beat consistency over the whole split (deterministic). Without "
        "--fgd-encoder, the FGD encoder is trained on the split's ground truth with a fixed recipe and "
        "seed; its name (recipe, seed, weights hash) is printed beside the value.",
    )
    p.add_argument("samples", metavar="SAMPLES.h5")
    p.add_argument("--json", action="store_true", help="print one JSON object (overall, per_speaker, meta)")
    p.add_argument("--out", metavar="FILE.json", help="also write the JSON result to this file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--stats", metavar="MUVAR_DIR", help="PATS muvar/ folder: z-normalise with <speaker>.h5")
    p.add_argument("--kmeans", metavar="KMEANS_DIR", help="PATS kmeans/ folder: cluster centres <speaker>.h5")
    p.add_argument("--fgd-encoder", metavar="CKPT", help="FGD encoder checkpoint (from fgd-train)")
    p.add_argument("--save-fgd-encoder", metavar="CKPT", help="save the encoder trained for this run")
    p.add_argument("--fgd-seed", type=int, default=0, help="seed of the default FGD encoder (default 0)")
    p.set_defaults(func=run_evaluate)

    c = sub.add_parser(
        "compare",
        help="table of metrics across models (best per column marked)",
        description="One row per model: evaluation JSON files, samples files, or folders holding either.",
    )
    c.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE")
    c.add_argument("--json", action="store_true", help="print the table as JSON")
    c.add_argument("--markdown", action="store_true", help="print a Markdown table")
    c.set_defaults(func=run_compare)

    r = sub.add_parser(
        "render",
        help="skeleton videos (generated beside ground truth) with sound and words",
        description="Render MP4s of the upper-body skeleton from a samples file (one video per interval, "
        "generated next to ground truth) or from a poses.npz (from `cospeech generate`; SMPL-X rotations are "
        "drawn through the generic BEAT2 skeleton) or a BEAT2 take .npz. With audio, a video lasts as long as "
        "its audio (to within one frame).",
    )
    r.add_argument("input", metavar="SAMPLES.h5|poses.npz")
    r.add_argument("--out", required=True, metavar="DIR")
    r.add_argument("--audio", metavar="WAV", help="audio to mux in (poses.npz; overrides a sample's audio)")
    r.add_argument(
        "--text", action="store_true",
        help="burn the spoken words in as subtitles (from the samples, --transcript, "
        "or the TextGrid beside --audio)",
    )  # fmt: skip
    r.add_argument("--transcript", metavar="FILE", help="words for a poses.npz (TextGrid or JSON word list)")
    r.add_argument("--intervals", type=int, default=None, metavar="N", help="render the first N intervals")
    r.add_argument("--size", type=int, default=400, help="panel size in pixels (default 400)")
    r.add_argument("--overwrite", action="store_true", help="replace existing videos")
    r.set_defaults(func=run_render)

    t = sub.add_parser(
        "fgd-train",
        help="train and save an FGD feature encoder on real motion",
        description="Train the FGD pose auto-encoder (fixed recipe; --seed) on the ground truth of samples "
        "files or on poses.npz files, and save it as CKPT.safetensors + CKPT.json.",
    )
    t.add_argument("data", nargs="+", metavar="SAMPLES.h5|poses.npz")
    t.add_argument("--out", required=True, metavar="CKPT")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    t.add_argument("--overwrite", action="store_true")
    t.set_defaults(func=run_fgd_train)


def _check_new(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ConfigError(f"{path}: exists; pass --overwrite to replace it")


def run_evaluate(args: argparse.Namespace) -> int:
    from gesturekit.cospeech.evaluation.fgd import FGDEncoder, FGDRecipe
    from gesturekit.cospeech.evaluation.metrics import EvalOptions, evaluate_file
    from gesturekit.fsutil import atomic_write_json

    if args.out:
        _check_new(Path(args.out), args.overwrite)
    opt = EvalOptions(
        stats_dir=Path(args.stats) if args.stats else None,
        kmeans_dir=Path(args.kmeans) if args.kmeans else None,
        fgd_encoder=FGDEncoder.load(args.fgd_encoder) if args.fgd_encoder else None,
        fgd_recipe=FGDRecipe(seed=args.fgd_seed),
    )
    if args.save_fgd_encoder and opt.fgd_encoder is None:
        from gesturekit.cospeech.evaluation.fgd import train_fgd_encoder
        from gesturekit.cospeech.evaluation.pose_metrics import metric_joints, root_joints
        from gesturekit.io.samples import read_samples, samples_as_positions

        s = samples_as_positions(read_samples(args.samples))
        gts = [it.ground_truth for it in s.items if it.ground_truth is not None]
        n = sum(len(g) for g in gts)
        opt.fgd_encoder = train_fgd_encoder(
            gts, metric_joints(s.skeleton), root_joints(s.skeleton), opt.fgd_recipe,
            trained_on=f"ground truth of the evaluated split ({n} frames)",
        )  # fmt: skip
        opt.fgd_encoder.save(args.save_fgd_encoder)
    res = evaluate_file(args.samples, opt)
    if args.out:
        atomic_write_json(args.out, res)
    if args.json:
        print_json(res)
        return 0
    enc = (res["meta"]["fgd_encoder"] or {}).get("name") or res["meta"].get("fgd_problem", "none")
    blocks = [("overall", res["overall"])] + list(res["per_speaker"].items())
    width = max(len(b) for b, _ in blocks)
    print(f"{'':<{width}}  " + "  ".join(f"{k:>16}" for k in _HEADLINE))
    for name, b in blocks:
        cells = ["-" if b.get(k) is None else f"{b[k]:.4g}" for k in _HEADLINE]
        print(f"{name:<{width}}  " + "  ".join(f"{c:>16}" for c in cells))
    print(f"FGD encoder: {enc}; beat consistency x1; l1 and fid in z-normalised space")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from gesturekit.cospeech.evaluation.compare import comparison_table, format_table, load_result

    rows = [load_result(p) for p in args.inputs]
    names = [r.name for r in rows]
    for i, r in enumerate(rows):  # keep row names unique
        if names.count(r.name) > 1:
            r.name = f"{r.name}#{i + 1}"
    table = comparison_table(rows)
    if args.json:
        print_json(table)
    else:
        print(format_table(table, markdown=args.markdown))
    return 0


def run_render(args: argparse.Namespace) -> int:
    from gesturekit.render.video import render_input

    written = render_input(
        args.input, args.out, audio=args.audio, text=args.text, transcript=args.transcript,
        intervals=args.intervals, size=args.size, overwrite=args.overwrite,
    )  # fmt: skip
    for p in written:
        print(p)
    return 0


def run_fgd_train(args: argparse.Namespace) -> int:
    import numpy as np

    from gesturekit.cospeech.evaluation.fgd import FGDRecipe, train_fgd_encoder
    from gesturekit.cospeech.evaluation.pose_metrics import metric_joints, root_joints
    from gesturekit.render.video import load_motion

    out = Path(args.out)
    _check_new(out.with_name(out.name + ".json"), args.overwrite)
    seqs, skeleton = [], None
    for path in args.data:
        motion = load_motion(path)
        if skeleton is not None and motion.skeleton.joints != skeleton.joints:
            raise ConfigError(f"{path}: skeleton {motion.skeleton.name} differs from the first file's")
        skeleton = motion.skeleton
        seqs += [np.asarray(m) for m in motion.real_sequences()]
    recipe = FGDRecipe(seed=args.seed)
    if args.epochs is not None:
        recipe = FGDRecipe(**{**recipe.__dict__, "epochs": args.epochs})
    enc = train_fgd_encoder(
        seqs, metric_joints(skeleton), root_joints(skeleton), recipe,
        trained_on=", ".join(Path(p).name for p in args.data),
    )  # fmt: skip
    enc.save(out)
    sys.stdout.write(json.dumps(enc.describe()) + "\n")
    return 0
