"""Skeletons for drawing and metrics: joint names and parent lists.

PATS: 52 OpenPose upper-body joints (x of all joints, then y, relative to the neck; the
parent list of chahuja/pats ``data/skeleton.py``). Other skeletons (BEAT2's generic one) are
registered beside it.

Poses as joint positions: a BEAT2-format model writes joint *rotations* (``(T, 55, 3)``
axis-angle, units ``rad``; or ``(T, 55, 6)`` 6-D rotations) with the SMPL-X joint names. Drawing
and the position metrics need joint positions: :func:`to_positions` runs forward kinematics on the
generic skeleton (:data:`BEAT2`, root fixed at the origin, metres). 2-D keypoints (PATS) and poses
that already are positions pass through unchanged. Whether 3-D SMPL-X data are rotations or
positions (:func:`needs_kinematics`): the ``units`` given (``rad`` / ``axis-angle`` / ``rot6d``
mean rotations, ``m`` / ``px`` positions), else the data decide: positions keep the generic
skeleton's bone lengths in every frame, rotations do not.
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


# --------------------------------------------------------------------------------------------
# BEAT2 / SMPL-X: 55 joints, the public SMPL-X kinematic tree, and a generic rest skeleton.
#
# SMPL-X joint order (the order of BEAT2's ``poses (T, 165)`` = 55 x 3 axis-angle): pelvis
# (global orient), 21 body joints, jaw, left eye, right eye, 15 left-hand joints, 15 right-hand
# joints (index, middle, pinky, ring, thumb; 3 each). The real bone offsets depend on the body
# shape and live in the SMPL-X model files, which are not distributed with gesturekit. For
# drawing we use BEAT2_OFFSETS: fixed *generic* offsets in metres of an adult of about 1.75 m in
# the SMPL-X rest pose (T-pose; axes: +x the subject's left, +y up, +z forward), rounded from
# typical adult proportions. They are a drawing aid, not the subject's anatomy: bone lengths are
# the same for every speaker and ``betas`` are ignored. Joint angles are exact.
# --------------------------------------------------------------------------------------------

_SMPLX_BODY = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye", "right_eye",
]  # fmt: skip
_SMPLX_FINGERS = ["index", "middle", "pinky", "ring", "thumb"]
BEAT2_JOINTS: list[str] = _SMPLX_BODY + [
    f"{side}_{f}{i}" for side in ("left", "right") for f in _SMPLX_FINGERS for i in (1, 2, 3)
]
BEAT2_PARENTS: list[int] = [
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
]  # fmt: skip

_LEFT_BODY_OFFSETS = {
    "left_hip": (0.06, -0.09, 0.0),
    "left_knee": (0.04, -0.38, 0.0),
    "left_ankle": (-0.01, -0.40, -0.04),
    "left_foot": (0.04, -0.06, 0.12),
    "left_collar": (0.07, 0.12, -0.01),
    "left_shoulder": (0.11, 0.03, -0.01),
    "left_elbow": (0.26, 0.0, -0.02),
    "left_wrist": (0.25, 0.01, 0.0),
    "left_eye": (0.03, 0.06, 0.08),
}
_CENTRE_OFFSETS = {
    "pelvis": (0.0, 0.0, 0.0),
    "spine1": (0.0, 0.11, -0.01),
    "spine2": (0.0, 0.135, 0.0),
    "spine3": (0.0, 0.055, 0.0),
    "neck": (0.0, 0.21, -0.03),
    "head": (0.0, 0.09, 0.05),
    "jaw": (0.0, -0.03, 0.05),
}
# (knuckle offset from the wrist, segment 2 offset, segment 3 offset) for the left hand
_LEFT_FINGER_OFFSETS = {
    "index": ((0.09, -0.005, 0.025), (0.035, 0.0, 0.0), (0.025, 0.0, 0.0)),
    "middle": ((0.095, 0.0, 0.0), (0.04, 0.0, 0.0), (0.027, 0.0, 0.0)),
    "pinky": ((0.075, -0.01, -0.04), (0.025, 0.0, 0.0), (0.018, 0.0, 0.0)),
    "ring": ((0.085, -0.005, -0.02), (0.035, 0.0, 0.0), (0.025, 0.0, 0.0)),
    "thumb": ((0.025, -0.015, 0.025), (0.025, -0.01, 0.02), (0.025, -0.01, 0.02)),
}


def _beat2_offsets() -> np.ndarray:
    off = np.zeros((len(BEAT2_JOINTS), 3))
    mirror = np.array([-1.0, 1.0, 1.0])
    for name, v in _CENTRE_OFFSETS.items():
        off[BEAT2_JOINTS.index(name)] = v
    for name, v in _LEFT_BODY_OFFSETS.items():
        off[BEAT2_JOINTS.index(name)] = v
        off[BEAT2_JOINTS.index(name.replace("left", "right"))] = np.array(v) * mirror
    for finger, segs in _LEFT_FINGER_OFFSETS.items():
        for i, v in enumerate(segs, start=1):
            off[BEAT2_JOINTS.index(f"left_{finger}{i}")] = v
            off[BEAT2_JOINTS.index(f"right_{finger}{i}")] = np.array(v) * mirror
    return off


#: ``(55, 3)`` generic rest offsets (metres) of each joint from its parent (root: zero).
BEAT2_OFFSETS: np.ndarray = _beat2_offsets()
#: Upper-body joints worth drawing for co-speech gesture (no legs, no eyes).
BEAT2_UPPER_BODY: list[int] = [0, 3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, *range(25, 55)]

BEAT2 = Skeleton("beat2", BEAT2_JOINTS, BEAT2_PARENTS, dims=3)
SKELETONS["beat2"] = BEAT2


def forward_kinematics(
    rotations: np.ndarray,
    parents: list[int] | None = None,
    offsets: np.ndarray | None = None,
    trans: np.ndarray | None = None,
) -> np.ndarray:
    """Joint positions from local joint rotations, vectorised over time.

    ``rotations``: ``(T, J, 3, 3)`` local rotation matrices, or ``(T, J*3)`` / ``(T, J, 3)``
    axis-angle, or ``(T, J*6)`` / ``(T, J, 6)`` 6-D rotations. ``parents``/``offsets`` default to
    the BEAT2 generic skeleton (``(J, 3)`` metres); ``(T, J, 3)`` offsets change per frame (BVH
    joints with position channels). ``trans``: optional ``(T, 3)`` root translation. Returns
    ``(T, J, 3)`` float64 positions. The loop runs over joints (parents precede children), never
    over frames.
    """
    from gesturekit.features.rotations import axis_angle_to_matrix, rot6d_to_matrix

    parents = BEAT2_PARENTS if parents is None else parents
    offsets = BEAT2_OFFSETS if offsets is None else np.asarray(offsets, dtype=np.float64)
    n_j = len(parents)
    r = np.asarray(rotations, dtype=np.float64)
    if r.ndim == 2 and r.shape[1] == 3 * n_j:
        r = axis_angle_to_matrix(r.reshape(len(r), n_j, 3))
    elif r.ndim == 2 and r.shape[1] == 6 * n_j:
        r = rot6d_to_matrix(r.reshape(len(r), n_j, 6))
    elif r.ndim == 3 and r.shape[1:] == (n_j, 3):
        r = axis_angle_to_matrix(r)
    elif r.ndim == 3 and r.shape[1:] == (n_j, 6):
        r = rot6d_to_matrix(r)
    elif not (r.ndim == 4 and r.shape[1:] == (n_j, 3, 3)):
        raise ValueError(f"rotations of shape {r.shape} do not fit a skeleton of {n_j} joints")
    n_t = r.shape[0]
    glob = np.empty_like(r)
    pos = np.empty((n_t, n_j, 3))
    for j, p in enumerate(parents):
        if p < 0:
            glob[:, j] = r[:, j]
            pos[:, j] = offsets[..., j, :]
        else:
            glob[:, j] = glob[:, p] @ r[:, j]
            pos[:, j] = pos[:, p] + (glob[:, p] @ offsets[..., j, :, None])[..., 0]
    if trans is not None:
        pos = pos + np.asarray(trans, dtype=np.float64)[:, None, :]
    return pos


def project_front(positions: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``(T, J, 3)`` -> ``(T, J, 2)`` front view (x, y), y up, times ``scale``."""
    return np.asarray(positions)[..., :2] * scale


