"""The typed records every reader returns.

Readers in :mod:`gesturekit.io` turn files into these dataclasses; nothing here knows about
torch or models. Times are in seconds, arrays are ``(time, channels)`` float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Segment:
    """One labelled interval (a word or a phone)."""

    label: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class SegmentTier:
    """An ordered list of segments, e.g. the ``words`` or ``phones`` tier of a TextGrid."""

    name: str
    segments: list[Segment] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self):
        return iter(self.segments)

    def labels(self) -> list[str]:
        return [s.label for s in self.segments]

    def nonempty(self, silence: tuple[str, ...] = ("", "sil", "sp", "pau", "<p:>")) -> SegmentTier:
        """The same tier without empty or silence segments."""
        keep = [s for s in self.segments if s.label.strip().lower() not in silence]
        return SegmentTier(self.name, keep)

    def frame_labels(self, n_frames: int, rate_hz: float, fill: str = "") -> list[str]:
        """The label of each frame (frame n covers ``[n/rate, (n+1)/rate)``), vectorised."""
        out = np.full(n_frames, fill, dtype=object)
        if not self.segments:
            return out.tolist()
        centres = (np.arange(n_frames) + 0.5) / rate_hz
        starts = np.array([s.start for s in self.segments])
        ends = np.array([s.end for s in self.segments])
        idx = np.searchsorted(starts, centres, side="right") - 1
        valid = (idx >= 0) & (centres < ends[np.clip(idx, 0, None)])
        labels = np.array(self.labels(), dtype=object)
        out[valid] = labels[idx[valid]]
        return out.tolist()


@dataclass
class Audio:
    """A mono waveform, float32 in [-1, 1].

    ``path`` is the file it was read from; ``element`` names the part of that file that holds it
    when the file is not an audio file (the ``AUDIO`` element of an HPRC ``.mat``).
    """

    samples: np.ndarray
    rate_hz: int
    path: Path | None = None
    element: str | None = None

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.rate_hz)

    @property
    def source(self) -> str:
        """Where the samples came from, for messages: a file, or an element of one."""
        if self.element:
            return f"the {self.element} element of {self.path}"
        return str(self.path) if self.path is not None else "audio given in memory"


@dataclass
class EMARecording:
    """One EMA utterance in one record type, whatever the file format.

    ``data`` is float32 ``(time, channels)``; ``channels`` names each column as
    ``<articulator>_<axis>`` (e.g. ``tt_x``). ``units`` is ``"mm"``, ``"z"`` (standardised),
    ``"unit"`` (min-max scaled) or ``"unknown"``. Missing samples are NaN.
    """

    data: np.ndarray
    rate_hz: float
    channels: list[str]
    units: str = "unknown"
    path: Path | None = None
    format: str = "unknown"
    speaker: str | None = None
    utterance: str | None = None
    audio: Audio | None = None
    words: SegmentTier | None = None
    phones: SegmentTier | None = None
    prompt: str | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    # Appended for the EMA readers: the speaker's (mean, std) per channel name that undo a
    # z-scored recording (kept by name so `select` stays consistent); and every repair a reader
    # made (NaN interpolation, trimming to the audio), so nothing changes silently.
    ema_stats: dict[str, tuple[float, float]] | None = None
    repairs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 2:
            raise ValueError(f"{self.path}: EMA data must be (time, channels), got shape {data.shape}")
        if data.shape[1] != len(self.channels):
            raise ValueError(
                f"{self.path}: {data.shape[1]} data columns but {len(self.channels)} channel names"
            )
        self.data = data.astype(np.float32, copy=False)

    @property
    def frames(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / float(self.rate_hz)

    @property
    def name(self) -> str:
        if self.utterance:
            return self.utterance
        return self.path.stem if self.path is not None else "recording"

    def nan_report(self) -> dict[str, int]:
        """Number of non-finite samples per channel (only channels that have any)."""
        bad = ~np.isfinite(self.data)
        counts = bad.sum(axis=0)
        return {c: int(n) for c, n in zip(self.channels, counts, strict=True) if n}

    def select(self, channels: list[str]) -> EMARecording:
        """A copy restricted to ``channels`` in that order; an unknown name is an error."""
        missing = [c for c in channels if c not in self.channels]
        if missing:
            raise KeyError(f"{self.path}: unknown channel(s) {missing}; this recording has {self.channels}")
        idx = [self.channels.index(c) for c in channels]
        return replace(self, data=self.data[:, idx], channels=list(channels))

    def destandardized(self, units: str = "mm") -> EMARecording:
        """Undo the z-scoring with :attr:`ema_stats` (``x * std + mean``) -> a copy in ``units``."""
        from gesturekit.errors import DataError

        if self.units != "z":
            raise DataError(f"recording is in '{self.units}', not z-scored", self.path)
        if not self.ema_stats:
            raise DataError("no ema.stats were found to undo the z-scoring", self.path)
        missing = [c for c in self.channels if c not in self.ema_stats]
        if missing:
            raise DataError(f"ema.stats has no statistics for channel(s) {missing}", self.path)
        stats = np.array([self.ema_stats[c] for c in self.channels], dtype=np.float64)
        data = self.data.astype(np.float64) * stats[:, 1] + stats[:, 0]
        return replace(self, data=data.astype(np.float32), units=units, ema_stats=None)


@dataclass
class CoSpeechClip:
    """One co-speech interval (a PATS interval or a BEAT2 take), whatever the dataset.

    ``streams`` maps a PATS-style key to a float32/int array whose first axis is time at
    ``rates[key]`` frames per second:

    - PATS: ``pose/data``, ``pose/normalize``, ``pose/confidence`` ``(T, 104)`` at 15 fps
      (x of 52 joints then y, pixels relative to the neck); ``audio/log_mel_400`` ``(Ta, 64)`` at
      100 fps; ``audio/log_mel_512`` ``(Tb, 128)``; ``audio/silence`` ``(T,)`` 0/1 at 15 fps (1 =
      silent); ``text/bert`` ``(T, 768)``, ``text/w2v`` ``(T, 300)``, ``text/tokens`` ``(T,)`` int64
      BERT WordPiece ids, all repeated per pose frame at 15 fps.
    - BEAT2: ``pose/axis_angle`` ``(T, 165)`` (55 SMPL-X joints x 3), ``pose/rot6d`` ``(T, 330)``
      (55 joints x the 6-D continuous rotation: the first two columns of each rotation matrix,
      ``[r00, r10, r20, r01, r11, r21]``), ``pose/trans`` ``(T, 3)`` metres, ``face/expressions``
      ``(T, 100)``, all at 30 fps; audio features when computed.

    ``pose_key`` names the stream a model predicts by default (``pose/normalize`` for PATS,
    ``pose/rot6d`` for BEAT2) and ``skeleton`` the :data:`gesturekit.skeleton.SKELETONS` entry used
    to draw it. ``words`` is the word tier in seconds (PATS ``text/meta`` frames / 15).
    ``split`` is ``train``, ``dev``, ``test`` or ``None``.
    """

    name: str
    speaker: str
    dataset: str
    streams: dict[str, np.ndarray]
    rates: dict[str, float]
    pose_key: str
    skeleton: str
    split: str | None = None
    audio: Audio | None = None
    words: SegmentTier | None = None
    phones: SegmentTier | None = None
    path: Path | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def pose(self) -> np.ndarray:
        """The default pose stream ``(T, D)``."""
        return self.streams[self.pose_key]

    @property
    def pose_rate_hz(self) -> float:
        return float(self.rates[self.pose_key])

    @property
    def frames(self) -> int:
        return int(self.pose.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / self.pose_rate_hz
