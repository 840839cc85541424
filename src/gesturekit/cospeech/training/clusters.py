"""Pose clusters: k-means over per-frame pose, velocity and speed features of training windows.

The labels train the cluster classifier that mixes the per-cluster decoders (and score the
F1 metric). Features per frame (``ccnce-reference.md`` section 5): ``pose`` (P), ``velocity``
(P, 0 at each window's first frame), ``speed`` (one per joint: the norm of its velocity).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from gesturekit.errors import ConfigError

FEATS = ("pose", "velocity", "speed")


def frame_features(windows: np.ndarray, joint_of: np.ndarray, feats: list[str] | tuple[str, ...]) -> np.ndarray:
    """``(N, T, P)`` windows -> ``(N, T, F)`` clustering features.

    ``joint_of`` ``(P,)`` gives the joint of each pose value (for the per-joint speed).
    """
    bad = [f for f in feats if f not in FEATS]
    if bad or not feats:
        raise ConfigError(f"cluster features must be a non-empty subset of {list(FEATS)}, got {list(feats)}")
    w = np.asarray(windows, dtype=np.float32)
    vel = np.concatenate([np.zeros_like(w[:, :1]), np.diff(w, axis=1)], 1)
    parts = []
    if "pose" in feats:
        parts.append(w)
    if "velocity" in feats:
        parts.append(vel)
    if "speed" in feats:
        n_j = int(joint_of.max()) + 1
        sq = np.stack([(vel[..., joint_of == j] ** 2).sum(-1) for j in range(n_j)], -1)
        parts.append(np.sqrt(sq))
    return np.concatenate(parts, -1)


class PoseClusters:
    """k-means of frame features; ``fit(windows)``, ``predict(windows) -> (N, T)`` labels."""

    def __init__(
        self, k: int = 8, feats: tuple[str, ...] = FEATS, seed: int = 0, max_frames: int = 200_000
    ) -> None:
        self.k, self.feats, self.seed, self.max_frames = k, tuple(feats), seed, max_frames
        self.centers: np.ndarray | None = None
        self.joint_of: np.ndarray | None = None

    def fit(self, windows: np.ndarray, joint_of: np.ndarray) -> PoseClusters:
        self.joint_of = np.asarray(joint_of, dtype=np.int64)
        f = frame_features(windows, self.joint_of, self.feats).reshape(-1, frame_feat_dim(self, windows))
        rng = np.random.default_rng(self.seed)
        if len(f) > self.max_frames:
            f = f[rng.choice(len(f), self.max_frames, replace=False)]
        if len(f) < self.k:
            raise ConfigError(f"k-means: {len(f)} frames are fewer than the {self.k} clusters asked for")
        km = MiniBatchKMeans(n_clusters=self.k, random_state=self.seed, n_init=3, batch_size=1024)
        self.centers = km.fit(f).cluster_centers_.astype(np.float32)
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        if self.centers is None or self.joint_of is None:
            raise ConfigError("PoseClusters: fit before predict")
        f = frame_features(windows, self.joint_of, self.feats)
        d = (f**2).sum(-1, keepdims=True) - 2 * f @ self.centers.T + (self.centers**2).sum(-1)
        return d.argmin(-1).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "feats": list(self.feats), "seed": self.seed}

    def arrays(self) -> dict[str, np.ndarray]:
        assert self.centers is not None and self.joint_of is not None
        return {"centers": self.centers, "joint_of": self.joint_of}

    @classmethod
    def from_dict(cls, d: dict[str, Any], arrays: dict[str, np.ndarray]) -> PoseClusters:
        pc = cls(int(d["k"]), tuple(d["feats"]), int(d["seed"]))
        pc.centers = np.asarray(arrays["centers"], dtype=np.float32)
        pc.joint_of = np.asarray(arrays["joint_of"], dtype=np.int64)
        return pc


def frame_feat_dim(pc: PoseClusters, windows: np.ndarray) -> int:
    assert pc.joint_of is not None
    P = windows.shape[-1]
    return (
        ("pose" in pc.feats) * P
        + ("velocity" in pc.feats) * P
        + ("speed" in pc.feats) * (int(pc.joint_of.max()) + 1)
    )
