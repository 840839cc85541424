"""BEAT2 (BEATX) takes: SMPL-X ``npz`` + 16 kHz ``wav`` + Praat ``TextGrid`` -> :class:`CoSpeechClip`.

A take ``<id>_<speaker>_<...>`` is three files sharing a stem, either side by side or in
BEAT2's own folders (``smplxflame_30/``, ``wave16k/``, ``textgrid/`` under a speaker folder).
The npz holds ``poses (T, 165)`` axis-angle of the 55 SMPL-X joints, ``trans (T, 3)``,
``betas (300,)``, ``expressions (T, 100)`` at ``mocap_frame_rate`` (30) fps; it is read with
``allow_pickle=False``. Splits come from BEAT2's ``train_test_split.csv`` (columns ``id``,
``type``; ``val`` is reported as ``dev``) when one is found in the root or its parent, else every
take is ``train``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gesturekit.errors import DataError, FormatError
from gesturekit.features.rotations import axis_angle_to_rot6d
from gesturekit.records import CoSpeechClip

BEAT2_FPS = 30.0
N_JOINTS = 55
_SPLIT_NAMES = {"train": "train", "val": "dev", "dev": "dev", "test": "test"}


@dataclass(frozen=True)
class Beat2Take:
    """The files of one take: ``npz`` (required), ``wav`` and ``textgrid`` (optional)."""

    name: str
    speaker: str
    npz: Path
    wav: Path | None
    textgrid: Path | None


def speaker_of(name: str) -> str:
    """``2_scott_0_1_1`` -> ``scott`` (the second field of a BEAT2 take name)."""
    parts = name.split("_")
    return parts[1] if len(parts) > 1 and parts[0].isdigit() else parts[0]


def find_takes(root: str | Path) -> list[Beat2Take]:
    """Every take (an npz with ``poses``) under ``root``, sorted by name."""
    root = Path(root)
    if root.is_file() and root.suffix == ".npz":
        npzs = [root]
    else:
        npzs = sorted(p for p in root.rglob("*.npz") if not p.name.startswith("."))
    takes = []
    for npz in npzs:
        stem = npz.stem
        wav = _sibling(npz, stem, (".wav",), ("wave16k", "wav"))
        tg = _sibling(npz, stem, (".TextGrid", ".textgrid"), ("textgrid", "textgrids"))
        takes.append(Beat2Take(stem, speaker_of(stem), npz, wav, tg))
    return takes


def select_takes(takes: list[Beat2Take], speakers: Sequence[str] | None, root: str | Path) -> list[Beat2Take]:
    """The ``takes`` (found under ``root``) of ``speakers`` (None or ``["all"]``: every speaker).

    An unknown speaker is an error that lists the speakers the folder has.
    """
    if not speakers or list(speakers) == ["all"]:
        return takes
    have = sorted({t.speaker for t in takes})
    unknown = [s for s in speakers if s not in have]
    if unknown:
        raise DataError(f"unknown speaker(s) {unknown}; these takes have {have}", root)
    return [t for t in takes if t.speaker in speakers]


def _sibling(npz: Path, stem: str, suffixes: tuple[str, ...], folders: tuple[str, ...]) -> Path | None:
    bases = [npz.parent] + [npz.parent.parent / f for f in folders]
    for base in bases:
        for suf in suffixes:
            p = base / f"{stem}{suf}"
            if p.exists():
                return p
    return None


def read_splits(root: str | Path) -> dict[str, str]:
    """Take name -> ``train``/``dev``/``test`` from ``train_test_split.csv`` if there is one."""
    root = Path(root)
    root = root.parent if root.is_file() else root
    for base in (root, root.parent):
        f = base / "train_test_split.csv"
        if f.exists():
            with f.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            if not rows or "id" not in rows[0] or "type" not in rows[0]:
                raise FormatError(f, "expected columns 'id' and 'type'")
            return {r["id"]: _SPLIT_NAMES.get(r["type"].strip(), r["type"].strip()) for r in rows}
    return {}


def read_beat2_npz(path: str | Path) -> dict[str, np.ndarray | float]:
    """The arrays of a BEAT2 npz, checked: ``poses (T, 165)`` finite, ``trans (T, 3)``, rate."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "BEAT2 npz not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:
        raise FormatError(path, f"unreadable npz ({type(exc).__name__}: {exc})") from None
    if "poses" not in data:
        raise FormatError(path, f"no 'poses' array (keys: {sorted(data)})")
    poses = np.asarray(data["poses"])
    if poses.ndim != 2 or poses.shape[1] != 3 * N_JOINTS:
        raise FormatError(
            path, f"'poses' must be (T, {3 * N_JOINTS}) axis-angle of 55 joints, got {poses.shape}"
        )
    if poses.shape[0] == 0:
        raise FormatError(path, "'poses' has no frames")
    if not np.all(np.isfinite(poses)):
        raise FormatError(path, f"'poses' has {int((~np.isfinite(poses)).sum())} non-finite values")
    n = poses.shape[0]
    out: dict[str, np.ndarray | float] = {"poses": poses.astype(np.float32)}
    trans = np.asarray(data.get("trans", np.zeros((n, 3))))
    if trans.shape != (n, 3) or not np.all(np.isfinite(trans)):
        raise FormatError(path, f"'trans' must be finite ({n}, 3), got {trans.shape}")
    out["trans"] = trans.astype(np.float32)
    if "expressions" in data:
        ex = np.asarray(data["expressions"])
        if ex.ndim != 2 or ex.shape[0] != n:
            raise FormatError(path, f"'expressions' must be ({n}, E), got {ex.shape}")
        out["expressions"] = ex.astype(np.float32)
    if "betas" in data:
        out["betas"] = np.asarray(data["betas"], dtype=np.float32).reshape(-1)
    rate = float(np.asarray(data.get("mocap_frame_rate", BEAT2_FPS)))
    if not rate > 0:
        raise FormatError(path, f"bad mocap_frame_rate {rate}")
    out["rate"] = rate
    return out


