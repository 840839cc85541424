"""The samples file: generated poses (with ground truth) for many intervals, in one HDF5 file.

Written by ``gesturekit cospeech sample`` / ``generate``, read by ``evaluate``, ``render`` and
``report``. Layout (version 1)::

    /                       attrs: format="gesturekit-samples", version=1, fps, skeleton,
                                   joint_names (JSON list), parents (JSON list), units, model
    /intervals/<id>/generated     (T, J, D) float32
    /intervals/<id>/ground_truth  (T, J, D) float32, optional
    /intervals/<id>/words         compound (label utf-8, start s, end s), optional
        attrs: speaker, split, start_s (interval start in its source), audio_path (optional)

Interval ids are written in the order given and read back in that order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from gesturekit.errors import FormatError
from gesturekit.fsutil import atomic_path
from gesturekit.records import Segment
from gesturekit.skeleton import BEAT2, SKELETONS, Skeleton, needs_kinematics, to_positions

FORMAT = "gesturekit-samples"
VERSION = 1


@dataclass
class SampleItem:
    interval_id: str
    speaker: str
    generated: np.ndarray  # (T, J, D)
    ground_truth: np.ndarray | None = None  # (T, J, D)
    split: str = "test"
    start_s: float = 0.0
    audio_path: str | None = None
    words: list[Segment] | None = None


@dataclass
class Samples:
    items: list[SampleItem]
    fps: float
    skeleton: Skeleton
    units: str = "px"
    model: str = ""

    def speakers(self) -> list[str]:
        return sorted({it.speaker for it in self.items})


_WORD_DTYPE = np.dtype([("label", h5py.string_dtype("utf-8")), ("start", "f8"), ("end", "f8")])


def write_samples(path: str | Path, samples: Samples) -> Path:
    """Write ``samples`` atomically to ``path``."""
    path = Path(path)
    sk = samples.skeleton
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(
            format=FORMAT, version=VERSION, fps=float(samples.fps), skeleton=sk.name,
            joint_names=json.dumps(sk.joints), parents=json.dumps(sk.parents),
            units=samples.units, model=samples.model,
        )  # fmt: skip
        root = f.create_group("intervals")
        order = []
        for it in samples.items:
            if it.generated.ndim != 3 or it.generated.shape[1] != sk.n_joints:
                raise ValueError(
                    f"interval {it.interval_id}: generated must be (T, {sk.n_joints}, D), "
                    f"got {it.generated.shape}"
                )
            g = root.create_group(it.interval_id)
            g.attrs.update(speaker=it.speaker, split=it.split, start_s=float(it.start_s))
            if it.audio_path:
                g.attrs["audio_path"] = str(it.audio_path)
            g.create_dataset("generated", data=np.asarray(it.generated, dtype=np.float32))
            if it.ground_truth is not None:
                g.create_dataset("ground_truth", data=np.asarray(it.ground_truth, dtype=np.float32))
            if it.words:
                arr = np.array([(w.label, w.start, w.end) for w in it.words], dtype=_WORD_DTYPE)
                g.create_dataset("words", data=arr)
            order.append(it.interval_id)
        f.attrs["order"] = json.dumps(order)
    return path


def read_samples(path: str | Path) -> Samples:
    """Read a samples file; a file of another kind or a damaged one is a FormatError."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "samples file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, f"not a readable HDF5 file ({exc})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise FormatError(
                path, f"not a gesturekit samples file (format attribute {f.attrs.get('format')!r})"
            )
        joints = json.loads(f.attrs["joint_names"])
        parents = json.loads(f.attrs["parents"])
        name = str(f.attrs.get("skeleton", "custom"))
        known = SKELETONS.get(name)
        sk = known if known is not None and known.joints == joints else Skeleton(name, joints, parents)
        items = []
        for iid in json.loads(f.attrs["order"]):
            g = f["intervals"][iid]
            words = None
            if "words" in g:
                words = [
                    Segment(w["label"].decode() if isinstance(w["label"], bytes) else str(w["label"]),
                            float(w["start"]), float(w["end"]))
                    for w in g["words"][()]
                ]  # fmt: skip
            items.append(
                SampleItem(
                    interval_id=iid,
                    speaker=str(g.attrs["speaker"]),
                    split=str(g.attrs.get("split", "test")),
                    start_s=float(g.attrs.get("start_s", 0.0)),
                    audio_path=str(g.attrs["audio_path"]) if "audio_path" in g.attrs else None,
                    generated=g["generated"][()],
                    ground_truth=g["ground_truth"][()] if "ground_truth" in g else None,
                    words=words,
                )
            )
        return Samples(
            items, float(f.attrs["fps"]), sk, str(f.attrs.get("units", "")), str(f.attrs.get("model", ""))
        )


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
