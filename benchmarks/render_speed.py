"""Rendering speed: skeleton frames rasterised per second at 400x400 on one CPU core (goal >= 300).

Figures:
- ``raster_fps_pats``: PATS skeleton (51 bones, 3 px strokes), frames drawn by the vectorised
  rasteriser, chunks of 64 frames, 400x400 (drawing only).
- ``raster_fps_beat2``: the same for BEAT2's generic upper-body skeleton (3-D, front view).
- ``frames_fps_pats_text``: complete video frames (one 400x400 panel, label, subtitles) as
  streamed to the encoder.
- ``video_fps_pats``: end to end, frames per second of a finished MP4 (two panels, subtitles,
  H.264 encoding by ffmpeg, which uses its own threads).
NumPy's element-wise work here runs on one thread; the process is pinned to one core when the
OS allows it (``os.sched_setaffinity``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from _common import main, median_time, parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def run(args) -> dict:
    import numpy as np

    from gesturekit.records import Segment
    from gesturekit.render import raster
    from gesturekit.render.video import Clip, Fit, drawn_bones, frame_chunks, render_clip, to_image_plane
    from gesturekit.skeleton import BEAT2, PATS

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from evalfixtures import moving_poses  # the test fixture's PATS motion

    n = 256
    pats = moving_poses(n, seed=0).astype(np.float64)
    fit = Fit.of([pats], 400, 24, 0)
    px = fit.apply(pats)
    bones = PATS.bones()
    cols = raster.bone_colors(PATS.joints, bones)

    def draw(points, bones, cols):
        for a in range(0, len(points), 64):
            raster.draw_skeletons(points[a : a + 64], bones, cols, 400, 400)

    t_pats = median_time(lambda: draw(px, bones, cols), repeats=5, warmup=1)

    rng = np.random.default_rng(0)
    from gesturekit.skeleton import forward_kinematics

    rot = 0.2 * rng.standard_normal((n, 55, 3)).cumsum(axis=0) / np.sqrt(np.arange(1, n + 1))[:, None, None]
    b2 = to_image_plane(forward_kinematics(rot))
    b2_bones = drawn_bones(BEAT2)
    b2_px = Fit.of([b2[:, np.unique(b2_bones)]], 400, 24, 0).apply(b2)
    t_beat2 = median_time(lambda: draw(b2_px, b2_bones, raster.bone_colors(BEAT2.joints, b2_bones)), 5, 1)

    words = [Segment(f"word{i}", i * 0.4, i * 0.4 + 0.35) for i in range(int(n / 15 / 0.4) + 1)]
    t_frames = median_time(lambda: list(frame_chunks([("generated", pats)], PATS, 15.0, 400, words)), 5, 1)

    with tempfile.TemporaryDirectory() as tmp:
        clip = Clip("bench", "fixture", pats.astype(np.float32), pats.astype(np.float32), words=words)
        t0 = time.perf_counter()
        render_clip(clip, PATS, 15.0, Path(tmp) / "bench.mp4", size=400, text_on=True)
        t_video = time.perf_counter() - t0
    return {
        "raster_fps_pats": round(n / t_pats, 1),
        "raster_fps_beat2": round(n / t_beat2, 1),
        "frames_fps_pats_text": round(n / t_frames, 1),
        "video_fps_pats": round(n / t_video, 1),
        "frames": n,
        "size": "400x400",
        "goal_fps": 300,
    }


if __name__ == "__main__":
    main("render_speed", run, parser(__doc__.splitlines()[0]))
