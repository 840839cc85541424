"""Pose-space metrics of the CC-NCE reference (and the field's kinematic statistics), whole split.

Every function takes lists of sequences ``(T, J, D)`` (one per interval; generated and ground
truth in the same order) and returns one number for the whole split: frames are pooled over
intervals, differences are taken inside each interval (never across an interval boundary).

Definitions (``../shared/specs/ccnce-reference.md`` section 6, ``cospeech.md``):

- ``l1`` / ``vel_l1``: mean absolute error of the metric joints (and of their frame
  differences) in z-normalised space (``PoseStats``: the speaker's training mean/std, or the
  ground truth's when none is given). ``l1_units`` is the same in the data's own units.
- ``pck``: mean of PCK at alpha 0.1 and 0.2; a joint is correct when its distance to ground
  truth is below ``alpha * max(range over dims)`` of the ground-truth frame's bounding box
  over all joints (root set to 0, masked joints included).
- ``fid``: Fréchet distance between Gaussians of the z-normalised metric-joint pose vectors.
- ``w1_vel`` / ``w1_acc``: Wasserstein-1 between the distributions of the per-frame mean
  (over metric joints) speed ``|x_t - x_{t-1}|`` and acceleration magnitude, data units per
  frame (the reference's units).
- ``diversity``: mean absolute deviation of the metric-joint pose from the mean pose.
- ``l1div``: mean absolute deviation of joint positions from their own mean over the split.
- ``spatial_norm``: RMS difference of the mean joint distance from the mean pose (generated vs
  real), relative to the real one's RMS (the reference's formula, its denominator reset).
- ``jerk``: mean magnitude of the third difference, data units per second^3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import wasserstein_distance

from gesturekit.cospeech.evaluation.frechet import frechet_from_features
from gesturekit.skeleton import BEAT2_JOINTS, Skeleton

PCK_ALPHAS = (0.1, 0.2)
# The reference masks the neck (root) and the face joints (nose, eyes) of PATS.
PATS_METRIC_MASK = (0, 7, 8, 9)


def metric_joints(skeleton: Skeleton) -> np.ndarray:
    """Joints the metrics score: PATS without joints 0, 7, 8, 9; BEAT2's upper body without the
    pelvis; other skeletons every joint but the roots."""
    if skeleton.name == "pats":
        return np.array([j for j in range(skeleton.n_joints) if j not in PATS_METRIC_MASK])
    if skeleton.name == "beat2" or skeleton.joints == BEAT2_JOINTS:
        from gesturekit.skeleton import BEAT2_UPPER_BODY

        return np.array([j for j in BEAT2_UPPER_BODY if skeleton.parents[j] >= 0])
    return np.array([j for j, p in enumerate(skeleton.parents) if p >= 0])


def root_joints(skeleton: Skeleton) -> np.ndarray:
    return np.array([j for j, p in enumerate(skeleton.parents) if p < 0])


@dataclass
class PoseStats:
    """Per-coordinate mean and standard deviation ``(J, D)`` for z-normalisation and the mean pose.

    A coordinate that never moves in the data it is fitted on (e.g. the root) keeps std 1: it is
    compared in data units instead of being blown up by a tiny divisor.
    """

    mean: np.ndarray
    std: np.ndarray
    source: str = "ground truth of the split"

    @classmethod
    def fit(cls, sequences: Sequence[np.ndarray], source: str = "ground truth of the split") -> PoseStats:
        x = np.concatenate([np.asarray(s, dtype=np.float64) for s in sequences], axis=0)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-12, std, 1.0), source)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std


def _cat(seqs: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(s, dtype=np.float64) for s in seqs], axis=0)


def _diffs(seqs: Sequence[np.ndarray], order: int) -> np.ndarray:
    """k-th frame differences inside every sequence, pooled: ``(sum(T_i - k), J, D)``."""
    parts = [np.diff(np.asarray(s, dtype=np.float64), n=order, axis=0) for s in seqs if len(s) > order]
    if not parts:
        shape = np.asarray(seqs[0]).shape[1:]
        return np.zeros((0, *shape))
    return np.concatenate(parts, axis=0)


def l1(
    gen: Sequence[np.ndarray], gt: Sequence[np.ndarray], joints: np.ndarray, stats: PoseStats | None
) -> float:
    """Mean absolute error over frames, metric joints and dims (z-space when ``stats`` is given)."""
    g, r = _cat(gen), _cat(gt)
    if stats is not None:
        g, r = stats.normalise(g), stats.normalise(r)
    return float(np.abs(g[:, joints] - r[:, joints]).mean())


def vel_l1(
    gen: Sequence[np.ndarray], gt: Sequence[np.ndarray], joints: np.ndarray, stats: PoseStats | None
) -> float:
    """L1 of frame differences (z-space differences divide by the std only)."""
    g, r = _diffs(gen, 1), _diffs(gt, 1)
    if len(g) == 0:
        return float("nan")
    if stats is not None:
        g, r = g / stats.std, r / stats.std
    return float(np.abs(g[:, joints] - r[:, joints]).mean())


def set_root_zero(x: np.ndarray, roots: np.ndarray) -> np.ndarray:
    x = np.array(x, dtype=np.float64, copy=True)
    x[:, roots] = 0.0
    return x


def pck(
    gen: Sequence[np.ndarray],
    gt: Sequence[np.ndarray],
    joints: np.ndarray,
    roots: np.ndarray,
    alphas: Sequence[float] = PCK_ALPHAS,
) -> dict[str, float]:
    """PCK per alpha and their mean (``pck``); threshold from the ground-truth frame's bounding box."""
    g, r = set_root_zero(_cat(gen), roots), set_root_zero(_cat(gt), roots)
    dist = np.linalg.norm(g - r, axis=-1)[:, joints]  # (N, Jm)
    extent = (r.max(axis=1) - r.min(axis=1)).max(axis=-1)  # (N,)
    out = {}
    for a in alphas:
        out[f"pck_{a:g}"] = float((dist < a * extent[:, None]).mean())
    out["pck"] = float(np.mean([out[f"pck_{a:g}"] for a in alphas]))
    return out


