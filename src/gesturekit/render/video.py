"""Skeleton videos: generated motion next to ground truth, audio muxed in, words as subtitles.

``render_input(path, out_dir, ...)`` reads a samples file (one video per interval) or a
``poses.npz`` (``poses`` (T, J, D), ``fps``, ``joint_names``, ``parents``; from
``cospeech generate``), draws every frame with the vectorised rasteriser
(:mod:`gesturekit.render.raster`), and encodes MP4s with the PyPI ffmpeg
(:mod:`gesturekit.render.encode`). It also writes ``out_dir/videos.json`` listing the videos
with speaker, interval, transcript and duration (the HTML report reads it).

Coordinates: 2-D skeletons (PATS) are image coordinates (y down); 3-D skeletons (BEAT2's
generic one) are drawn in a front view (x right, y up). SMPL-X joint rotations (what a BEAT2
model generates) are turned into positions first (:func:`gesturekit.skeleton.to_positions`). One
scale fits both panels of a video. ``--text`` with ``--audio`` and no transcript uses the
audio's own ``.TextGrid`` when one lies beside it.
When audio is muxed in, the video lasts exactly as long as the audio span (the interval's span,
or the whole file for a ``poses.npz``): the last pose is held (or extra poses dropped) so that
the durations agree to within one frame.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gesturekit.errors import ConfigError, DataError, FormatError
from gesturekit.fsutil import atomic_write_json
from gesturekit.records import Segment
from gesturekit.render import raster, text
from gesturekit.render.encode import encode_mp4, probe
from gesturekit.skeleton import BEAT2, SKELETONS, Skeleton, is_smplx, needs_kinematics, to_positions

log = logging.getLogger("gesturekit")
CHUNK = 64  # frames drawn and streamed at once


@dataclass
class Clip:
    """One thing to render: generated and/or real poses ``(T, J, D)`` of one interval or file."""

    name: str
    speaker: str
    generated: np.ndarray | None
    ground_truth: np.ndarray | None = None
    audio_path: Path | None = None
    audio_start: float = 0.0
    words: list[Segment] | None = None

    @property
    def n_frames(self) -> int:
        return len(self.generated if self.generated is not None else self.ground_truth)


@dataclass
class Motion:
    skeleton: Skeleton
    fps: float
    clips: list[Clip] = field(default_factory=list)
    source: str = ""

    def real_sequences(self) -> list[np.ndarray]:
        """Ground truth where there is one; a poses file's poses otherwise (for training encoders)."""
        return [c.ground_truth if c.ground_truth is not None else c.generated for c in self.clips]


def _load_npz(path: Path) -> Motion:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile / pickle refusal / truncation
        raise FormatError(path, f"not a readable npz file ({exc})") from None
    with data:
        keys = set(data.files)
        if {"poses", "fps", "joint_names", "parents"} <= keys:
            poses = np.asarray(data["poses"], dtype=np.float64)
            names = [str(n) for n in np.atleast_1d(data["joint_names"])]
            parents = [int(p) for p in np.atleast_1d(data["parents"])]
            fps = float(data["fps"])
            units = str(data["units"]) if "units" in keys else ""
        elif {"poses", "trans", "betas"} <= keys:
            return _load_beat2(path)
        else:
            raise FormatError(path, f"npz lacks poses/fps/joint_names/parents (has {sorted(keys)})")
    if len(parents) != len(names):
        raise FormatError(path, f"{len(names)} joint_names but {len(parents)} parents")
    dims = (2, 3, 6) if is_smplx(names) else (2, 3)
    if poses.ndim != 3 or poses.shape[1] != len(names) or poses.shape[2] not in dims:
        want = " or ".join(str(d) for d in dims)
        raise FormatError(path, f"poses must be (frames, {len(names)}, {want}), got {poses.shape}")
    if len(poses) == 0:
        raise FormatError(path, "poses hold no frames")
    if not np.isfinite(poses).all():
        raise FormatError(path, "poses contain NaN or infinite values")
    if not np.isfinite(fps) or fps <= 0:
        raise FormatError(path, f"fps must be positive, got {fps}")
    known = next((s for s in SKELETONS.values() if s.joints == names), None)
    sk = known or Skeleton(path.stem, names, parents, dims=poses.shape[2])
    if needs_kinematics(sk, poses, units):
        poses, sk = to_positions(poses), BEAT2
    return Motion(sk, fps, [Clip(path.stem, "", poses)], str(path))


