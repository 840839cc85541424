"""BEAT2 (BEATX) takes: SMPL-X ``npz`` + 16 kHz ``wav`` + Praat ``TextGrid`` -> :class:`CoSpeechClip`.

The one BEAT2 reader of gesturekit (``cospeech info``, ``pack``, ``fit``, ``sample`` and
``evaluate`` all come here). A take ``<id>_<speaker>_<...>`` is three files sharing a stem,
either side by side (a flat folder) or in BEAT2's own download layout::

    beat_english_v2.0.0/            the folder to pass
        smplxflame_30/<take>.npz    SMPL-X motion at 30 fps
        wave16k/<take>.wav          speech, 16 kHz
        textgrid/<take>.TextGrid    word and phone tiers
        train_test_split.csv        columns ``id`` (take name) and ``type`` (train/val/test/additional)

The npz holds ``poses (T, 165)`` axis-angle of the 55 SMPL-X joints, ``trans (T, 3)``,
``betas (300,)``, ``expressions (T, 100)`` at ``mocap_frame_rate`` (30) fps; it is read with
``allow_pickle=False``. Speakers are chosen by the take name (``scott`` or its id ``2``).

Splits (:func:`beat2_splits`) are whole takes from ``train_test_split.csv`` (found in the folder or
its parent; ``val`` is reported as ``dev``, ``additional`` stays ``additional``). A CSV row whose take
has no files, and a take without a CSV row, are listed so that callers can name them. Only a
folder without a CSV falls back to a split in time inside every take (:func:`time_split`).
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
SPLIT_CSV = "train_test_split.csv"
MOTION_DIR = "smplxflame_30"
_SPLIT_NAMES = {"train": "train", "val": "dev", "dev": "dev", "test": "test", "additional": "additional"}


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
    elif (root / MOTION_DIR).is_dir():  # the download layout: motion lives in smplxflame_30/ only
        npzs = sorted(p for p in (root / MOTION_DIR).glob("*.npz") if not p.name.startswith("."))
    else:
        npzs = sorted(p for p in root.rglob("*.npz") if not p.name.startswith("."))
    takes = []
    for npz in npzs:
        stem = npz.stem
        wav = _sibling(npz, stem, (".wav",), ("wave16k", "wav"))
        tg = _sibling(npz, stem, (".TextGrid", ".textgrid"), ("textgrid", "textgrids"))
        takes.append(Beat2Take(stem, speaker_of(stem), npz, wav, tg))
    return takes


def speaker_id_of(name: str) -> str:
    """``2_scott_0_1_1`` -> ``2`` (BEAT2's numeric speaker id, the first field), or "" if none."""
    first = name.split("_")[0]
    return first if first.isdigit() else ""


def select_takes(takes: list[Beat2Take], speakers: Sequence[str] | None, root: str | Path) -> list[Beat2Take]:
    """The ``takes`` (found under ``root``) of ``speakers`` (None or ``["all"]``: every speaker).

    A speaker is named as in the take names (``scott``) or by BEAT2's numeric id (``2``). An
    unknown speaker is an error that lists the speakers the folder has.
    """
    if not speakers or list(speakers) == ["all"]:
        return takes
    have = sorted({t.speaker for t in takes})
    ids = {speaker_id_of(t.name) for t in takes} - {""}
    unknown = [s for s in speakers if s not in have and s not in ids]
    if unknown:
        raise DataError(f"unknown speaker(s) {unknown}; these takes have {have}", root)
    return [t for t in takes if t.speaker in speakers or speaker_id_of(t.name) in speakers]


def _sibling(npz: Path, stem: str, suffixes: tuple[str, ...], folders: tuple[str, ...]) -> Path | None:
    bases = [npz.parent] + [npz.parent.parent / f for f in folders]
    for base in bases:
        for suf in suffixes:
            p = base / f"{stem}{suf}"
            if p.exists():
                return p
    return None


@dataclass(frozen=True)
class Beat2Splits:
    """How the takes of a BEAT2 folder split into train/dev/test.

    ``rule`` is ``"csv"`` (whole takes, from ``csv``) or ``"time"`` (no CSV: every take is cut in
    time, see :func:`time_split`). ``of_take`` maps each take that has a CSV row to its split;
    ``rows_without_files`` are CSV ids (of the chosen speakers) with no npz, ``files_without_rows``
    takes with no CSV row: both are left out of training and named by ``cospeech info``.
    """

    rule: str
    csv: Path | None
    of_take: dict[str, str]
    rows_without_files: list[str]
    files_without_rows: list[str]

    def split_of(self, take: str) -> str | None:
        """The take's split, or None when the CSV has no row for it (always None for ``time``)."""
        return self.of_take.get(take)


def find_split_csv(root: str | Path) -> Path | None:
    """BEAT2's ``train_test_split.csv`` in ``root`` (or the folder of a take file) or its parent."""
    root = Path(root)
    root = root.parent if root.is_file() else root
    for base in (root, root.parent):
        f = base / SPLIT_CSV
        if f.is_file():
            return f
    return None


def read_split_csv(path: str | Path) -> dict[str, str]:
    """Take name -> ``train``/``dev``/``test``/``additional`` from a ``train_test_split.csv``."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if "id" not in fields or "type" not in fields:
                raise FormatError(path, f"expected columns 'id' and 'type', found {fields}")
            reader.fieldnames = fields
            rows = [(n, r) for n, r in enumerate(reader, start=2)]
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not a text CSV ({exc.reason})") from None
    out: dict[str, str] = {}
    for line, r in rows:
        take, kind = (r.get("id") or "").strip(), (r.get("type") or "").strip().lower()
        if not take and not kind:
            continue  # blank line
        if not take:
            raise FormatError(path, f"line {line}: empty id")
        if kind not in _SPLIT_NAMES:
            raise FormatError(
                path, f"line {line}: unknown type {kind!r} for {take} (expected {sorted(_SPLIT_NAMES)})"
            )
        split = _SPLIT_NAMES[kind]
        if out.setdefault(take, split) != split:
            raise FormatError(path, f"line {line}: {take} is listed as both {out[take]} and {split}")
    return out


def beat2_splits(
    root: str | Path, takes: Sequence[Beat2Take], speakers: Sequence[str] | None = None
) -> Beat2Splits:
    """The splits of ``takes`` found under ``root`` (see :class:`Beat2Splits`)."""
    f = find_split_csv(root)
    if f is None:
        return Beat2Splits("time", None, {}, [], [])
    table = read_split_csv(f)
    names = {t.name for t in takes}
    chosen = None if not speakers or list(speakers) == ["all"] else set(speakers)

    def wanted(take: str) -> bool:
        return chosen is None or speaker_of(take) in chosen or speaker_id_of(take) in chosen

    rows_without = sorted(n for n in table if n not in names and wanted(n))
    files_without = sorted(n for n in names if n not in table)
    return Beat2Splits("csv", f, {n: s for n, s in table.items() if n in names}, rows_without, files_without)


def time_split(n_frames: int, holdout: float = 0.2, dev_fraction: float = 0.1) -> dict[str, tuple[int, int]]:
    """Frame ranges ``[a, b)`` of a take cut in time: the last ``holdout`` is ``test``, the
    ``dev_fraction`` before it ``dev``, the rest ``train`` (empty ranges left out)."""
    if not (0 <= holdout < 1 and 0 <= dev_fraction < 1 and holdout + dev_fraction < 1):
        raise ValueError(f"holdout {holdout} and dev_fraction {dev_fraction} must leave frames to train on")
    n_test = int(round(n_frames * holdout))
    n_dev = int(round(n_frames * dev_fraction))
    cuts = {
        "train": (0, n_frames - n_test - n_dev),
        "dev": (n_frames - n_test - n_dev, n_frames - n_test),
        "test": (n_frames - n_test, n_frames),
    }
    return {k: v for k, v in cuts.items() if v[1] > v[0]}


def read_beat2_npz(path: str | Path, *, keep_dtypes: bool = False) -> dict[str, np.ndarray | float]:
    """The arrays of a BEAT2 npz, checked: ``poses (T, 165)`` finite, ``trans (T, 3)``, rate.

    Arrays come as float32 unless ``keep_dtypes`` (export: the file's own dtypes, and its ``model``
    and ``gender`` strings where present)."""
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

    def cast(a: np.ndarray) -> np.ndarray:
        return a if keep_dtypes else a.astype(np.float32)

    out: dict[str, np.ndarray | float] = {"poses": cast(poses)}
    trans = np.asarray(data.get("trans", np.zeros((n, 3))))
    if trans.shape != (n, 3) or not np.all(np.isfinite(trans)):
        raise FormatError(path, f"'trans' must be finite ({n}, 3), got {trans.shape}")
    out["trans"] = cast(trans)
    if "expressions" in data:
        ex = np.asarray(data["expressions"])
        if ex.ndim != 2 or ex.shape[0] != n:
            raise FormatError(path, f"'expressions' must be ({n}, E), got {ex.shape}")
        out["expressions"] = cast(ex)
    if "betas" in data:
        out["betas"] = cast(np.asarray(data["betas"]).reshape(-1))
    if keep_dtypes:
        out.update({k: data[k] for k in ("model", "gender") if k in data and data[k].dtype.kind == "U"})
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