def fid(
    gen: Sequence[np.ndarray], gt: Sequence[np.ndarray], joints: np.ndarray, stats: PoseStats | None
) -> float:
    """Fréchet distance of frame-level Gaussians of the (z-normalised) metric-joint pose vectors
    (NaN with fewer than 2 frames on either side: no covariance)."""
    g, r = _cat(gen), _cat(gt)
    if len(g) < 2 or len(r) < 2:
        return float("nan")
    if stats is not None:
        g, r = stats.normalise(g), stats.normalise(r)
    n = len(g)
    return frechet_from_features(g[:, joints].reshape(n, -1), r[:, joints].reshape(len(r), -1))


def wasserstein1(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance between the empirical distributions of the 1-D samples ``u`` and ``v``
    (scipy's, exact on all samples; NaN when either is empty rather than scipy's error)."""
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    if len(u) == 0 or len(v) == 0:
        return float("nan")
    return float(wasserstein_distance(u, v))


def frame_speed(seqs: Sequence[np.ndarray], joints: np.ndarray, order: int = 1) -> np.ndarray:
    """Per frame, the mean over metric joints of ``|k-th difference|`` (data units per frame^k)."""
    d = _diffs(seqs, order)
    if len(d) == 0:
        return np.zeros(0)
    return np.linalg.norm(d[:, joints], axis=-1).mean(axis=1)


def w1_kinematics(gen: Sequence[np.ndarray], gt: Sequence[np.ndarray], joints: np.ndarray) -> dict[str, float]:
    return {
        "w1_vel": wasserstein1(frame_speed(gen, joints, 1), frame_speed(gt, joints, 1)),
        "w1_acc": wasserstein1(frame_speed(gen, joints, 2), frame_speed(gt, joints, 2)),
    }


def _centred(seqs: Sequence[np.ndarray], roots: np.ndarray, mean_poses: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(
        [
            set_root_zero(s, roots) - np.asarray(m, dtype=np.float64)
            for s, m in zip(seqs, mean_poses, strict=True)
        ]
    )


def diversity(
    seqs: Sequence[np.ndarray], joints: np.ndarray, roots: np.ndarray, mean_poses: Sequence[np.ndarray]
) -> float:
    """Mean absolute deviation (data units) of the root-zeroed metric-joint pose from the mean pose.

    ``mean_poses`` holds one mean pose ``(J, D)`` per sequence (its speaker's).
    """
    return float(np.abs(_centred(seqs, roots, mean_poses)[:, joints]).mean())


def l1div(seqs: Sequence[np.ndarray], joints: np.ndarray) -> float:
    """Mean absolute deviation of joint positions from their own mean over all frames of the split."""
    x = _cat(seqs)[:, joints]
    return float(np.abs(x - x.mean(axis=0)).mean())


def spatial_norm(
    gen: Sequence[np.ndarray],
    gt: Sequence[np.ndarray],
    joints: np.ndarray,
    roots: np.ndarray,
    mean_poses: Sequence[np.ndarray],
) -> float:
    """``sqrt(mean (d(gen) - d(gt))^2) / sqrt(mean d(gt)^2)``, d = mean joint distance from the mean pose."""
    return spatial_norm_from_sums(spatial_norm_sums(gen, gt, joints, roots, mean_poses))


def spatial_norm_sums(
    gen: Sequence[np.ndarray],
    gt: Sequence[np.ndarray],
    joints: np.ndarray,
    roots: np.ndarray,
    mean_poses: Sequence[np.ndarray],
) -> np.ndarray:
    """``[sum (d(gen) - d(gt))^2, sum d(gt)^2, frames]``: spatialNorm's terms, to add up over chunks."""
    dg = np.linalg.norm(_centred(gen, roots, mean_poses)[:, joints], axis=-1).mean(axis=1)
    dr = np.linalg.norm(_centred(gt, roots, mean_poses)[:, joints], axis=-1).mean(axis=1)
    return np.array([np.sum((dg - dr) ** 2), np.sum(dr**2), len(dr)], dtype=np.float64)


def spatial_norm_from_sums(sums: np.ndarray) -> float:
    """spatialNorm of the terms :func:`spatial_norm_sums` gave (summed over chunks)."""
    diff, ref, n = (float(v) for v in sums)
    denom = float(np.sqrt(ref / n)) if n else 0.0
    if denom == 0:
        return 1000.0  # the reference's value for a zero denominator
    return float(np.sqrt(diff / n) / denom)


def jerk(seqs: Sequence[np.ndarray], joints: np.ndarray, fps: float) -> dict[str, float]:
    """Mean and standard deviation of the jerk magnitude ``|third difference| * fps^3``."""
    d = _diffs(seqs, 3)
    if len(d) == 0:
        return {"mean": float("nan"), "std": float("nan")}
    mag = np.linalg.norm(d[:, joints], axis=-1) * fps**3
    return {"mean": float(mag.mean()), "std": float(mag.std())}
