"""Generated poses for every interval of a split (read from a packed store one interval at a time),
and for a new recording.

``sample_split`` writes the samples file (``gesturekit.io.samples``) or, with
``layout="reference"``, the reference's ``keypoints/<split>/<speaker>/<interval>.h5`` files
(key ``pose/normalize``, ``(frames, 2, 52)`` pixels, root at 0; PATS-format models only).
``generate_file`` writes ``poses.npz`` (``poses`` ``(frames, joints, dims)``, ``fps``,
``joint_names``, ``parents``) and ``poses.json``. Poses are joint positions: 2-D keypoints (pixels)
for PATS-format models; for BEAT2 (SMPL-X rotation) models the generic-skeleton forward
kinematics (metres), the axis-angle rotations also stored as ``rotations_axis_angle``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store, store_text_features
from gesturekit.cospeech.inference.pipeline import GesturePipeline
from gesturekit.errors import ConfigError, DataError
from gesturekit.features.text import SILENCE, read_transcript
from gesturekit.fsutil import atomic_path, atomic_write_json
from gesturekit.io.samples import SampleItem, Samples, write_samples
from gesturekit.records import Segment, SegmentTier
from gesturekit.skeleton import SKELETONS, Skeleton, to_positions


def _spoken(words: list | None) -> list[Segment] | None:
    """The interval's words (the store index's ``[label, start, end]``, times from its start) as
    segments, silences dropped as a transcript drops them; None without any."""
    tier = SegmentTier("words", [Segment(str(w), float(a), float(b)) for w, a, b in words or []])
    return tier.nonempty(SILENCE).segments or None


def sample_split(pipe: GesturePipeline, data: str | Path, split: str, out: Path, *, speaker: str | None = None,
                 layout: str = "samples", overwrite: bool = False,
                 cache: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Generate for every interval of ``split`` of ``data`` (a store, or a folder the store cache
    packs), one whole interval at a time from the store's memory maps; written as they are made."""
    if layout not in ("samples", "reference"):
        raise ConfigError(f"layout must be 'samples' or 'reference', got {layout!r}")
    if layout == "reference" and pipe.pose_format.kind != "pats":
        raise ConfigError("--layout reference needs a PATS-format model (52 2-D keypoints)")
    store = open_store(data, cache, speaker)
    text_mode = pipe.text_mode
    if text_mode != "tokens":  # the store's own text must be the model's (a tokens model reads text/tokens)
        pipe.check_corpus_text(store_text_features(store), data)
    inputs = StoreInputs.from_store(store, text_mode=text_mode, fps=pipe.fps, speaker=speaker)
    pipe.check_corpus_text(inputs.text_features, data)
    if split not in store.splits:
        raise DataError(f"no clips in split {split!r}", path=data)
    ds = inputs.dataset(split, 1, 1 << 30)  # one-frame "windows", one per interval: the split's intervals
    ix = store.index(split)
    chosen = np.unique(ds.window_interval).tolist()
    if not chosen:
        raise DataError(f"no clips in split {split!r}", path=data)
    if out.exists() and not overwrite and (layout == "samples" or any(out.iterdir())):
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    starts = ix.get("starts")
    audio_paths = ix.get("audio")
    words = ix.get("words")
    counts = {"intervals": 0, "frames": 0}

    def items():  # noqa: ANN202 - generated one interval at a time and written at once
        for i in chosen:
            audio, text, pose = inputs.interval(ds, i)
            gen = pipe.from_features(audio, text)
            gt = pipe.pose_format.to_joints(pose)
            if pipe.pose_format.kind == "smplx6d":  # rotations -> joint positions on the generic skeleton
                gen, gt = to_positions(gen).astype(np.float32), to_positions(gt).astype(np.float32)
            name = str(ix["names"][i]).replace("/", "_").replace(":", "_")
            counts["intervals"] += 1
            counts["frames"] += len(gen)
            yield SampleItem(
                name, store.speakers[int(ix["speakers"][i])], gen, gt, split=split,
                start_s=float(starts[i]) if starts is not None else 0.0,
                audio_path=(str(audio_paths[i]) or None) if audio_paths is not None else None,
                words=_spoken(words[i]) if words is not None else None,
            )  # fmt: skip

    fmt = pipe.pose_format
    if layout == "samples":
        if fmt.kind == "smplx6d":
            sk, units = SKELETONS["beat2"], "m"
        else:
            sk = Skeleton(fmt.kind, fmt.joint_names, fmt.parents, fmt.dims)
            units = "px" if fmt.kind == "pats" else "units"
        # write_samples iterates the items once: each interval is written as soon as it is generated
        write_samples(out, Samples(items(), pipe.fps, sk, units, str(pipe.meta.get("model", ""))))  # type: ignore[arg-type]
        return {"layout": layout, "out": str(out), **counts}
    for it in items():
        target = out / "keypoints" / split / it.speaker / f"{it.interval_id}.h5"
        target.parent.mkdir(parents=True, exist_ok=True)
        arr = it.generated.astype(np.float64).copy()
        arr -= arr[:, :1]  # root at 0
        with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("pose/normalize", data=arr.transpose(0, 2, 1))  # (frames, 2, 52)
    return {"layout": layout, "out": str(out), "intervals": counts["intervals"]}


def generate_file(
    pipe: GesturePipeline, audio: str | Path, transcript: str | Path | None, out: Path
) -> dict[str, Any]:
    words = read_transcript(transcript) if transcript else None
    return write_poses(pipe, pipe(audio, words), out)


def write_poses(pipe: GesturePipeline, poses: np.ndarray, out: Path) -> dict[str, Any]:
    """``out/poses.npz`` and ``out/poses.json`` from the pipeline's poses ``(frames, joints, dims)``
    (``generate``'s and ``stream``'s format); returns a summary."""
    extra = {}
    if pipe.pose_format.kind == "smplx6d":  # poses are joint positions; the rotations ride along
        extra["rotations_axis_angle"] = poses.astype(np.float32)
        poses = to_positions(poses).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "poses.npz") as tmp, open(tmp, "wb") as f:
        np.savez(
            f, poses=poses.astype(np.float32), fps=np.float32(pipe.fps),
            joint_names=np.array(pipe.joint_names), parents=np.array(pipe.parents, dtype=np.int64), **extra,
        )  # fmt: skip
    record = {"fps": pipe.fps, "joint_names": pipe.joint_names, "parents": pipe.parents}
    atomic_write_json(out / "poses.json", {**record, "poses": np.round(poses, 4).tolist()})
    return {"out": str(out / "poses.npz"), "frames": int(poses.shape[0]), "joints": int(poses.shape[1]),
            "dims": int(poses.shape[2]), "fps": pipe.fps, "seconds": poses.shape[0] / pipe.fps}  # fmt: skip


def render_generated(out: Path, audio: str | Path, transcript: str | Path | None = None) -> Path:
    """Draw ``out/poses.npz`` as an MP4 in ``out`` with the recording's sound (and words).

    Rendering reads the saved poses, never the model (see :mod:`gesturekit.render`).
    """
    from gesturekit.render.video import render_input

    videos = render_input(
        out / "poses.npz", out, audio=audio, text=transcript is not None, transcript=transcript, overwrite=True
    )
    return videos[0]
