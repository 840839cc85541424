"""What every EMA reader does after parsing: options, NaN policy, and files found beside the EMA.

``read_ema(path, **options)`` accepts the keys of :class:`ReadOptions`:

- ``nan_policy``: ``"report"`` (default: keep NaN, they are counted by ``nan_report()`` and
  shown by ``gesturekit ema info``), ``"error"`` (a :class:`DataError` naming the file, the
  count and the channels) or ``"interpolate"`` (fill runs of at most ``max_nan_gap`` seconds
  linearly; longer runs stay NaN; both are written to ``recording.repairs``).
- ``attach``: look for audio (``<stem>.wav`` beside the file or ``../wav/<stem>.wav``), labels
  (``<stem>.lab`` or ``../lab/<stem>.lab``), a ``<stem>.TextGrid`` (words and phones) and the CMU
  prompt list ``../etc/txt.done.data``.
- ``audio_policy``: what to do when the audio is shorter than the EMA by more than real corpora's
  frame or two: ``"error"`` (default), ``"trim"`` (cut the EMA to the audio and record it in
  ``repairs``) or ``"keep"`` (keep both, recorded in ``repairs``). A small shortfall (up to 2 EMA
  frames or 1 % of the duration, whichever is larger) is trimmed and recorded under ``"error"``
  and ``"trim"``; one within the last frame is no mismatch. :func:`audio_mismatch` describes it.
- ``speaker``: override the speaker found from the path.
- ``stats``: an explicit ``ema.stats`` file for nema data (found in the speaker folder otherwise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import ConfigError, DataError, FormatError, GesturekitError
from gesturekit.records import EMARecording

log = logging.getLogger("gesturekit")

NAN_POLICIES = ("report", "error", "interpolate")
AUDIO_POLICIES = ("error", "trim", "keep")


@dataclass(frozen=True)
class ReadOptions:
    nan_policy: str = "report"
    max_nan_gap: float = 0.05
    attach: bool = True
    audio_policy: str = "error"
    speaker: str | None = None
    stats: str | Path | None = None

    def __post_init__(self) -> None:
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"nan_policy must be one of {NAN_POLICIES}, not {self.nan_policy!r}")
        if self.audio_policy not in AUDIO_POLICIES:
            raise ConfigError(f"audio_policy must be one of {AUDIO_POLICIES}, not {self.audio_policy!r}")
        if not self.max_nan_gap >= 0:
            raise ConfigError(f"max_nan_gap must be >= 0 seconds, not {self.max_nan_gap!r}")


def read_options(kwargs: dict[str, Any]) -> ReadOptions:
    """Build :class:`ReadOptions` from keyword arguments; an unknown key is an error."""
    known = {f.name for f in fields(ReadOptions)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ConfigError(f"unknown EMA read option(s) {unknown}; known: {sorted(known)}")
    return ReadOptions(**kwargs)


# --------------------------------------------------------------------------------------- NaN


def nan_runs(bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the True runs of a 1-D boolean mask."""
    padded = np.concatenate([[False], bad, [False]]).astype(np.int8)
    d = np.diff(padded)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def describe_nonfinite(rec: EMARecording) -> str:
    counts = rec.nan_report()
    total = sum(counts.values())
    longest = 0
    for j in range(rec.data.shape[1]):
        s, e = nan_runs(~np.isfinite(rec.data[:, j]))
        if s.size:
            longest = max(longest, int((e - s).max()))
    chans = ", ".join(f"{c}: {n}" for c, n in counts.items())
    return f"{total} NaN/infinite samples ({chans}; longest run {longest} frames)"


def interpolate_nans(data: np.ndarray, max_gap: int) -> tuple[np.ndarray, int, int]:
    """Fill runs of non-finite values of at most ``max_gap`` frames by linear interpolation.

    Runs at the edges take the nearest finite value. Returns ``(filled, n_filled, n_left)``;
    longer runs and all-missing channels stay NaN.
    """
    out = data.astype(np.float32, copy=True)
    out[~np.isfinite(out)] = np.nan
    n_filled = n_left = 0
    t = np.arange(out.shape[0])
    for j in range(out.shape[1]):  # a loop over channels, not frames
        col = out[:, j]
        bad = np.isnan(col)
        if not bad.any():
            continue
        if bad.all():
            n_left += int(bad.sum())
            continue
        starts, ends = nan_runs(bad)
        short = (ends - starts) <= max_gap
        marks = np.zeros(bad.size + 1, dtype=np.int64)  # +1 at a short run's start, -1 after it
        np.add.at(marks, starts[short], 1)
        np.add.at(marks, ends[short], -1)
        fill = np.cumsum(marks[:-1]) > 0
        col[fill] = np.interp(t[fill], t[~bad], col[~bad]).astype(np.float32)
        n_filled += int(fill.sum())
        n_left += int((bad & ~fill).sum())
    return out, n_filled, n_left