def _load_beat2(path: Path) -> Motion:
    """A BEAT2 SMPL-X take: joint positions on the generic skeleton (forward kinematics, root fixed).

    The take's own audio and words (same stem, beside it) come along when they exist.
    """
    from gesturekit.io.beat2 import beat2_positions, read_beat2_take

    clip = read_beat2_take(path, audio=False)
    rate = float(clip.rates["pose/axis_angle"])
    words = [w for w in clip.words.segments if w.label.strip()] if clip.words is not None else None
    wav = path.with_suffix(".wav")
    c = Clip(path.stem, clip.speaker, None, beat2_positions(clip), wav if wav.exists() else None, 0.0, words)
    return Motion(BEAT2, rate, [c], str(path))


def drawn_bones(skeleton: Skeleton) -> np.ndarray:
    """Bones to draw: every bone, or for BEAT2 the upper body (no legs, no eyes)."""
    bones = skeleton.bones()
    if is_smplx(skeleton):
        from gesturekit.skeleton import BEAT2_UPPER_BODY

        keep = np.isin(bones, BEAT2_UPPER_BODY).all(axis=1)
        bones = bones[keep]
    return bones


def load_motion(path: str | Path) -> Motion:
    """A samples file (``.h5``) or a poses/BEAT2 ``.npz`` as clips to render."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "file not found")
    if path.suffix == ".npz":
        return _load_npz(path)
    from gesturekit.io.samples import read_samples, samples_as_positions

    s = read_samples(path)
    s = samples_as_positions(s)
    clips = []
    for it in s.items:
        audio = None
        if it.audio_path:
            audio = Path(it.audio_path)
            if not audio.is_absolute():
                audio = path.parent / audio
        clips.append(
            Clip(it.interval_id, it.speaker, it.generated, it.ground_truth, audio, it.start_s, it.words)
        )
    return Motion(s.skeleton, s.fps, clips, str(path))


def to_image_plane(poses: np.ndarray) -> np.ndarray:
    """``(T, J, D)`` -> ``(T, J, 2)`` with y pointing down (3-D: front view, world y up)."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape[-1] == 2:
        return poses
    return np.stack([poses[..., 0], -poses[..., 1]], axis=-1)


@dataclass
class Fit:
    scale: float
    offset: np.ndarray  # (2,)

    @classmethod
    def of(cls, planes: list[np.ndarray], size: int, top: int, bottom: int) -> Fit:
        pts = np.concatenate([p.reshape(-1, 2) for p in planes])
        pts = pts[np.isfinite(pts).all(axis=1)]
        lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
        span = np.maximum(hi - lo, 1e-6)
        avail = np.array([size * 0.9, size - top - bottom - size * 0.05])
        scale = float(np.min(avail / span))
        centre = (lo + hi) / 2
        target = np.array([size / 2, top + (size - top - bottom) / 2])
        return cls(scale, target - centre * scale)

    def apply(self, plane: np.ndarray) -> np.ndarray:
        return plane * self.scale + self.offset


def _hold(poses: np.ndarray, n: int) -> np.ndarray:
    if len(poses) >= n:
        return poses[:n]
    return np.concatenate([poses, np.repeat(poses[-1:], n - len(poses), axis=0)], axis=0)


