"""Poses as joint positions: SMPL-X rotations (BEAT2 models) through the generic skeleton.

A BEAT2-format model writes joint *rotations* (``(T, 55, 3)`` axis-angle, units ``rad``; or
``(T, 55, 6)`` 6-D rotations) with the SMPL-X joint names. Drawing and the position metrics
need joint positions: :func:`to_positions` runs forward kinematics on the generic skeleton
(:data:`gesturekit.skeleton.BEAT2`, root fixed at the origin, metres). 2-D keypoints (PATS)
and poses that already are positions pass through unchanged.

Whether 3-D SMPL-X data are rotations or positions: the ``units`` given (``rad`` / ``axis-angle``
/ ``rot6d`` mean rotations, ``m`` / ``px`` positions), else the data decide: positions keep the
generic skeleton's bone lengths in every frame, rotations do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gesturekit.skeleton import BEAT2, BEAT2_JOINTS, BEAT2_OFFSETS, Skeleton

if TYPE_CHECKING:
    from gesturekit.cospeech.samples import Samples

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
    from gesturekit.skeleton import forward_kinematics

    return forward_kinematics(np.asarray(poses, dtype=np.float64))


def samples_as_positions(samples: Samples) -> Samples:
    """``samples`` with SMPL-X rotations replaced by joint positions (a new object; else unchanged).

    The result's skeleton is the generic BEAT2 one and its units ``m``; its ``model`` is kept.
    """
    from dataclasses import replace

    items = samples.items
    if not items or not needs_kinematics(samples.skeleton, items[0].generated, samples.units):
        return samples
    new_items = [
        replace(
            it,
            generated=to_positions(it.generated),
            ground_truth=None if it.ground_truth is None else to_positions(it.ground_truth),
        )
        for it in items
    ]
    return replace(samples, items=new_items, skeleton=BEAT2, units="m")