def apply_nan_policy(rec: EMARecording, opts: ReadOptions) -> EMARecording:
    if np.all(np.isfinite(rec.data)):
        return rec
    if opts.nan_policy == "error":
        raise DataError(
            f"{describe_nonfinite(rec)}; read with nan_policy='report' to keep them or "
            "'interpolate' to fill short runs",
            rec.path,
        )
    if opts.nan_policy == "report":
        log.warning("%s: %s kept as NaN (nan_policy='report')", rec.path, describe_nonfinite(rec))
    if opts.nan_policy == "interpolate":
        max_gap = int(round(opts.max_nan_gap * rec.rate_hz))
        summary = describe_nonfinite(rec)
        data, n_filled, n_left = interpolate_nans(rec.data, max_gap)
        rec.data = data
        rec.repairs.append(
            f"interpolated {n_filled} missing samples (runs <= {max_gap} frames) of {summary}"
            + (f"; {n_left} samples in longer runs left NaN" if n_left else "")
        )
    return rec


# ------------------------------------------------------------------------------- side files


def _first_existing(candidates: list[Path]) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def sidecar(path: Path, folder: str, suffixes: tuple[str, ...]) -> Path | None:
    """``<stem><suffix>`` beside ``path``, else in ``../<folder>/`` (the CMU layout)."""
    cands = [path.with_name(path.stem + s) for s in suffixes]
    cands += [path.parent.parent / folder / (path.stem + s) for s in suffixes]
    return _first_existing(cands)


def attach_side_files(rec: EMARecording, opts: ReadOptions) -> EMARecording:
    from gesturekit.io.audio import read_audio
    from gesturekit.io.labels import read_lab, read_prompts
    from gesturekit.io.textgrid import read_words_phones

    path = rec.path
    if path is None:
        return rec
    if rec.audio is None:
        wav = sidecar(path, "wav", (".wav", ".WAV"))
        if wav is not None:
            rec.audio = read_audio(wav)
    grid = sidecar(path, "textgrid", (".TextGrid", ".textgrid"))
    if grid is not None:
        words, phones = read_words_phones(grid)
        rec.words = rec.words or words
        rec.phones = rec.phones or phones
    if rec.phones is None:
        lab = sidecar(path, "lab", (".lab",))
        if lab is not None:
            rec.phones = read_lab(lab)
    if rec.prompt is None:
        prompts = path.parent.parent / "etc" / "txt.done.data"
        if prompts.is_file():
            rec.prompt = read_prompts(prompts).get(path.stem)
    return rec


# A shortfall below one frame (+5 ms) is the audio ending inside the last EMA frame: not a mismatch
# worth a repair. Up to SMALL_SHORTFALL_FRAMES frames or SMALL_SHORTFALL_FRACTION of the duration
# (whichever is larger) is what real corpora carry (HPRC, mngu0): trimmed by default, recorded.
SMALL_SHORTFALL_FRAMES = 2.0
SMALL_SHORTFALL_FRACTION = 0.01


