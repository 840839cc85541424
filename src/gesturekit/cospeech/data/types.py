"""Model-side data types: feature clips, pose formats, the kinds of text features, clip folders.

A :class:`FeatureClip` holds one interval's features at pose rate: ``audio`` ``(N, F)``
log-mel frames, ``text`` ``(N, D)`` frame-aligned word features, ``pose`` ``(N, P)`` (the
model's pose vector). :class:`PoseFormat` maps pose vectors to ``(frames, joints, dims)``
(:data:`PATS_FORMAT`, :data:`SMPLX_6D` for BEAT2's rotations). A feature-clip folder
(``clips/*.npz`` + ``corpus.json``, :func:`write_clip_folder`, e.g. the synthetic corpus) is one
of the inputs the store cache packs; training and sampling read every corpus from a packed store
(:mod:`gesturekit.cospeech.data.store_inputs`), never as a list of clips in memory.

:attr:`Corpus.text_features` names what the clips' text features are (one of
:data:`TEXT_FEATURES`): a model can only be given, at generation time, text features of the kind
it was trained on, and only ``"words"`` can be computed for a new transcript.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gesturekit.errors import DataError, FormatError
from gesturekit.fsutil import atomic_path, atomic_write_json
from gesturekit.skeleton import BEAT2_JOINTS, BEAT2_PARENTS, PATS_JOINTS, PATS_MODEL_JOINTS, PATS_PARENTS

CLIP_FORMAT = "gesturekit-feature-clips"

#: What a corpus's text features are, and a description for messages.
TEXT_FEATURES = {
    "words": "hashed word vectors (a fixed vector per word of the transcript, as `cospeech generate` computes)",
    "bert": "stored contextual vectors (`text/bert`: PATS's BERT vectors)",
    "tokens": "hashed WordPiece token ids (`text/tokens`)",
    "token-ids": "WordPiece token ids (`text/tokens`) for a trainable embedding (`text_mode: tokens`)",
    "synthetic": "the synthetic corpus's own word embeddings",
    "none": "no text (zeros)",
    "mixed": "different kinds of text features in different clips",
    "unknown": "text features of an unrecorded kind (written before gesturekit recorded them)",
}

#: Text inputs a generator takes: feature vectors, or token ids for a trainable embedding.
TEXT_MODES = ("features", "tokens")
#: Size of BERT's uncased WordPiece vocabulary (PATS ``text/tokens`` ids lie below it).
WORDPIECE_VOCAB = 30522


def combine_text_features(kinds: Iterable[str]) -> str:
    """The kind of a corpus whose clips have text features of ``kinds``.

    One kind: that kind. ``"none"`` (zeros) beside ``"words"`` or ``"tokens"`` adds nothing new
    (both give zeros where nothing is said, e.g. a BEAT2 take without a TextGrid), so the other
    kind stands; any other combination is ``"mixed"``; no clips: ``"unknown"``.
    """
    found = set(kinds)
    if len(found) > 1 and found - {"none"} in ({"words"}, {"tokens"}):
        found.discard("none")
    if not found:
        return "unknown"
    return found.pop() if len(found) == 1 else "mixed"


@dataclass
class PoseFormat:
    """How a pose vector ``(P,)`` maps to joints.

    ``kind="pats"``: ``P = 2 * len(model_joints)``: x of the model joints then y (the reference's
    layout, joints 7, 8, 9 dropped); :meth:`to_joints` re-inserts the dropped joints at their
    parent (nose/eyes at the neck) and gives ``(T, 52, 2)``. ``kind="vector"``: ``P = J * dims``
    joint-major. ``kind="smplx6d"``: ``P = J * 6`` rotations (6-D), :meth:`to_joints` gives
    axis-angle ``(T, J, 3)``.
    """

    kind: str
    joint_names: list[str]
    parents: list[int]
    dims: int
    model_joints: list[int] = field(default_factory=list)

    @property
    def pose_dim(self) -> int:
        if self.kind == "pats":
            return 2 * len(self.model_joints)
        return len(self.joint_names) * self.dims

    def joint_of(self) -> np.ndarray:
        """``(P,)`` the joint index (0..) of each pose value, for per-joint speeds."""
        if self.kind == "pats":
            n = len(self.model_joints)
            return np.concatenate([np.arange(n), np.arange(n)])
        return np.repeat(np.arange(len(self.joint_names)), self.dims)

    def to_joints(self, pose: np.ndarray) -> np.ndarray:
        """``(T, P)`` -> ``(T, J, dims)``."""
        pose = np.asarray(pose, dtype=np.float32)
        if self.kind == "pats":
            n = len(self.model_joints)
            out = np.zeros((pose.shape[0], len(self.joint_names), 2), dtype=np.float32)
            out[:, self.model_joints, 0] = pose[:, :n]
            out[:, self.model_joints, 1] = pose[:, n:]
            for j in range(len(self.joint_names)):
                if j not in self.model_joints and self.parents[j] >= 0:
                    out[:, j] = out[:, self.parents[j]]
            return out
        out = pose.reshape(pose.shape[0], len(self.joint_names), self.dims)
        if self.kind == "smplx6d":
            from gesturekit.features.rotations import rot6d_to_axis_angle

            return rot6d_to_axis_angle(out).astype(np.float32)
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "joint_names": self.joint_names, "parents": self.parents,
                "dims": self.dims, "model_joints": self.model_joints}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> PoseFormat:
        return cls(
            d["kind"],
            list(d["joint_names"]),
            list(d["parents"]),
            int(d["dims"]),
            list(d.get("model_joints", [])),
        )


PATS_FORMAT = PoseFormat("pats", PATS_JOINTS, PATS_PARENTS, 2, PATS_MODEL_JOINTS)
#: BEAT2's SMPL-X pose as the 55 joints' rotations in the 6-D representation (``pose/rot6d``, 330-d)
SMPLX_6D = PoseFormat("smplx6d", BEAT2_JOINTS, BEAT2_PARENTS, 6)


@dataclass
class FeatureClip:
    clip_id: str
    speaker: str
    split: str
    audio: np.ndarray  # (N, F)
    text: np.ndarray  # (N, D)
    pose: np.ndarray  # (N, P)
    fps: float
    start_s: float = 0.0  # where the clip starts in its recording
    audio_path: str | None = None  # the recording, when known (for rendering with sound)

    def __post_init__(self) -> None:
        n = {len(self.audio), len(self.text), len(self.pose)}
        if len(n) != 1:
            raise DataError(
                f"clip {self.clip_id}: audio, text and pose have different frame counts "
                f"({len(self.audio)}, {len(self.text)}, {len(self.pose)})"
            )
        for name in ("audio", "text", "pose"):
            arr = getattr(self, name)
            if arr.ndim != 2:
                raise DataError(f"clip {self.clip_id}: {name} must be (frames, features), got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise DataError(f"clip {self.clip_id}: {name} holds NaN or infinite values")


@dataclass
class Corpus:
    clips: list[FeatureClip]
    pose_format: PoseFormat
    fps: float
    source: str = ""
    text_features: str = "unknown"  # a key of TEXT_FEATURES

    def __post_init__(self) -> None:
        if self.text_features not in TEXT_FEATURES:
            raise DataError(f"text_features must be one of {sorted(TEXT_FEATURES)}, got {self.text_features!r}")

    def split(self, name: str) -> list[FeatureClip]:
        return [c for c in self.clips if c.split == name]


def write_clip_folder(out: str | Path, corpus: Corpus) -> Path:
    """Write ``corpus`` as ``out/corpus.json`` + ``out/clips/<id>.npz`` (atomically per file)."""
    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    for c in corpus.clips:
        with atomic_path(out / "clips" / f"{c.clip_id}.npz") as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                audio=c.audio.astype(np.float32),
                text=c.text.astype(np.float32),
                pose=c.pose.astype(np.float32),
            )
    atomic_write_json(
        out / "corpus.json",
        {"format": CLIP_FORMAT, "fps": corpus.fps, "pose_format": corpus.pose_format.to_dict(),
         "text_features": corpus.text_features,
         "clips": [{"id": c.clip_id, "speaker": c.speaker, "split": c.split} for c in corpus.clips]},
    )  # fmt: skip
    return out


def read_clip_folder(root: Path, speaker: str | None = None) -> Corpus:
    meta_path = root / "corpus.json"
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise FormatError(meta_path, f"not valid JSON ({exc.msg})") from None
    if meta.get("format") != CLIP_FORMAT:
        raise FormatError(meta_path, f"not a {CLIP_FORMAT} file")
    text_features = meta.get("text_features", "unknown")  # folders written before it was recorded
    if text_features not in TEXT_FEATURES:
        known = sorted(TEXT_FEATURES)
        raise FormatError(meta_path, f"text_features must be one of {known}, got {text_features!r}")
    clips = []
    for rec in meta["clips"]:
        if speaker and rec["speaker"] != speaker:
            continue
        p = root / "clips" / f"{rec['id']}.npz"
        try:
            with np.load(p, allow_pickle=False) as z:
                clips.append(
                    FeatureClip(
                        rec["id"], rec["speaker"], rec["split"], z["audio"], z["text"], z["pose"], meta["fps"]
                    )
                )
        except (OSError, KeyError, ValueError) as exc:
            raise FormatError(p, f"unreadable feature clip ({exc})") from None
    if not clips:
        known = sorted({r["speaker"] for r in meta["clips"]})
        raise DataError(f"no clips for speaker {speaker!r}; speakers here: {known}", path=root)
    fmt = PoseFormat.from_dict(meta["pose_format"])
    return Corpus(clips, fmt, float(meta["fps"]), str(root), text_features)
