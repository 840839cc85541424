"""Skeletons for drawing and metrics: joint names and parent lists.

PATS: 52 OpenPose upper-body joints (x of all joints, then y, relative to the neck; the
parent list of chahuja/pats ``data/skeleton.py``). Other skeletons (BEAT2's generic one) are
registered beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FINGERS = ["Thumb", "Index", "Middle", "Ring", "Little"]


def _hand(side: str) -> list[str]:
    return [f"{side}HandRoot"] + [f"{side}Hand{f}{i}" for f in _FINGERS for i in range(1, 5)]


PATS_JOINTS: list[str] = [
    "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "Nose", "REye", "LEye",
    *_hand("L"), *_hand("R"),
]  # fmt: skip
PATS_PARENTS: list[int] = [
    -1, 0, 1, 2, 0, 4, 5, 0, 7, 7, 6,
    10, 11, 12, 13, 10, 15, 16, 17, 10, 19, 20, 21, 10, 23, 24, 25, 10, 27, 28, 29,
    3, 31, 32, 33, 34, 31, 36, 37, 38, 31, 40, 41, 42, 31, 44, 45, 46, 31, 48, 49, 50,
]  # fmt: skip
# The CC-NCE model predicts every joint but the nose and eyes; metrics also mask the neck.
PATS_MODEL_JOINTS: list[int] = [j for j in range(52) if j not in (7, 8, 9)]


@dataclass(frozen=True)
class Skeleton:
    name: str
    joints: list[str]
    parents: list[int]
    dims: int = 2

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise ValueError(f"skeleton {self.name}: {len(self.joints)} joints, {len(self.parents)} parents")

    @property
    def n_joints(self) -> int:
        return len(self.joints)

    def bones(self) -> np.ndarray:
        """``(n_bones, 2)`` pairs (child, parent) for every joint with a parent."""
        return np.array([(j, p) for j, p in enumerate(self.parents) if p >= 0], dtype=np.int64)


PATS = Skeleton("pats", PATS_JOINTS, PATS_PARENTS, dims=2)
SKELETONS: dict[str, Skeleton] = {"pats": PATS}


def pats_flat_to_joints(flat: np.ndarray) -> np.ndarray:
    """PATS ``(T, 104)`` ``[x_0..x_51, y_0..y_51]`` -> ``(T, 52, 2)``."""
    flat = np.asarray(flat)
    if flat.shape[-1] != 104:
        raise ValueError(f"PATS pose rows have 104 values, got {flat.shape[-1]}")
    return flat.reshape(*flat.shape[:-1], 2, 52).swapaxes(-1, -2)


def pats_joints_to_flat(joints: np.ndarray) -> np.ndarray:
    """``(T, 52, 2)`` -> PATS ``(T, 104)``."""
    joints = np.asarray(joints)
    return joints.swapaxes(-1, -2).reshape(*joints.shape[:-2], 104)