def frame_chunks(
    panels: list[tuple[str, np.ndarray]],
    skeleton: Skeleton,
    fps: float,
    size: int = 400,
    words: list[Segment] | None = None,
    chunk: int = CHUNK,
) -> Iterator[np.ndarray]:
    """RGB frames ``(n, size, size * len(panels), 3)`` of side-by-side panels, ``chunk`` at a time."""
    label_h, sub_h = 24, 30 if words else 0
    planes = [to_image_plane(p) for _, p in panels]
    bones = drawn_bones(skeleton)
    used = np.unique(bones)
    fit = Fit.of([pl[:, used] for pl in planes], size, label_h, sub_h)
    colors = raster.bone_colors(skeleton.joints, bones)
    n = len(planes[0])
    labels = [text.text_mask(((name, False),), size=16) for name, _ in panels]
    width = size * len(panels)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        parts = [raster.draw_skeletons(fit.apply(pl[a:b]), bones, colors, size, size) for pl in planes]
        frames = np.concatenate(parts, axis=2) if len(parts) > 1 else np.ascontiguousarray(parts[0])
        for k in range(len(planes)):
            alpha, _ = labels[k]
            text.paste_text(frames, alpha, None, k * size + (size - alpha.shape[1]) // 2, 4, (90, 90, 90))
            if k:
                frames[:, :, k * size] = 200  # panel separator
        if words:
            keys = text.subtitle_keys(words, np.arange(a, b) / fps)
            for key in dict.fromkeys(keys):  # distinct lines in this chunk
                if not key:
                    continue
                idx = np.array([i for i, kk in enumerate(keys) if kk == key])
                alpha, hi = text.fit_line(key, width - 8, size=16)
                text.paste_text(frames, alpha, hi, (width - alpha.shape[1]) // 2, size - sub_h + 4, index=idx)
        yield frames


def _audio_span(path: Path, start: float) -> float:
    info = probe(path)
    if info.duration is None or info.audio_streams == 0:
        raise FormatError(path, "no audio stream found")
    return max(0.0, info.duration - start)


def render_clip(
    clip: Clip,
    skeleton: Skeleton,
    fps: float,
    out_path: str | Path,
    *,
    size: int = 400,
    text_on: bool = False,
    audio: Path | None = None,
    audio_start: float = 0.0,
    whole_audio: bool = False,
) -> dict:
    """Render one clip to ``out_path``; returns its entry for ``videos.json``."""
    if size % 2:
        raise ConfigError(f"--size must be even (H.264 needs even dimensions), got {size}")
    panels = [
        (n, p) for n, p in (("generated", clip.generated), ("ground truth", clip.ground_truth)) if p is not None
    ]
    if not panels:
        raise DataError(f"{clip.name}: nothing to render")
    n = clip.n_frames
    duration = n / fps
    if audio is not None:
        avail = _audio_span(audio, audio_start)
        duration = avail if whole_audio else min(duration, avail)
        n = max(1, int(round(duration * fps)))
        if n != clip.n_frames:
            log.info("%s: %d pose frames, %d video frames to match the audio", clip.name, clip.n_frames, n)
    panels = [(name, _hold(np.asarray(p), n)) for name, p in panels]
    chunks = frame_chunks(panels, skeleton, fps, size, clip.words if text_on else None)
    encode_mp4(
        out_path, chunks, (size * len(panels), size), fps, audio, audio_start, duration if audio else None
    )
    transcript = " ".join(w.label for w in (clip.words or []) if w.label.strip())
    return {
        "video": Path(out_path).name,
        "interval": clip.name,
        "speaker": clip.speaker,
        "panels": [name for name, _ in panels],
        "frames": n,
        "fps": fps,
        "duration_s": round(n / fps, 4),
        "audio": str(audio) if audio else None,
        "transcript": transcript,
    }


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "clip"


def render_input(
    path: str | Path,
    out_dir: str | Path,
    *,
    audio: str | Path | None = None,
    text: bool = False,
    transcript: str | Path | None = None,
    intervals: int | None = None,
    size: int = 400,
    overwrite: bool = False,
) -> list[Path]:
    """Render a samples file or poses.npz into ``out_dir``; returns the MP4 paths."""
    motion = load_motion(path)
    out_dir = Path(out_dir)
    clips = motion.clips[: intervals if intervals is not None else None]
    if transcript is None and text and audio is not None and not any(c.words for c in clips):
        beside = Path(audio).with_suffix(".TextGrid")  # the audio's own transcript, when there is one
        transcript = beside if beside.exists() else None
    if transcript is not None:
        from gesturekit.features.text import read_transcript

        words = list(read_transcript(transcript))  # a TextGrid or a JSON word list, silences dropped
        for c in clips:
            c.words = words
    if audio is not None:
        audio = Path(audio)
        if not audio.exists():
            raise FormatError(audio, "audio file not found")
    targets = [out_dir / (_safe(f"{c.speaker}_{c.name}" if c.speaker else c.name) + ".mp4") for c in clips]
    clash = [t for t in targets if t.exists()]
    if clash and not overwrite:
        raise ConfigError(f"{clash[0]}: exists; pass --overwrite to replace the videos")
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for c, target in zip(clips, targets, strict=True):
        a = audio if audio is not None else c.audio_path
        if a is not None and not a.exists():
            log.warning("%s: audio %s not found; rendering without sound", c.name, a)
            a = None
        start = c.audio_start if (audio is None or motion.source.endswith(".h5")) else 0.0
        entries.append(
            render_clip(
                c,
                motion.skeleton,
                motion.fps,
                target,
                size=size,
                text_on=text,
                audio=a,
                audio_start=start,
                whole_audio=not motion.source.endswith(".h5"),
            )  # fmt: skip
        )
    index = out_dir / "videos.json"
    atomic_write_json(index, {"source": motion.source, "skeleton": motion.skeleton.name, "videos": entries})
    return targets
