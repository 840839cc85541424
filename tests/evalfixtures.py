"""Fixtures for the evaluation, rendering and report tests: PATS-format poses and synthetic audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.io.samples import SampleItem, Samples, write_samples
from gesturekit.records import Audio, Segment
from gesturekit.skeleton import PATS, PATS_PARENTS

FPS = 15.0
SR = 16000


def rest_pose() -> np.ndarray:
    """A plausible PATS rest pose ``(52, 2)`` in pixels, neck at the origin, y down."""
    p = np.zeros((52, 2))
    p[1], p[2], p[3] = (-60, 5), (-75, 80), (-55, 150)  # right arm
    p[4], p[5], p[6] = (60, 5), (75, 80), (55, 150)  # left arm
    p[7], p[8], p[9] = (0, -60), (-12, -70), (12, -70)  # nose, eyes
    for root, side in ((10, 1.0), (31, -1.0)):  # hand roots follow their wrists
        wrist = p[6] if root == 10 else p[3]
        p[root] = wrist + (0, 10)
        for f in range(5):
            for k in range(4):
                j = root + 1 + 4 * f + k
                p[j] = p[root] + (side * (f - 2) * 4, 6 * (k + 1))
    return p


def moving_poses(n_frames: int, seed: int = 0, amp: float = 30.0) -> np.ndarray:
    """``(T, 52, 2)`` PATS poses: the rest pose with arms waving (each joint moves with its parent)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FPS
    base = rest_pose()
    offs = np.zeros((n_frames, 52, 2))
    freq = rng.uniform(0.5, 2.0, size=(52, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(52, 2))
    local = amp * np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None]) * 0.3
    local[:, [0, 1, 4, 7, 8, 9]] = 0.0
    for j in range(52):  # accumulate along the chain (parents come first)
        p = PATS_PARENTS[j]
        offs[:, j] = local[:, j] + (offs[:, p] if p >= 0 else 0.0)
    return (base[None] + offs).astype(np.float32)


def click_audio(duration_s: float, clicks_s: list[float], seed: int = 0) -> Audio:
    """Quiet noise with short loud bursts at ``clicks_s``."""
    rng = np.random.default_rng(seed)
    y = 0.001 * rng.standard_normal(int(duration_s * SR))
    for c in clicks_s:
        a = int(c * SR)
        n = min(400, len(y) - a)
        if n > 0:
            y[a : a + n] += 0.8 * np.sin(2 * np.pi * 1000 * np.arange(n) / SR) * np.hanning(n)
    return Audio(samples=y.astype(np.float32), rate_hz=SR)


def make_samples_file(
    folder: Path, n_intervals: int = 4, frames: int = 120, with_audio: bool = True, model: str = "fixture"
) -> Path:
    """A samples file with two speakers; generated = ground truth plus a small error; audio beside it."""
    from gesturekit.io.audio import write_audio

    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n_intervals):
        gt = moving_poses(frames, seed=i)
        gen = moving_poses(frames, seed=100 + i, amp=20.0)
        audio_path = None
        if with_audio:
            dur = frames / FPS
            write_audio(folder / f"int{i}.wav", click_audio(dur, list(np.arange(0.5, dur, 0.7)), seed=i))
            audio_path = f"int{i}.wav"
        words = [Segment("hello", 0.2, 0.8), Segment("world", 0.9, 1.6), Segment("again", 2.0, 2.9)]
        items.append(
            SampleItem(
                interval_id=f"int{i:03d}",
                speaker="oliver" if i % 2 == 0 else "seth",
                generated=gen,
                ground_truth=gt,
                audio_path=audio_path,
                words=words,
            )  # fmt: skip
        )
    return write_samples(folder / "samples.h5", Samples(items, FPS, PATS, units="px", model=model))
