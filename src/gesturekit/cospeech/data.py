"""Model-side data: feature clips, pose formats, windows for training, and loading by path.

A :class:`FeatureClip` holds one recording's features at pose rate: ``audio`` ``(N, F)``
log-mel frames, ``text`` ``(N, D)`` frame-aligned word features, ``pose`` ``(N, P)`` (the
model's pose vector). :class:`PoseFormat` maps pose vectors to ``(frames, joints, dims)``.
``load_clips(path, speaker)`` reads a feature-clip folder (``clips/*.npz`` + ``corpus.json``,
written by :func:`write_clip_folder`, e.g. the synthetic corpus) or a BEAT2 folder of takes.

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

from gesturekit.errors import ConfigError, DataError, FormatError
from gesturekit.fsutil import atomic_path, atomic_write_json
from gesturekit.skeleton import PATS_JOINTS, PATS_MODEL_JOINTS, PATS_PARENTS

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
            from gesturekit.cospeech.beat2_clips import rot6d_to_axis_angle

            return rot6d_to_axis_angle(out)
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


TEXT_INPUTS = ("features", "token-ids")


def text_input_for(text_mode: str) -> str:
    """The ``text`` of :func:`load_corpus` a generator with ``text_mode`` reads: "token-ids" for a
    trainable token embedding (``"tokens"``), else "features"."""
    return "token-ids" if text_mode == "tokens" else "features"


def load_corpus(
    path: str | Path,
    speaker: str | None = None,
    *,
    holdout: float = 0.2,
    fps: float = 15.0,
    text: str = "features",
) -> Corpus:
    """Read the clips under ``path``: a feature-clip folder, a packed store, a PATS data folder, or
    a BEAT2 folder (``*.npz`` + ``*.wav``; split in time by ``holdout``).

    ``text="token-ids"``: the clips' text is PATS's ``text/tokens`` ids ``(frames, 1)`` (for a
    trainable token embedding) rather than feature vectors; only PATS folders, packed stores and
    clip folders written from them have those.
    """
    if text not in TEXT_INPUTS:
        raise ConfigError(f"text must be one of {list(TEXT_INPUTS)}, got {text!r}")
    ids = text == "token-ids"
    root = Path(path)
    if not root.exists():
        raise DataError("data path not found", path=root)
    if (root / "corpus.json").exists():
        corpus = read_clip_folder(root, speaker)
        if ids and corpus.text_features != "token-ids":
            raise DataError(
                f"text_mode 'tokens' needs WordPiece token ids; these clips hold "
                f"{TEXT_FEATURES[corpus.text_features]}", path=root,
            )  # fmt: skip
        return corpus
    if (root / "store.json").exists():
        from gesturekit.cospeech.store_clips import load_store_corpus

        return load_store_corpus(root, speaker, fps, token_ids=ids)
    from gesturekit.io.pats import is_pats_root

    if is_pats_root(root):
        from gesturekit.cospeech.store_clips import load_pats_corpus

        return load_pats_corpus(root, speaker, fps, token_ids=ids)
    if root.is_dir() and any(root.glob("*.npz")) and any(root.glob("*.wav")):
        if ids:
            raise DataError(
                "text_mode 'tokens' needs WordPiece token ids (PATS `text/tokens`); a BEAT2 folder has "
                "words only: use text_mode 'features' (hashed word vectors)", path=root,
            )  # fmt: skip
        from gesturekit.cospeech.beat2_clips import load_beat2_corpus

        return load_beat2_corpus(root, speaker, holdout=holdout, fps=fps)
    raise DataError(
        "not a feature-clip folder (corpus.json), a packed store (store.json), a PATS data folder "
        "or a BEAT2 folder (npz + wav takes)", path=root,
    )  # fmt: skip


# ----------------------------------------------------------------------------- windows


def window_starts(n: int, length: int, hop: int) -> np.ndarray:
    """Start frames of the windows of ``length`` with ``hop`` (0 = non-overlapping) in ``n`` frames."""
    step = hop if hop > 0 else length
    return np.arange(0, n - length + 1, step) if n >= length else np.zeros(0, dtype=np.int64)


@dataclass
class Windows:
    """Stacked windows: ``audio`` ``(N, T, F)``, ``text`` ``(N, T, D)``, ``pose`` ``(N, T, P)``,
    ``labels`` ``(N, T)`` (k-means clusters, filled later), and the clip id and start of each."""

    audio: np.ndarray
    text: np.ndarray
    pose: np.ndarray
    clip: list[str]
    start: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pose)


def check_text_widths(clips: list[FeatureClip], source: str | Path | None = None) -> None:
    """Raise :class:`DataError` when the clips' text features differ in width (a model takes one)."""
    widths: dict[int, str] = {}
    for c in clips:
        widths.setdefault(c.text.shape[1], c.clip_id)
    if len(widths) > 1:
        seen = ", ".join(f"{w}-d in {cid}" for w, cid in sorted(widths.items()))
        raise DataError(
            f"clips have text features of different widths ({seen}; e.g. text/bert in some intervals, "
            "text/tokens in others); a model takes one kind: use intervals that share one",
            path=source or None,
        )


def make_windows(clips: list[FeatureClip], length: int, hop: int) -> Windows:
    """Windows of ``length`` frames every ``hop`` (0: non-overlapping); the clips' text features
    must share one width (see :func:`check_text_widths`)."""
    a, t, p, cid, st = [], [], [], [], []
    for c in clips:
        s = window_starts(len(c.pose), length, hop)
        if not len(s):
            continue
        idx = s[:, None] + np.arange(length)
        a.append(c.audio[idx])
        t.append(c.text[idx])
        p.append(c.pose[idx])
        cid += [c.clip_id] * len(s)
        st.append(s)
    if not p:
        raise DataError(f"no clip is long enough for one window of {length} frames")
    return Windows(np.concatenate(a).astype(np.float32), np.concatenate(t).astype(np.float32),
                   np.concatenate(p).astype(np.float32), cid, np.concatenate(st))  # fmt: skip
