"""File layout of a packed store and the window arithmetic shared by packer and loader.

::

    STORE/store.json                    metadata, written last (its presence = a complete store):
                                        format, keys {key: {dim, dtype}}, splits {split: {intervals,
                                        frames{key}}}, speakers, pose_key, checksums {file: sha256},
                                        skipped [{name, problem}], source, options
    STORE/plan.json                     the packing plan (written first; used to resume)
    STORE/progress/<split>.jsonl        one line per interval written: {"i": n, "digest": ...}
    STORE/<split>/<key>.npy             (N_frames, D) or (N_frames,) contiguous array, key with '/'
                                        replaced by '__' (e.g. train/pose__normalize.npy)
    STORE/<split>/offsets.npy           (n_intervals, n_keys) int64 first row of each interval
    STORE/<split>/lengths.npy           (n_intervals, n_keys) int64 rows of each interval
    STORE/<split>/rates.npy             (n_intervals, n_keys) float64 frames per second
    STORE/<split>/speakers.npy          (n_intervals,) int32 index into store.json "speakers"
    STORE/<split>/intervals.json        {"names": [...], "words": [[[word, start_s, end_s], ...], ...]}
    STORE/muvar/<speaker>.h5            <key>/mean, <key>/var (1, 1, D) float64 over the speaker's
                                        training frames (the PATS muvar layout)

Windows: ``time`` seconds at ``fs`` frames per second -> ``L = int(time * fs)`` frames;
starts every ``hop`` frames (``hop = 0``: ``L``, non-overlapping) while the window fits in the
interval's pose duration. Frame ``j`` of a window starting at ``s`` is at ``t = (s + j) / fs``
seconds; modality ``k`` is read at row ``floor(t * rate_k)`` of its interval (clipped to its
last row), i.e. nearest-previous-frame resampling to ``fs`` by time, for every modality alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STORE_JSON = "store.json"
PLAN_JSON = "plan.json"
STORE_VERSION = 1


def key_file(key: str) -> str:
    return key.replace("/", "__") + ".npy"


def split_dir(store: Path, split: str) -> Path:
    return Path(store) / split


def window_length(time_s: float, fs: float) -> int:
    return int(time_s * fs + 1e-9)


def window_starts(durations_s: np.ndarray, time_s: float, fs: float, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """All windows of all intervals: ``(interval_index (W,), start_frame (W,))`` int64, vectorised."""
    length = window_length(time_s, fs)
    hop = int(hop) if hop and hop > 0 else length
    if length <= 0:
        raise ValueError(f"window of {time_s} s at {fs} fps has no frames")
    n_frames = np.floor(np.asarray(durations_s, dtype=np.float64) * fs + 1e-6).astype(np.int64)
    counts = np.where(n_frames >= length, (n_frames - length) // hop + 1, 0)
    interval = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first, counts)
    return interval, within * hop


def gather_rows(
    offsets: np.ndarray, lengths: np.ndarray, rates: np.ndarray, starts: np.ndarray, length: int, fs: float
) -> np.ndarray:
    """Global row indices ``(B, length)`` of one modality for windows starting at ``starts`` (frames at fs).

    ``offsets``, ``lengths``, ``rates``: ``(B,)`` of each window's interval for that modality.
    """
    t = (starts[:, None] + np.arange(length)[None, :]) / fs
    local = np.floor(t * rates[:, None] + 1e-6).astype(np.int64)
    local = np.minimum(local, (lengths - 1)[:, None])
    return offsets[:, None] + np.maximum(local, 0)