# ----------------------------------------------------------------------------- poses as positions

ROTATION_UNITS = ("rad", "radian", "radians", "axis-angle", "axis_angle", "rot6d")
POSITION_UNITS = ("m", "cm", "mm", "px", "metres", "meters")


def is_smplx(skeleton: Skeleton | list[str]) -> bool:
    joints = skeleton.joints if isinstance(skeleton, Skeleton) else list(skeleton)
    return joints == BEAT2_JOINTS


def looks_like_rotations(poses: np.ndarray) -> bool:
    """``(T, 55, D)`` SMPL-X data: True unless they are positions on the generic skeleton.

    Positions have every bone (child - parent) as long as the skeleton's offset; a sequence
    whose bone lengths differ from them by more than 5 % (in any of up to 16 sampled frames)
    is taken as rotations.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1] != len(BEAT2_JOINTS):
        return False
    if poses.shape[2] != 3:
        return poses.shape[2] == 6
    frames = poses[np.linspace(0, len(poses) - 1, min(16, len(poses))).astype(int)]
    child = np.array([j for j, p in enumerate(BEAT2.parents) if p >= 0])
    parent = np.array([BEAT2.parents[j] for j in child])
    length = np.linalg.norm(frames[:, child] - frames[:, parent], axis=-1)  # (F, bones)
    rest = np.linalg.norm(BEAT2_OFFSETS[child], axis=-1)
    return bool(np.any(np.abs(length - rest) > 0.05 * rest + 1e-6))


def needs_kinematics(skeleton: Skeleton, poses: np.ndarray, units: str = "") -> bool:
    """True when ``poses`` are SMPL-X rotations to turn into positions."""
    if not is_smplx(skeleton):
        return False
    u = (units or "").strip().lower()
    if u in ROTATION_UNITS:
        return True
    if u in POSITION_UNITS:
        return False
    return looks_like_rotations(poses)


def to_positions(poses: np.ndarray) -> np.ndarray:
    """SMPL-X rotations ``(T, 55, 3|6)`` -> joint positions ``(T, 55, 3)`` (metres, root at 0)."""
    return forward_kinematics(np.asarray(poses, dtype=np.float64))
