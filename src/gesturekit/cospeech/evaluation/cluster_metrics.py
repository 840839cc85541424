"""Cluster classification F1 / accuracy: generated frames labelled by pose k-means vs ground truth.

Per frame features (``ccnce-reference.md`` section 5): pose of the metric joints (all x values,
then all y values, ...), velocity ``x_t - x_{t-1}`` (0 at each interval's first frame) in the
same layout, and per-joint speed. Frames take the label of the nearest centre (squared
Euclidean). F1 is the support-weighted mean of per-class F1 (ground-truth labels as the
truth), as the reference reports it; accuracy is the fraction of matching labels.

Centres come from PATS's ``kmeans/<speaker>.h5`` files when given; otherwise gesturekit fits
k-means (k-means++ seeding with a fixed seed, Lloyd iterations) on the ground truth of the
split, deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from gesturekit.errors import FormatError

REFERENCE_CENTRES_KEY = "centers/8_pose_velocity_speed_0_7_8_9_pose_normalize"


def cluster_features(seq: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """``(T, J, D)`` -> ``(T, Jm*D + Jm*D + Jm)``: pose, velocity, speed of the metric joints."""
    x = np.asarray(seq, dtype=np.float64)[:, joints]
    vel = np.zeros_like(x)
    vel[1:] = x[1:] - x[:-1]
    pose = x.transpose(0, 2, 1).reshape(len(x), -1)  # all x, then all y
    velf = vel.transpose(0, 2, 1).reshape(len(x), -1)
    speed = np.linalg.norm(vel, axis=-1)
    return np.concatenate([pose, velf, speed], axis=1)


def assign(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (features**2).sum(1)[:, None] - 2 * features @ centres.T + (centres**2).sum(1)[None, :]
    return np.argmin(d, axis=1)


def kmeans(features: np.ndarray, k: int = 8, seed: int = 0, iters: int = 100) -> np.ndarray:
    """Deterministic k-means (k-means++ seeding from ``seed``, Lloyd iterations) -> centres ``(k, F)``."""
    x = np.asarray(features, dtype=np.float64)
    rng = np.random.default_rng(seed)
    k = min(k, len(x))
    centres = [x[rng.integers(len(x))]]
    sq = (x**2).sum(1)
    d = np.full(len(x), np.inf)
    for _ in range(1, k):
        c = centres[-1]
        d = np.minimum(d, np.maximum(sq - 2 * x @ c + c @ c, 0.0))
        total = d.sum()
        idx = rng.choice(len(x), p=d / total) if total > 0 else rng.integers(len(x))
        centres.append(x[idx])
    c = np.array(centres)
    for _ in range(iters):
        lab = assign(x, c)
        new = np.array([x[lab == i].mean(0) if np.any(lab == i) else c[i] for i in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def read_reference_centres(path: str | Path, key: str = REFERENCE_CENTRES_KEY) -> np.ndarray:
    """Centres ``(K, F)`` from a PATS ``kmeans/<speaker>.h5`` file."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "k-means centres file not found")
    with h5py.File(path, "r") as f:
        if key not in f:
            raise FormatError(path, f"no dataset {key!r} (k-means centres)")
        return np.asarray(f[key][()], dtype=np.float64)


def classification_scores(pred: np.ndarray, true: np.ndarray, n_classes: int) -> dict[str, float]:
    """Support-weighted F1, accuracy, mean precision and mean recall from label vectors."""
    return scores_from_confusion(confusion(pred, true, n_classes))


def confusion(pred: np.ndarray, true: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` counts, rows the true class (adds up over chunks of labels)."""
    flat = np.asarray(true, dtype=np.int64).ravel() * n_classes + np.asarray(pred, dtype=np.int64).ravel()
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def scores_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """The scores of :func:`classification_scores` from a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    total = support.sum()
    return {
        "cluster_f1": float((f1 * support).sum() / total) if total else float("nan"),
        "cluster_accuracy": float(tp.sum() / total) if total else float("nan"),
        "cluster_precision": float(precision.mean()),
        "cluster_recall": float(recall.mean()),
    }


def cluster_scores(
    gen: Sequence[np.ndarray], gt: Sequence[np.ndarray], joints: np.ndarray, centres: np.ndarray
) -> dict[str, float]:
    fg = np.concatenate([cluster_features(s, joints) for s in gen])
    fr = np.concatenate([cluster_features(s, joints) for s in gt])
    if fg.shape[1] != centres.shape[1]:
        raise FormatError(
            None, f"k-means centres have {centres.shape[1]} features, the poses give {fg.shape[1]}"
        )
    return classification_scores(assign(fg, centres), assign(fr, centres), len(centres))
