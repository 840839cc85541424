"""BEAT2 folds: train the default co-speech model on one real take, generate for the other whole take.

The two shared takes of speaker 2 (scott), ``../shared/realdata/beat2_sample`` (2_scott_0_1_1)
and ``../shared/realdata/beat2_take2`` (2_scott_0_2_2), are laid out as BEAT2 is downloaded
(``smplxflame_30/``, ``wave16k/``, ``textgrid/`` as symbolic links, and a
``train_test_split.csv``). Fold ``A`` trains on 1_1 and tests on the whole of 2_2; fold ``B`` the
other way round. No time slice of a training take is ever evaluated.

Every model is trained by the ``gesturekit cospeech fit`` command exactly as a user runs it
(``default``: no ``--config``, no ``--epochs``; ``mix`` and ``speech2gesture``: the same
defaults with ``--model``; ``fullwidth``: ``--config ccnce_fullwidth``; ``mean-pose`` and
``nearest-neighbour``: the baselines), sampled with ``gesturekit cospeech sample --split test``
and scored with :func:`gesturekit.cospeech.metrics.evaluate_file`, all models of a fold against
one FGD encoder (trained on the held-out take's real motion with the fixed recipe and seed, as
``cospeech evaluate`` does). Figures per model, fold and seed: ``fgd``, ``l1_cm`` (joint
positions, centimetres), ``speed_m_s`` (mean joint speed), ``jerk``, ``diversity``,
``beat_consistency``, ``cluster_accuracy``, ``train_wall_s`` / ``train_cpu_s``; ``real`` holds the
held-out take's own statistics and ``goals`` checks issue 16's targets on the means over seeds.

Each fitted model uses one core best with ``--threads 1``, so on a 2-core machine the two folds run
as two processes (``--folds A --threads 1 --name beat2_folds_A`` and the same for ``B``) and
``--combine benchmarks/results/beat2_folds_A.json benchmarks/results/beat2_folds_B.json``
joins them into one table.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from _common import main, parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
TAKES = {"A": ("2_scott_0_1_1", "2_scott_0_2_2"), "B": ("2_scott_0_2_2", "2_scott_0_1_1")}
#: model name -> extra ``cospeech fit`` arguments (everything else at its default)
MODELS: dict[str, list[str]] = {
    "default": [],
    "mix": ["--model", "mix"],
    "speech2gesture": ["--model", "speech2gesture"],
    "fullwidth": ["--config", "ccnce_fullwidth"],
    "nearest-neighbour": ["--model", "nearest-neighbour"],
    "mean-pose": ["--model", "mean-pose"],
}
BASELINES = ("mean-pose", "nearest-neighbour", "speech2gesture", "mix")
METRICS = ("fgd", "l1_cm", "speed_m_s", "jerk", "diversity", "beat_consistency", "cluster_accuracy")


def fold_folder(root: Path, fold: str, realdata: Path) -> Path:
    """BEAT2's download layout for one fold: links to the two takes and the split CSV (the tests' helpers)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from beat2_fixtures import link_real_takes, write_split_csv

    lang = link_real_takes(realdata, root / fold / "beat_english_v2.0.0")
    train, test = TAKES[fold]
    write_split_csv(lang, [(train, "train"), (test, "test")])
    return lang


def cli(*args: str, threads: int) -> tuple[float, float]:
    """Run one ``gesturekit`` command; its wall and CPU seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gesturekit", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"gesturekit {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def mean_speed(seqs: list[Any], joints: Any, fps: float) -> float:
    import numpy as np

    return float(np.mean([np.linalg.norm(np.diff(s[:, joints], axis=0), axis=-1).mean() * fps for s in seqs]))


def score(samples_file: Path, encoder: Any) -> tuple[dict[str, float], dict[str, float]]:
    """The model's figures and the held-out take's own, from one samples file (read once)."""
    from gesturekit.cospeech.evaluation import pose_metrics
    from gesturekit.cospeech.evaluation.metrics import EvalOptions, evaluate_samples
    from gesturekit.io.samples import read_samples, samples_as_positions

    samples = read_samples(samples_file)
    res = evaluate_samples(samples, EvalOptions(fgd_encoder=encoder, base_dir=samples_file.parent))["overall"]
    s = samples_as_positions(samples)
    joints = pose_metrics.metric_joints(s.skeleton)
    gen = [it.generated for it in s.items]
    gt = [it.ground_truth for it in s.items]
    model = {
        "fgd": res["fgd"], "l1_cm": res["l1_units"] * 100, "speed_m_s": mean_speed(gen, joints, s.fps),
        "jerk": res["jerk"], "diversity": res["diversity"], "beat_consistency": res["beat_consistency"],
        "cluster_accuracy": res["cluster_accuracy"],
    }  # fmt: skip
    real = {
        "speed_m_s": mean_speed(gt, joints, s.fps), "jerk": res["jerk_gt"], "diversity": res["diversity_gt"],
        "beat_consistency": res["beat_consistency_gt"], "frames": res["n_frames"], "fps": s.fps,
    }  # fmt: skip
    return model, real


def fold_encoder(samples_file: Path) -> Any:
    """The FGD encoder of ``cospeech evaluate``'s default, trained once per fold on the held-out take."""
    from gesturekit.cospeech.evaluation import pose_metrics
    from gesturekit.cospeech.evaluation.fgd import FGDRecipe, train_fgd_encoder
    from gesturekit.io.samples import read_samples, samples_as_positions

    s = samples_as_positions(read_samples(samples_file))
    gts = [it.ground_truth for it in s.items]
    sk = s.skeleton
    return train_fgd_encoder(
        gts, pose_metrics.metric_joints(sk), pose_metrics.root_joints(sk), FGDRecipe(),
        trained_on="ground truth of the held-out take",
    )  # fmt: skip


