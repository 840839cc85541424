"""Evaluate a samples file: every metric, per speaker and overall, over the whole split.

``evaluate_samples(samples, EvalOptions(...))`` returns::

    {"overall": {...}, "per_speaker": {speaker: {...}}, "meta": {...}}

Each block holds ``l1``, ``vel_l1`` (z-space), ``l1_units`` (data units), ``pck`` (mean of
``pck_0.1``/``pck_0.2``), ``fid``, ``w1_vel``, ``w1_acc``, ``diversity`` / ``diversity_gt``,
``l1div`` / ``l1div_gt``, ``spatial_norm``, ``jerk`` / ``jerk_gt`` (+ ``_std``), ``cluster_f1``,
``cluster_accuracy``, ``fgd``, ``beat_consistency`` / ``beat_consistency_gt`` (x1, not x10),
``style_score`` when a classifier is given, ``n_intervals``, ``n_frames``. ``meta`` names the
FGD encoder (recipe, seed, weights hash), the normalisation statistics and the cluster centres
used. Nothing is sampled at random: the same file and options give the same numbers.
Definitions: :mod:`gesturekit.cospeech.evaluation.pose_metrics`, :mod:`~gesturekit.cospeech.evaluation.beats`,
:mod:`~gesturekit.cospeech.evaluation.fgd`, :mod:`~gesturekit.cospeech.evaluation.cluster_metrics`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from gesturekit.cospeech.evaluation import beats, cluster_metrics, pose_metrics
from gesturekit.cospeech.evaluation.fgd import FGDEncoder, FGDRecipe, train_fgd_encoder
from gesturekit.errors import DataError, FormatError
from gesturekit.io.samples import SampleItem, Samples, read_samples, samples_as_positions
from gesturekit.skeleton import pats_flat_to_joints

log = logging.getLogger("gesturekit")

# A style classifier maps windows (N, T, J, D) to class probabilities (N, C).
StyleClassifier = Callable[[np.ndarray], np.ndarray]
STYLE_WINDOW = 64


@dataclass
class EvalOptions:
    """Where statistics, centres and the FGD encoder come from (defaults: derived from the split)."""

    stats_dir: Path | None = None  # PATS muvar/ folder: <speaker>.h5 with pose/<key>/{mean,var}
    stats_key: str = "pose/normalize"
    kmeans_dir: Path | None = None  # PATS kmeans/ folder: <speaker>.h5
    n_clusters: int = 8
    cluster_seed: int = 0
    fgd_encoder: FGDEncoder | None = None
    fgd_recipe: FGDRecipe = field(default_factory=FGDRecipe)
    style_classifier: StyleClassifier | None = None
    base_dir: Path | None = None  # resolves relative audio paths


def read_muvar_stats(path: Path, key: str = "pose/normalize") -> pose_metrics.PoseStats:
    """PATS ``muvar/<speaker>.h5`` -> per-joint mean/std ``(52, 2)``."""
    if not path.exists():
        raise FormatError(path, "normalisation statistics file not found")
    with h5py.File(path, "r") as f:
        if f"{key}/mean" not in f or f"{key}/var" not in f:
            raise FormatError(path, f"no {key}/mean and {key}/var datasets")
        mean = np.asarray(f[f"{key}/mean"][()], dtype=np.float64).reshape(-1)
        var = np.asarray(f[f"{key}/var"][()], dtype=np.float64).reshape(-1)
    if mean.shape[0] != 104:
        raise FormatError(path, f"{key}: expected 104 PATS pose values, got {mean.shape[0]}")
    std = np.sqrt(var)
    std = np.where(std > 0, std, 1e-8)
    return pose_metrics.PoseStats(pats_flat_to_joints(mean), pats_flat_to_joints(std), f"{path}:{key}")


def _check(samples: Samples) -> list[SampleItem]:
    items = [it for it in samples.items if it.ground_truth is not None]
    if not items:
        raise DataError("samples file has no ground truth: nothing to evaluate against")
    for it in items:
        if it.generated.shape != it.ground_truth.shape:
            raise DataError(
                f"interval {it.interval_id}: generated {it.generated.shape} and ground truth "
                f"{it.ground_truth.shape} differ in shape"
            )
        if not (np.isfinite(it.generated).all() and np.isfinite(it.ground_truth).all()):
            raise DataError(f"interval {it.interval_id}: poses contain NaN or infinite values")
    return items


def _load_onsets(items: Sequence[SampleItem], fps: float, base: Path | None) -> list[np.ndarray | None]:
    from gesturekit.io.audio import read_audio

    out: list[np.ndarray | None] = []
    for it in items:
        if not it.audio_path:
            out.append(None)
            continue
        p = Path(it.audio_path)
        if not p.is_absolute() and base is not None:
            p = base / p
        if not p.exists():
            log.warning("interval %s: audio %s not found; no beat consistency for it", it.interval_id, p)
            out.append(None)
            continue
        audio = read_audio(p)
        a = int(round(it.start_s * audio.rate_hz))
        b = a + int(round(len(it.generated) / fps * audio.rate_hz))
        out.append(beats.audio_onsets(audio.samples[a:b], audio.rate_hz))
    return out


def style_score(classifier: StyleClassifier, seqs: Sequence[np.ndarray], window: int = STYLE_WINDOW) -> float:
    """Inception-style score ``exp(E_x KL(p(y|x) || p(y)))`` over non-overlapping windows."""
    wins = [s[i : i + window] for s in seqs for i in range(0, len(s) - window + 1, window)]
    if not wins:
        return float("nan")
    p = np.asarray(classifier(np.stack(wins)), dtype=np.float64)
    p = np.clip(p, 1e-12, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    py = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(py)), axis=1))))


def _nan_to_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def evaluate_samples(samples: Samples, options: EvalOptions | None = None) -> dict[str, Any]:
    """Every metric for ``samples``, per speaker and overall (see the module docstring)."""
    opt = options or EvalOptions()
    source_units = samples.units
    samples = samples_as_positions(samples)  # SMPL-X rotations -> positions on the generic skeleton
    items = _check(samples)
    sk, fps = samples.skeleton, samples.fps
    joints, roots = pose_metrics.metric_joints(sk), pose_metrics.root_joints(sk)
    speakers = sorted({it.speaker for it in items})

    # per-speaker statistics: z-normalisation, mean pose, BC speed normaliser, cluster centres
    stats: dict[str, pose_metrics.PoseStats] = {}
    centres: dict[str, np.ndarray] = {}
    centre_src: dict[str, str] = {}
    for spk in speakers:
        gts = [it.ground_truth for it in items if it.speaker == spk]
        if opt.stats_dir is not None:
            if sk.name != "pats":
                raise DataError(f"--stats holds PATS statistics; these samples use skeleton {sk.name!r}")
            stats[spk] = read_muvar_stats(Path(opt.stats_dir) / f"{spk}.h5", opt.stats_key)
        else:
            stats[spk] = pose_metrics.PoseStats.fit(gts, f"ground truth of speaker {spk}")
        if opt.kmeans_dir is not None:
            path = Path(opt.kmeans_dir) / f"{spk}.h5"
            centres[spk] = cluster_metrics.read_reference_centres(path)
            centre_src[spk] = str(path)
        else:
            feats = np.concatenate([cluster_metrics.cluster_features(g, joints) for g in gts])
            centres[spk] = cluster_metrics.kmeans(feats, opt.n_clusters, opt.cluster_seed)
            centre_src[spk] = f"k-means (k={opt.n_clusters}, seed {opt.cluster_seed}) of the ground truth"
    mean_speed = {
        spk: beats.mean_joint_speed([it.ground_truth for it in items if it.speaker == spk], fps)
        for spk in speakers
    }

    encoder = opt.fgd_encoder
    fgd_problem = None
    if encoder is not None:
        dims = items[0].generated.shape[-1]
        same = (
            np.array_equal(np.asarray(encoder.joints), joints) and encoder.mean.shape[0] == len(joints) * dims
        )
        if not same:
            raise DataError(
                f"FGD encoder {encoder.name} reads {encoder.mean.shape[0]} values per frame "
                f"({len(encoder.joints)} joints); these samples have {len(joints)} metric joints x {dims} "
                f"(skeleton {sk.name!r}): train an encoder on this skeleton (cospeech fgd-train)"
            )
    if encoder is None:
        n_gt = sum(len(it.ground_truth) for it in items)
        try:
            encoder = train_fgd_encoder(
                [it.ground_truth for it in items], joints, roots, opt.fgd_recipe,
                trained_on=f"ground truth of the evaluated split ({n_gt} frames)",
            )  # fmt: skip
        except DataError as exc:  # e.g. every interval shorter than the encoder's window
            fgd_problem = f"no FGD: {exc}"
            log.warning("%s", fgd_problem)
    onsets = _load_onsets(items, fps, opt.base_dir)

    def block(idx: list[int]) -> dict[str, Any]:
        sel = [items[i] for i in idx]
        gen = [it.generated for it in sel]
        gt = [it.ground_truth for it in sel]
        zg = [stats[it.speaker].normalise(it.generated) for it in sel]
        zr = [stats[it.speaker].normalise(it.ground_truth) for it in sel]
        mps = [pose_metrics.set_root_zero(stats[it.speaker].mean[None], roots)[0] for it in sel]
        out: dict[str, Any] = {"n_intervals": len(sel), "n_frames": int(sum(len(g) for g in gen))}
        out["l1"] = pose_metrics.l1(zg, zr, joints, None)
        out["vel_l1"] = pose_metrics.vel_l1(zg, zr, joints, None)
        out["l1_units"] = pose_metrics.l1(gen, gt, joints, None)
        out.update(pose_metrics.pck(gen, gt, joints, roots))
        out["fid"] = pose_metrics.fid(zg, zr, joints, None)
        out.update(pose_metrics.w1_kinematics(gen, gt, joints))
        out["diversity"] = pose_metrics.diversity(gen, joints, roots, mps)
        out["diversity_gt"] = pose_metrics.diversity(gt, joints, roots, mps)
        out["l1div"] = pose_metrics.l1div(gen, joints)
        out["l1div_gt"] = pose_metrics.l1div(gt, joints)
        out["spatial_norm"] = pose_metrics.spatial_norm(gen, gt, joints, roots, mps)
        jg, jr = pose_metrics.jerk(gen, joints, fps), pose_metrics.jerk(gt, joints, fps)
        out.update(jerk=jg["mean"], jerk_std=jg["std"], jerk_gt=jr["mean"], jerk_gt_std=jr["std"])
        pred_lab, true_lab = [], []
        for it in sel:
            c = centres[it.speaker]
            pred_lab.append(cluster_metrics.assign(cluster_metrics.cluster_features(it.generated, joints), c))
            true_lab.append(
                cluster_metrics.assign(cluster_metrics.cluster_features(it.ground_truth, joints), c)
            )
        n_cls = max(len(c) for c in centres.values())
        out.update(
            cluster_metrics.classification_scores(np.concatenate(pred_lab), np.concatenate(true_lab), n_cls)
        )
        out["fgd"] = encoder.fgd(gen, gt) if encoder is not None else float("nan")
        ons = [onsets[i] for i in idx]
        out["beat_consistency"] = _bc(ons, sel, gen, joints)
        out["beat_consistency_gt"] = _bc(ons, sel, gt, joints)
        if opt.style_classifier is not None:
            out["style_score"] = style_score(opt.style_classifier, gen)
            out["style_score_gt"] = style_score(opt.style_classifier, gt)
        return _nan_to_none(out)

    def _bc(ons: list, sel: list[SampleItem], seqs: list[np.ndarray], joints: np.ndarray) -> float:
        scores = []
        for o, it, s in zip(ons, sel, seqs, strict=True):
            if o is None:
                continue
            sc = beats.beat_scores(o, s[:, joints], fps, mean_speed[it.speaker][joints])
            if len(sc):
                scores.append(sc)
        return float(np.concatenate(scores).mean()) if scores else float("nan")

    result = {
        "overall": block(list(range(len(items)))),
        "per_speaker": {spk: block([i for i, it in enumerate(items) if it.speaker == spk]) for spk in speakers},
        "meta": {
            "model": samples.model,
            "skeleton": sk.name,
            "fps": fps,
            "units": samples.units,
            "poses": (
                "joint positions by forward kinematics of the file's SMPL-X rotations "
                f"({source_units or 'rotations'}) on the generic BEAT2 skeleton (metres)"
                if samples.units != source_units
                else "as stored"
            ),
            "metric_joints": joints.tolist(),
            "normalisation": {spk: s.source for spk, s in stats.items()},
            "cluster_centres": centre_src,
            "fgd_encoder": encoder.describe() if encoder is not None else None,
            **({"fgd_problem": fgd_problem} if fgd_problem else {}),
            "beat_consistency_scale": "x1 (not multiplied by 10)",
            "w1_units": f"{samples.units or 'data units'} per frame (per-frame mean over metric joints)",
            "jerk_units": f"{samples.units or 'data units'} per second^3",
            "intervals_with_audio": int(sum(o is not None for o in onsets)),
        },
    }
    return result


def evaluate_file(path: str | Path, options: EvalOptions | None = None) -> dict[str, Any]:
    """Read and evaluate a samples file (relative audio paths resolve beside it)."""
    path = Path(path)
    samples = read_samples(path)
    opt = options or EvalOptions()
    if opt.base_dir is None:
        opt.base_dir = path.parent
    result = evaluate_samples(samples, opt)
    result["meta"]["samples"] = str(path)
    return result
