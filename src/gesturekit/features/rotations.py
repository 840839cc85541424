"""Rotation conversions, vectorised over any leading axes (NumPy, float64 inside).

Axis-angle ``(..., 3)`` (Rodrigues vectors, as SMPL-X stores them), rotation matrices
``(..., 3, 3)`` and the 6-D continuous representation ``(..., 6)`` of Zhou et al. (CVPR 2019):
the first two columns of the matrix, ``[r00, r10, r20, r01, r11, r21]``; the matrix is recovered
by Gram-Schmidt, so any 6-vector with independent halves maps to a valid rotation.
"""

from __future__ import annotations

import numpy as np


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """``(..., 3)`` axis-angle -> ``(..., 3, 3)`` rotation matrices (Rodrigues' formula)."""
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    small = theta < 1e-8
    axis = aa / np.where(small, 1.0, theta)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*aa.shape[:-1], 3, 3)
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    r = eye + s * k + (1.0 - c) * (k @ k)
    # first-order expansion for tiny angles: I + [aa]x
    ax, ay, az = aa[..., 0], aa[..., 1], aa[..., 2]
    k_small = np.stack([zero, -az, ay, az, zero, -ax, -ay, ax, zero], axis=-1).reshape(k.shape)
    return np.where(small[..., None], eye + k_small, r)


def matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` -> ``(..., 3)`` axis-angle with angle in ``[0, pi]``."""
    r = np.asarray(r, dtype=np.float64)
    cos = np.clip((np.trace(r, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    theta = np.arccos(cos)
    v = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    sin = np.sin(theta)
    general = theta[..., None] / np.where(np.abs(sin) < 1e-6, 1.0, 2.0 * sin)[..., None] * v
    # near pi: axis from the diagonal of (R + I) / 2
    diag = np.clip((np.diagonal(r, axis1=-2, axis2=-1) + 1.0) / 2.0, 0.0, None)
    axis_pi = np.sqrt(diag)
    signs = np.sign(
        np.stack([np.ones_like(theta), r[..., 0, 1] + r[..., 1, 0], r[..., 0, 2] + r[..., 2, 0]], -1)
    )
    signs = np.where(signs == 0, 1.0, signs)
    near_pi = (np.abs(sin) < 1e-6) & (theta > 1.0)
    out = np.where(near_pi[..., None], axis_pi * signs * theta[..., None], general)
    return np.where((theta < 1e-8)[..., None], v / 2.0, out)


def matrix_to_rot6d(r: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` -> ``(..., 6)``: the first two columns, column after column."""
    r = np.asarray(r)
    return np.concatenate([r[..., :, 0], r[..., :, 1]], axis=-1)


def rot6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """``(..., 6)`` -> ``(..., 3, 3)`` by Gram-Schmidt on the two columns."""
    d6 = np.asarray(d6, dtype=np.float64)
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    a2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), 1e-12)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def axis_angle_to_rot6d(aa: np.ndarray) -> np.ndarray:
    """``(..., 3)`` -> ``(..., 6)``."""
    return matrix_to_rot6d(axis_angle_to_matrix(aa))


def rot6d_to_axis_angle(d6: np.ndarray) -> np.ndarray:
    """``(..., 6)`` -> ``(..., 3)``."""
    return matrix_to_axis_angle(rot6d_to_matrix(d6))
