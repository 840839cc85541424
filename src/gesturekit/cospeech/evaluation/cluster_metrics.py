"""Cluster classification F1 / accuracy: generated frames labelled by pose k-means vs ground truth.

Per frame features (``ccnce-reference.md`` section 5): pose of the metric joints (all x values,
then all y values, ...), velocity ``x_t - x_{t-1}`` (0 at each interval's first frame) in the
same layout, and per-joint speed. Frames take the label of the nearest centre (squared
Euclidean). F1 is the support-weighted mean of per-class F1 (ground-truth labels as the
truth), as the reference reports it; accuracy is the fraction of matching labels.

Centres come from PATS's ``kmeans/<speaker>.h5`` files when given; otherwise scikit-learn's
k-means (k-means++ seeding with a fixed seed, Lloyd iterations) on the ground truth of the
split, deterministically. The F1 and the other scores are scikit-learn's, from a confusion
matrix so that dev metrics can sum it over chunks and ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import precision_recall_fscore_support
from threadpoolctl import threadpool_limits

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
    """Deterministic k-means (scikit-learn's: k-means++ seeding from ``seed``, one run of Lloyd
    iterations) -> centres ``(k, F)``."""
    x = np.asarray(features, dtype=np.float64)
    k = min(k, len(x))
    km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=iters, random_state=seed, algorithm="lloyd")
    with threadpool_limits(1):  # one thread: the same centres to the last bit whatever the machine
        return km.fit(x).cluster_centers_


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
    """The scores of :func:`classification_scores` from a confusion matrix (scikit-learn's per-class
    precision, recall and F1, each confusion cell a weighted (true, predicted) pair)."""
    cm = np.asarray(cm)
    n = len(cm)
    total = float(cm.sum())
    if total == 0:
        nan = float("nan")
        return {"cluster_f1": nan, "cluster_accuracy": nan, "cluster_precision": 0.0, "cluster_recall": 0.0}
    classes = np.arange(n)
    true, pred = np.repeat(classes, n), np.tile(classes, n)
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=classes, sample_weight=cm.ravel(), average=None, zero_division=0
    )
    return {
        "cluster_f1": float((f1 * support).sum() / total),
        "cluster_accuracy": float(np.trace(cm) / total),
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