def read_beat2_take(
    take: Beat2Take | str | Path,
    *,
    audio: bool = True,
    split: str | None = None,
) -> CoSpeechClip:
    """One take as a :class:`CoSpeechClip` with streams ``pose/axis_angle (T, 165)``,
    ``pose/rot6d (T, 330)``, ``pose/trans (T, 3)`` and ``face/expressions (T, 100)`` at 30 fps; the
    16 kHz waveform as ``clip.audio`` (when ``audio`` and a wav exists) and the ``words``/``phones``
    tiers from the TextGrid. Audio shorter than the motion by more than one second is an error.
    """
    from gesturekit.io.audio import read_audio
    from gesturekit.io.textgrid import read_words_phones

    if not isinstance(take, Beat2Take):
        found = find_takes(take)
        if len(found) != 1:
            raise FormatError(take, f"expected one BEAT2 take, found {len(found)}")
        take = found[0]
    arr = read_beat2_npz(take.npz)
    poses = arr["poses"]
    assert isinstance(poses, np.ndarray)
    rate = float(arr["rate"])  # type: ignore[arg-type]
    streams = {
        "pose/axis_angle": poses,
        "pose/rot6d": axis_angle_to_rot6d(poses.reshape(len(poses), N_JOINTS, 3))
        .reshape(len(poses), N_JOINTS * 6)
        .astype(np.float32),
        "pose/trans": arr["trans"],
    }
    if "expressions" in arr:
        streams["face/expressions"] = arr["expressions"]
    rates = {k: rate for k in streams}
    wav = None
    if audio and take.wav is not None:
        wav = read_audio(take.wav)
        motion_s = len(poses) / rate
        if wav.duration < motion_s - 1.0:
            raise FormatError(
                take.wav, f"audio ({wav.duration:.2f} s) is shorter than the motion ({motion_s:.2f} s)"
            )
    words = phones = None
    if take.textgrid is not None:
        words, phones = read_words_phones(take.textgrid)
    extra = {"betas": arr["betas"]} if "betas" in arr else {}
    return CoSpeechClip(
        name=take.name,
        speaker=take.speaker,
        dataset="beat2",
        streams=streams,  # type: ignore[arg-type]
        rates=rates,
        pose_key="pose/rot6d",
        skeleton="beat2",
        split=split,
        audio=wav,
        words=words,
        phones=phones,
        path=take.npz,
        extra=extra,  # type: ignore[arg-type]
    )


def beat2_positions(clip: CoSpeechClip, *, with_trans: bool = False) -> np.ndarray:
    """``(T, 55, 3)`` joint positions (metres) of a BEAT2 clip on the generic skeleton."""
    from gesturekit.skeleton import forward_kinematics

    trans = clip.streams.get("pose/trans") if with_trans else None
    return forward_kinematics(clip.streams["pose/axis_angle"], trans=trans)