@dataclass(frozen=True)
class AudioMismatch:
    """How the length of a recording's audio compares with its EMA's.

    ``kind``: ``"none"`` (the audio covers the EMA, up to a partial last frame), ``"small"`` (a
    shortfall readers accept by default: the EMA is trimmed to the audio) or ``"large"``
    (``audio_policy`` decides).
    """

    audio_source: str
    audio_s: float
    ema_s: float
    frames: int
    rate_hz: float

    @property
    def shortfall_s(self) -> float:
        """How much earlier the audio ends than the EMA (negative: the audio is longer)."""
        return self.ema_s - self.audio_s

    @property
    def tolerance_s(self) -> float:
        return max(SMALL_SHORTFALL_FRAMES / self.rate_hz, SMALL_SHORTFALL_FRACTION * self.ema_s)

    @property
    def kind(self) -> str:
        if self.shortfall_s <= 1.0 / self.rate_hz + 0.005:
            return "none"
        return "small" if self.shortfall_s <= self.tolerance_s + 1e-9 else "large"

    @property
    def frames_covered(self) -> int:
        """EMA frames that end within the audio (the length a trim keeps)."""
        return min(self.frames, int(np.floor(self.audio_s * self.rate_hz + 1e-9)))

    def message(self) -> str:
        return (
            f"audio {self.audio_source} lasts {self.audio_s:.3f} s but the EMA lasts {self.ema_s:.3f} s "
            f"({self.frames} frames at {self.rate_hz:g} Hz)"
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary ``gesturekit ema info`` reports (it never refuses a file for a mismatch)."""
        default = {"none": "accepted", "small": f"EMA trimmed to {self.frames_covered} frames"}
        return {
            "audio_source": self.audio_source,
            "audio_s": round(self.audio_s, 6),
            "ema_s": round(self.ema_s, 6),
            "shortfall_s": round(self.shortfall_s, 6),
            "shortfall_frames": round(self.shortfall_s * self.rate_hz, 3),
            "tolerance_s": round(self.tolerance_s, 6),
            "kind": self.kind,
            "default_read": default.get(self.kind, "refused (audio_policy='error')"),
        }


def audio_mismatch(rec: EMARecording) -> AudioMismatch | None:
    """The audio-versus-EMA length comparison of ``rec`` (None without audio)."""
    if rec.audio is None:
        return None
    return AudioMismatch(rec.audio.source, rec.audio.duration, rec.duration, rec.frames, float(rec.rate_hz))


def trim_frames(rec: EMARecording, keep: int) -> None:
    """Cut ``rec`` to its first ``keep`` frames, with the per-frame side arrays (time, orientation)."""
    n = rec.frames
    rec.data = rec.data[:keep]
    for k, v in list(rec.extra.items()):
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n:
            rec.extra[k] = v[:keep]


def check_audio_length(rec: EMARecording, opts: ReadOptions) -> EMARecording:
    """Audio shorter than the EMA: a small shortfall is trimmed (recorded), a larger one follows
    ``audio_policy``; ``"keep"`` keeps any shortfall as it is (recorded)."""
    mm = audio_mismatch(rec)
    if mm is None or mm.kind == "none":
        return rec
    msg = mm.message()
    if mm.kind == "large" and opts.audio_policy == "error":
        raise DataError(
            msg + f"; more than the {mm.tolerance_s * 1000:.0f} ms accepted by default: read with "
            "audio_policy='trim' to cut the EMA to the audio",
            rec.path,
        )
    if opts.audio_policy == "keep":
        rec.repairs.append(msg + "; kept as it is")
        return rec
    keep = mm.frames_covered
    trim_frames(rec, keep)
    why = "a small shortfall, trimmed by default" if mm.kind == "small" and opts.audio_policy == "error" else ""
    rec.repairs.append(msg + f"; EMA trimmed to {keep} frames" + (f" ({why})" if why else ""))
    return rec


def finish(rec: EMARecording, opts: ReadOptions) -> EMARecording:
    """Speaker override, side files, audio length check and the NaN policy, in that order."""
    if opts.speaker:
        rec.speaker = opts.speaker
    if opts.attach:
        rec = attach_side_files(rec, opts)
    rec = check_audio_length(rec, opts)
    return apply_nan_policy(rec, opts)


def reader(parse):
    """Wrap ``parse(path, opts) -> EMARecording`` as a registered reader ``read(path, **options)``."""
    import functools

    @functools.wraps(parse)
    def read(path: str | Path, **options: Any) -> EMARecording:
        opts = read_options(options)
        path = Path(path)
        if not path.is_file():
            raise FormatError(path, "file not found")
        rec = parse(path, opts)
        try:
            return finish(rec, opts)
        except GesturekitError as exc:
            if getattr(exc, "path", None) in (None, path):
                raise
            # a side file (audio, labels, prompts) is broken: say which EMA file it belongs to
            raise FormatError(path, f"side file {exc}") from None

    return read
