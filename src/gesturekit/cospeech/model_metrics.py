"""Metrics used while training and comparing co-speech models (over a whole split).

Arrays: ``pred`` and ``true`` ``(N, T, P)`` pose windows. ``L1``/``VelL1`` in the normalised
space the model is trained in (as the reference); PCK on joints in data units (root at 0,
threshold alpha x the larger side of the ground-truth frame's bounding box, alphas 0.1 and
0.2, averaged); ``spatialNorm`` = RMS over frames of (d(pred) - d(true)) / RMS of d(true), d
the mean distance of the joints from the training mean pose, both over the same frames (the
reference's denominator is never reset); cluster accuracy and support-weighted F1 of the
classifier's argmax against the k-means label of the ground truth.
"""

from __future__ import annotations

import numpy as np


def l1(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.abs(pred - true).mean())


def vel_l1(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.abs(np.diff(pred, axis=-2) - np.diff(true, axis=-2)).mean())


def pck(pred_j: np.ndarray, true_j: np.ndarray, joints: list[int] | None = None, alphas=(0.1, 0.2)) -> float:  # noqa: ANN001
    """``(N, J, 2)`` joints (frames flattened); mean over ``alphas`` of the fraction of correct joints."""
    rng = true_j.max(1) - true_j.min(1)  # (N, 2)
    size = rng.max(-1, keepdims=True)  # (N, 1)
    dist = np.linalg.norm(pred_j - true_j, axis=-1)  # (N, J)
    if joints is not None:
        dist = dist[:, joints]
    return float(np.mean([(dist < a * size).mean() for a in alphas]))


def spatial_norm(pred_j: np.ndarray, true_j: np.ndarray, mean_j: np.ndarray) -> float:
    d_pred = np.linalg.norm(pred_j - mean_j, axis=-1).mean(-1)
    d_true = np.linalg.norm(true_j - mean_j, axis=-1).mean(-1)
    denom = np.sqrt(np.mean(d_true**2))
    return float(np.sqrt(np.mean((d_pred - d_true) ** 2)) / denom) if denom > 0 else 1000.0


def cluster_scores(pred_labels: np.ndarray, true_labels: np.ndarray, k: int) -> dict[str, float]:
    p, t = pred_labels.ravel(), true_labels.ravel()
    acc = float((p == t).mean())
    f1s, support = [], []
    for c in range(k):
        tp = np.sum((p == c) & (t == c))
        prec = tp / max(np.sum(p == c), 1)
        rec = tp / max(np.sum(t == c), 1)
        f1s.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
        support.append(np.sum(t == c))
    f1 = float(np.average(f1s, weights=support)) if sum(support) else 0.0
    return {"cluster_acc": acc, "cluster_f1": f1}


def speed_stats(joints: np.ndarray, fps: float) -> dict[str, float]:
    """Mean and 95th percentile of joint speed (units per second) of ``(N, T, J, D)`` windows."""
    v = np.linalg.norm(np.diff(joints, axis=1), axis=-1) * fps
    return {"speed_mean": float(v.mean()), "speed_p95": float(np.percentile(v, 95))}


LOWER_IS_BETTER = {"L1": True, "VelL1": True, "pck": False, "spatialNorm": True, "cluster_acc": False,
                   "cluster_f1": False, "L1_units": True}  # fmt: skip
