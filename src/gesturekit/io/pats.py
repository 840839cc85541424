"""PATS (Pose-Audio-Transcript-Style, Ahuja et al. 2020) read exactly as distributed.

Layout (``ROOT`` is ``pats/data``; its parent ``pats`` is accepted too)::

    ROOT/cmu_intervals_df.csv            interval_id, speaker, dataset (train|dev|test), start_time,
                                         end_time, delta_time, video_link, ...
    ROOT/missing_intervals.h5            dataset ``intervals``: ids excluded from every split
    ROOT/processed/<speaker>/<interval_id>.h5
    ROOT/raw/<speaker>_cropped/<interval_id>.mp3   (optional)

Per-interval keys, shapes and rates (:data:`PATS_KEYS`): ``pose/data``, ``pose/normalize``,
``pose/confidence`` ``(T, 104)`` at 15 fps; ``audio/log_mel_400`` ``(Ta, 64)`` at 100 fps;
``audio/log_mel_512`` ``(Tb, 128)`` (rate taken proportionally from the pose duration);
``audio/silence`` ``(T,)``; ``text/bert`` ``(T, 768)``, ``text/w2v`` ``(T, 300)``, ``text/tokens``
``(T,)`` repeated per pose frame; ``text/meta`` a pandas DataFrame (``Word``, ``start_frame``,
``end_frame``) read without pickle by :mod:`gesturekit.io.pandas_hdf`.

Everything the user can get wrong (unknown speaker, truncated file, missing key, wrong shape,
NaN poses, empty transcript, audio shorter than pose) raises a :class:`FormatError` /
:class:`DataError` naming the file; :meth:`PatsCorpus.check` lists the problems instead of raising.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gesturekit.errors import DataError, FormatError
from gesturekit.records import CoSpeechClip, Segment, SegmentTier

POSE_FPS = 15.0
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class KeySpec:
    """A PATS key: feature width (None for 1-D per-frame keys), nominal rate (None: proportional)."""

    dim: int | None
    rate: float | None
    per_pose_frame: bool


PATS_KEYS: dict[str, KeySpec] = {
    "pose/data": KeySpec(104, POSE_FPS, True),
    "pose/normalize": KeySpec(104, POSE_FPS, True),
    "pose/confidence": KeySpec(104, POSE_FPS, True),
    "audio/log_mel_400": KeySpec(64, 100.0, False),
    "audio/log_mel_512": KeySpec(128, None, False),
    "audio/silence": KeySpec(None, POSE_FPS, True),
    "text/bert": KeySpec(768, POSE_FPS, True),
    "text/w2v": KeySpec(300, POSE_FPS, True),
    "text/tokens": KeySpec(None, POSE_FPS, True),
}
TEXT_META = "text/meta"
ALL_KEYS = [*PATS_KEYS, TEXT_META]
#: Tolerance (pose frames) between the lengths of per-pose-frame keys of one interval.
FRAME_SLACK = 2
#: Audio may end this many seconds before the pose without being "shorter than the pose".
AUDIO_SLACK_S = 0.5


@dataclass(frozen=True)
class PatsInterval:
    """One row of ``cmu_intervals_df.csv`` and where its feature file is."""

    interval_id: str
    speaker: str
    split: str
    start_time: float
    end_time: float
    path: Path
    audio_path: Path | None = None

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


def pats_data_root(root: str | Path) -> Path:
    """``pats/data`` from either ``pats/data`` or ``pats``; an error if neither has the table."""
    root = Path(root)
    for cand in (root, root / "data"):
        if (cand / "cmu_intervals_df.csv").exists():
            return cand
    raise FormatError(root, "not a PATS data folder (no cmu_intervals_df.csv here or in data/)")


def is_pats_root(root: str | Path) -> bool:
    try:
        pats_data_root(root)
    except FormatError:
        return False
    return True


def read_missing(path: str | Path) -> set[str]:
    """Ids in ``missing_intervals.h5`` (dataset ``intervals`` of variable-length strings)."""
    import h5py

    path = Path(path)
    if not path.exists():
        return set()
    try:
        with h5py.File(path, "r") as f:
            if "intervals" not in f:
                raise FormatError(path, "no dataset 'intervals'")
            raw = f["intervals"][()]
    except OSError as exc:
        raise FormatError(path, f"unreadable HDF5 ({exc})") from None
    return {v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(raw).ravel()}


def read_interval_table(path: str | Path) -> list[dict[str, str]]:
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows:
        need = {"interval_id", "speaker", "dataset"}
        have = set(rows[0])
        if not need <= have:
            raise FormatError(path, f"missing columns {sorted(need - have)} (has {sorted(have)})")
    return rows


class PatsCorpus:
    """The interval table, the missing list and the processed files of a PATS ``data`` folder."""

    def __init__(self, root: str | Path, *, include_transforms: bool = False) -> None:
        self.root = pats_data_root(root)
        rows = read_interval_table(self.root / "cmu_intervals_df.csv")
        twins = self.root / "cmu_intervals_df_transforms.csv"
        if include_transforms and twins.exists():
            rows += read_interval_table(twins)
        self.missing = read_missing(self.root / "missing_intervals.h5")
        self.rows = rows

    @property
    def speakers(self) -> list[str]:
        return sorted({r["speaker"] for r in self.rows})

    def check_speakers(self, speakers: Iterable[str] | None) -> list[str]:
        """The speakers asked for (all when None or ``all``); an unknown one is an error."""
        have = self.speakers
        if speakers is None:
            return have
        speakers = list(speakers)
        if speakers in (["all"], []):
            return have
        unknown = [s for s in speakers if s not in have]
        if unknown:
            raise DataError(f"unknown speaker(s) {unknown}; this corpus has {have}", self.root)
        return speakers

    def intervals(
        self,
        speakers: Iterable[str] | None = None,
        splits: Sequence[str] = SPLITS,
        *,
        exclude_missing: bool = True,
    ) -> list[PatsInterval]:
        """Intervals of the chosen speakers and splits, in table order, missing ones excluded."""
        chosen = set(self.check_speakers(speakers))
        out = []
        for r in self.rows:
            if r["speaker"] not in chosen or r["dataset"] not in splits:
                continue
            if exclude_missing and r["interval_id"] in self.missing:
                continue
            out.append(self._interval(r))
        return out

    def missing_intervals(self, speakers: Iterable[str] | None = None) -> list[PatsInterval]:
        chosen = set(self.check_speakers(speakers))
        return [
            self._interval(r) for r in self.rows if r["speaker"] in chosen and r["interval_id"] in self.missing
        ]

    def _interval(self, r: dict[str, str]) -> PatsInterval:
        iid, spk = r["interval_id"], r["speaker"]
        mp3 = self.root / "raw" / f"{spk}_cropped" / f"{iid}.mp3"
        return PatsInterval(
            interval_id=iid,
            speaker=spk,
            split=r["dataset"],
            start_time=_float(r.get("start_time")),
            end_time=_float(r.get("end_time")),
            path=self.root / "processed" / spk / f"{iid}.h5",
            audio_path=mp3 if mp3.exists() else None,
        )


def _float(v: str | None) -> float:
    try:
        return float(v) if v not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def _as_time_major(arr: np.ndarray, key: str, path: Path) -> np.ndarray:
    spec = PATS_KEYS[key]
    if spec.dim is None:
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise FormatError(path, f"{key} must be (T,) or (T, 1), got shape {arr.shape}")
    elif arr.ndim != 2 or arr.shape[1] != spec.dim:
        raise FormatError(path, f"{key} must be (T, {spec.dim}), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise FormatError(path, f"{key} has no frames")
    return arr


def read_text_meta(f: object, path: Path) -> SegmentTier:
    """The ``text/meta`` table of an open file as a word tier (seconds = frames / 15)."""
    from gesturekit.io.pandas_hdf import read_pandas_frame

    cols = read_pandas_frame(f[TEXT_META], path)  # type: ignore[index]
    for c in ("Word", "start_frame", "end_frame"):
        if c not in cols:
            raise FormatError(path, f"{TEXT_META} has no column {c!r} (columns: {list(cols)})")
    try:
        starts = np.asarray(cols["start_frame"], dtype=np.float64)
        ends = np.asarray(cols["end_frame"], dtype=np.float64)
    except (TypeError, ValueError):
        raise FormatError(path, f"{TEXT_META}: start_frame/end_frame are not numbers") from None
    segs = [
        Segment(str(w), float(s) / POSE_FPS, float(e) / POSE_FPS)
        for w, s, e in zip(cols["Word"], starts, ends, strict=True)
    ]
    return SegmentTier("words", segs)


def read_pats_interval(
    path: str | Path,
    keys: Sequence[str] | None = None,
    *,
    speaker: str = "",
    split: str | None = None,
    require_text: bool = False,
) -> CoSpeechClip:
    """Read and check one interval file; ``keys`` default to every known key the file has.

    Keys asked for explicitly must exist. Checks: shapes per :data:`PATS_KEYS`, finite values,
    per-pose-frame keys of equal length (within :data:`FRAME_SLACK`), ``audio/log_mel_400`` not
    shorter than the pose (beyond :data:`AUDIO_SLACK_S`), and a non-empty ``text/meta`` when
    ``require_text`` (or when ``text/meta`` is asked for).
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FormatError(path, "interval file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, f"unreadable or truncated HDF5 file ({exc})") from None
    with f:
        present = [k for k in ALL_KEYS if k in f]
        if keys is None:
            wanted = present
        else:
            unknown = [k for k in keys if k not in ALL_KEYS]
            if unknown:
                raise DataError(f"unknown PATS key(s) {unknown}; known: {ALL_KEYS}")
            absent = [k for k in keys if k not in f]
            if absent:
                raise FormatError(path, f"missing key(s) {absent} (file has {present})")
            wanted = list(keys)
        if require_text and TEXT_META not in wanted:
            if TEXT_META not in f:
                raise FormatError(path, f"missing key {TEXT_META!r} (transcript)")
            wanted.append(TEXT_META)
        streams: dict[str, np.ndarray] = {}
        words = None
        try:
            for k in wanted:
                if k == TEXT_META:
                    words = read_text_meta(f, path)
                    if len(words) == 0:
                        raise FormatError(path, f"empty transcript ({TEXT_META} has no words)")
                    continue
                if not isinstance(f[k], h5py.Dataset):
                    raise FormatError(path, f"{k} is not a dataset")
                streams[k] = _as_time_major(np.asarray(f[k][()]), k, path)
        except OSError as exc:
            raise FormatError(path, f"unreadable or truncated HDF5 data ({exc})") from None
    return _make_clip(path, streams, words, speaker=speaker, split=split)


def _make_clip(
    path: Path, streams: dict[str, np.ndarray], words: SegmentTier | None, *, speaker: str, split: str | None
) -> CoSpeechClip:
    for k, a in streams.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise FormatError(path, f"{k} has {int((~np.isfinite(a)).sum())} NaN or infinite values")
    per_frame = {k: len(a) for k, a in streams.items() if PATS_KEYS[k].per_pose_frame}
    pose_key = next((k for k in ("pose/normalize", "pose/data", "pose/confidence") if k in streams), None)
    n_pose = per_frame.get(pose_key) if pose_key else (max(per_frame.values()) if per_frame else None)
    if n_pose is not None:
        bad = {k: n for k, n in per_frame.items() if abs(n - n_pose) > FRAME_SLACK}
        if bad:
            raise FormatError(path, f"per-frame keys disagree in length with the pose ({n_pose} frames): {bad}")
        pose_s = n_pose / POSE_FPS
        if "audio/log_mel_400" in streams:
            audio_s = len(streams["audio/log_mel_400"]) / PATS_KEYS["audio/log_mel_400"].rate  # type: ignore[operator]
            if audio_s < pose_s - AUDIO_SLACK_S:
                raise FormatError(
                    path, f"audio ({audio_s:.2f} s of log-mel) is shorter than the pose ({pose_s:.2f} s)"
                )
    rates: dict[str, float] = {}
    for k, a in streams.items():
        r = PATS_KEYS[k].rate
        if r is None:
            r = len(a) / (n_pose / POSE_FPS) if n_pose else 0.0
        rates[k] = float(r)
        if k == "text/tokens":
            streams[k] = a.astype(np.int64)
        elif a.dtype.kind == "f":
            streams[k] = a.astype(np.float32, copy=False)
    return CoSpeechClip(
        name=path.stem,
        speaker=speaker or path.parent.name,
        dataset="pats",
        streams=streams,
        rates=rates,
        pose_key=pose_key or next(iter(streams), ""),
        skeleton="pats",
        split=split,
        words=words,
        path=path,
    )


def interval_keys(path: str | Path) -> list[str]:
    """The known PATS keys present in a file (an unreadable file raises FormatError)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return [k for k in ALL_KEYS if k in f]
    except OSError as exc:
        raise FormatError(path, f"unreadable or truncated HDF5 file ({exc})") from None