def other_take(run_dir: Path, data: Path, test_samples: Path, cache: Path, threads: int) -> Path:
    """A samples file whose "generated" motion is the training take's real motion (repeated or cut to
    the held-out take's length): what the speaker's own recorded gestures score against the held-out
    take, the premise every goal is read against."""
    import numpy as np

    from gesturekit.io.samples import read_samples, write_samples

    train_file = run_dir / "train.h5"
    cli("cospeech", "sample", str(run_dir), "--data", str(data), "--split", "train", "--cache", str(cache),
        "--out", str(train_file), threads=threads)  # fmt: skip
    real = np.concatenate([it.ground_truth for it in read_samples(train_file).items])
    test = read_samples(test_samples)
    for it in test.items:
        reps = -(-len(it.ground_truth) // len(real))
        it.generated = np.concatenate([real] * reps)[: len(it.ground_truth)]
    out = run_dir / "other_take.h5"
    write_samples(out, test)
    return out


def mean_of(runs: list[dict[str, float]]) -> dict[str, float]:
    import numpy as np

    keys = [k for k in runs[0] if isinstance(runs[0][k], int | float)]
    return {k: float(np.mean([r[k] for r in runs])) for k in keys}


def goals(fold: dict[str, Any], who: str = "default") -> dict[str, bool]:
    """Issue 16's targets for the ``default`` model of one fold (means over seeds); ``who=
    "real_other_take"``: the same targets for the training take's real motion (the premise)."""
    m = fold["models"][who]["mean"] if who in fold["models"] else fold[who]
    real = fold["real"]
    out = {
        f"fgd_below_{b}": m["fgd"] < fold["models"][b]["mean"]["fgd"] for b in BASELINES if b in fold["models"]
    }
    if "mean-pose" in fold["models"]:
        out["l1_not_worse_than_mean_pose"] = m["l1_cm"] <= fold["models"]["mean-pose"]["mean"]["l1_cm"]
    for k in ("speed_m_s", "jerk"):
        out[f"{k}_within_0.7_1.3"] = 0.7 <= m[k] / real[k] <= 1.3
    out["diversity_at_least_0.7"] = m["diversity"] >= 0.7 * real["diversity"]
    out["beat_consistency_within_20pct"] = abs(m["beat_consistency"] / real["beat_consistency"] - 1) <= 0.2
    return out


def markdown(figures: dict[str, Any]) -> str:
    """The fold table as Markdown: one row per model and fold (means over seeds), then the real motion."""
    cols = ("fgd", "l1_cm", "speed_m_s", "jerk", "diversity", "beat_consistency")
    lines = ["| fold | model | FGD | L1 cm | speed m/s | jerk m/s³ | diversity | beat consistency |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for fold, res in figures["folds"].items():
        for name, m in res["models"].items():
            vals = [f"{m['mean'][c]:.3g}" if c in m["mean"] else "" for c in cols]
            lines.append(f"| {fold} | {name} | " + " | ".join(vals) + " |")
        if "real_other_take" in res:
            vals = [f"{res['real_other_take'][c]:.3g}" for c in cols]
            lines.append(f"| {fold} | real motion of the training take | " + " | ".join(vals) + " |")
        real = res["real"]
        lines.append(f"| {fold} | real motion | | | " + " | ".join(f"{real[c]:.3g}" for c in cols[2:]) + " |")
    return "\n".join(lines)


def combine(files: list[str]) -> dict[str, Any]:
    """One fold table from results files of runs made one fold per process (``--folds A --name
    beat2_folds_A`` beside ``--folds B --name beat2_folds_B``: each fold on its own core)."""
    out: dict[str, Any] = {"folds": {}, "combined_from": []}
    for f in files:
        record = json.loads(Path(f).read_text())
        figures = record["figures"]
        clash = set(figures["folds"]) & set(out["folds"])
        if clash:
            raise SystemExit(f"{f}: fold {sorted(clash)} is already in an earlier file")
        out["realdata"], out["takes"] = figures["realdata"], figures["takes"]
        out["folds"].update(figures["folds"])
        part = {"file": Path(f).name, "machine": record["machine"], "when": record["when"]}
        out["combined_from"].append(part)
    return out


def run(args: Any) -> dict[str, Any]:
    if args.combine:
        return combine(args.combine)
    root = Path(tempfile.mkdtemp(prefix="beat2_folds_"))
    cache = root / "cache"
    out: dict[str, Any] = {"realdata": str(args.realdata), "takes": TAKES, "folds": {}}
    for fold in args.folds:
        data = fold_folder(root, fold, Path(args.realdata))
        res: dict[str, Any] = {"train": TAKES[fold][0], "test": TAKES[fold][1], "models": {}}
        encoder = None
        for name in args.models:
            seeds = args.seeds if name in args.seeded else args.seeds[:1]
            runs = []
            for seed in seeds:
                run_dir = root / f"{fold}-{name}-{seed}"
                extra = [a for s in args.set for a in ("--set", s)] if name in args.seeded else []
                wall, cpu = cli(
                    "cospeech", "fit", "--data", str(data), "--out", str(run_dir), "--cache", str(cache),
                    "--seed", str(seed), "--threads", str(args.threads), *MODELS[name], *extra,
                    threads=args.threads,
                )  # fmt: skip
                samples = run_dir / "test.h5"
                cli("cospeech", "sample", str(run_dir), "--data", str(data), "--split", "test",
                    "--cache", str(cache), "--out", str(samples), threads=args.threads)  # fmt: skip
                if encoder is None:
                    encoder = fold_encoder(samples)
                figures, real = score(samples, encoder)
                figures.update(train_wall_s=round(wall, 1), train_cpu_s=round(cpu, 1), seed=seed)
                runs.append(figures)
                res["real"] = real
                print(fold, name, seed, {k: round(v, 4) for k, v in figures.items()}, flush=True)
            res["models"][name] = {"runs": runs, "mean": mean_of(runs)}
        res["fgd_encoder"] = encoder.name if encoder is not None else None
        if res["models"]:
            first = root / f"{fold}-{args.models[0]}-{args.seeds[0]}"
            figures, _ = score(other_take(first, data, first / "test.h5", cache, args.threads), encoder)
            res["real_other_take"] = figures
            print(fold, "real motion of the training take", {k: round(v, 4) for k, v in figures.items()})
        if "default" in res["models"]:
            res["goals"] = goals(res)
            res["premise"] = goals(res, "real_other_take")
            print(fold, "goals", json.dumps(res["goals"]), flush=True)
        out["folds"][fold] = res
    if args.report:
        runs = [str(root / f"{f}-{m}-{args.seeds[0]}") for f in args.folds for m in args.report_models
                if m in args.models]  # fmt: skip
        title = "BEAT2 folds: generated against real motion of each held-out take"
        cli("report", *runs, "--out", args.report, "--render", "1", "--overwrite", "--title", title,
            threads=args.threads)  # fmt: skip
        out["report"] = str(Path(args.report) / "index.html")
    return out


if __name__ == "__main__":
    p = parser("BEAT2 folds: train on one real take, generate the other whole take, compare with baselines")
    p.add_argument("--realdata", default=str(REALDATA))
    p.add_argument("--folds", nargs="+", default=list(TAKES), choices=list(TAKES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--seeded", nargs="*", default=["default", "mix"],
        help="models trained once per seed (the others: the first seed only)",
    )  # fmt: skip
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE for the seeded models' fit")
    p.add_argument(
        "--report",
        default=None,
        help="write an HTML report here: each held-out take's video, "
        "generated beside the real motion, with its sound and words",
    )
    p.add_argument("--report-models", nargs="+", default=["default"], help="models in --report (first seed)")
    p.add_argument("--name", default="beat2_folds", help="results file name (benchmarks/results/NAME.json)")
    p.add_argument(
        "--combine", nargs="+", metavar="FILE", default=None,
        help="train nothing: join the folds of these results files (one fold per process) into one table",
    )  # fmt: skip
    a = p.parse_known_args()[0]
    figures = main(a.name, run, p)
    if not a.json:  # with --json the last line stays the JSON object
        print(markdown(figures))
