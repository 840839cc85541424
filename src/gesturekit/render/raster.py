"""Vectorised skeleton rasteriser: every bone of many frames drawn with a few NumPy scatter writes.

A bone is a segment between two joints. For a batch of frames, points are sampled along every
bone (as many as the longest bone of its length bucket has pixels), rounded, expanded by a disk
of offsets for thickness, and written into the frame buffer with one fancy-indexed assignment
per bucket: no Python loop over frames or bones, no plotting library.
"""

from __future__ import annotations

import numpy as np


def disk_offsets(radius: int) -> np.ndarray:
    """Integer ``(K, 2)`` offsets ``(dx, dy)`` of a filled disk of ``radius`` pixels."""
    r = max(0, int(radius))
    d = np.arange(-r, r + 1)
    dx, dy = np.meshgrid(d, d)
    keep = dx**2 + dy**2 <= r * r + r  # a slightly fuller disk reads better at small radii
    return np.stack([dx[keep], dy[keep]], axis=1)


def draw_segments(
    frames: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    colors: np.ndarray,
    thickness: int = 3,
) -> np.ndarray:
    """Draw segments into ``frames`` in place.

    frames: ``(F, H, W, 3)`` uint8; start, end: ``(F, B, 2)`` pixel coordinates ``(x, y)``;
    colors: ``(B, 3)`` uint8. Points outside the frame are clamped onto its border (a NaN joint
    is sent there too), so callers draw into a buffer padded by :func:`pad_for` pixels on every
    side and crop the padding off (:func:`padded_frames`).
    """
    n_frames, height, width, _ = frames.shape
    if start.shape[1] == 0:
        return frames
    start = np.asarray(start, dtype=np.float32)
    end = np.asarray(end, dtype=np.float32)
    finite = bool(np.isfinite(start).all() and np.isfinite(end).all())
    if not finite:
        start, end = np.nan_to_num(start, nan=-1e4), np.nan_to_num(end, nan=-1e4)
    r = (thickness - 1) // 2
    offs = disk_offsets(r)
    stamp = (offs[:, 1] * width + offs[:, 0]).astype(np.int64)  # (K,) flat offsets of the disk
    # points one pixel apart along every segment (a per-segment count: the result does not depend on
    # the other frames of the batch); bones are bucketed by the samples they need (powers of two)
    lengths = np.minimum(np.linalg.norm(end - start, axis=-1), 4 * (width + height))  # (F, B)
    n_seg = np.maximum(1, np.ceil(lengths))  # (F, B) steps per segment
    need = n_seg.max(axis=0).astype(np.int64) + 1  # (B,)
    bucket = np.ceil(np.log2(need)).astype(np.int64)
    flat = frames.reshape(-1, 3)
    f_base = (np.arange(n_frames, dtype=np.int64) * height * width)[:, None, None]
    for b in np.unique(bucket):
        sel = np.nonzero(bucket == b)[0]
        k = np.arange(int(need[sel].max()), dtype=np.float32)
        t = np.minimum(k[None, None, :] / n_seg[:, sel, None], 1.0).astype(np.float32)  # (F, Bs, S)
        p0, p1 = start[:, sel], end[:, sel]
        xs = p0[..., 0, None] + (p1[..., 0] - p0[..., 0])[..., None] * t
        ys = p0[..., 1, None] + (p1[..., 1] - p0[..., 1])[..., None] * t
        xi = np.clip(np.rint(xs), r, width - 1 - r).astype(np.int64)
        yi = np.clip(np.rint(ys), r, height - 1 - r).astype(np.int64)
        idx = (f_base + yi * width + xi)[..., None] + stamp  # (F, Bs, S, K)
        flat[idx] = colors[sel][None, :, None, None, :]
    return frames


def pad_for(thickness: int) -> int:
    """Padding that keeps clamped (off-frame) strokes of this thickness out of the visible area."""
    return thickness + 2


def padded_frames(n: int, height: int, width: int, pad: int, value: int = 255) -> np.ndarray:
    """A white buffer ``(n, height + 2 pad, width + 2 pad, 3)``; crop with ``buf[:, pad:-pad, pad:-pad]``."""
    return np.full((n, height + 2 * pad, width + 2 * pad, 3), value, dtype=np.uint8)


def draw_skeletons(
    poses_px: np.ndarray, bones: np.ndarray, colors: np.ndarray, height: int, width: int, thickness: int = 3
) -> np.ndarray:
    """Frames ``(F, height, width, 3)`` of skeletons given in pixel coordinates ``(F, J, 2)``."""
    pad = pad_for(thickness)
    buf = padded_frames(len(poses_px), height, width, pad)
    px = np.asarray(poses_px, dtype=np.float32) + pad
    draw_segments(buf, px[:, bones[:, 1]], px[:, bones[:, 0]], colors, thickness)
    return buf[:, pad:-pad, pad:-pad]


def bone_colors(joint_names: list[str], bones: np.ndarray) -> np.ndarray:
    """Colour per bone by side: right side red, left side blue, the rest dark grey."""
    cols = np.empty((len(bones), 3), dtype=np.uint8)
    for i, (child, _) in enumerate(bones):
        name = joint_names[child].lower()
        if name.startswith(("r", "right")) and not name.startswith("root"):
            cols[i] = (214, 39, 40)
        elif name.startswith(("l", "left")):
            cols[i] = (31, 119, 180)
        else:
            cols[i] = (60, 60, 60)
    return cols
