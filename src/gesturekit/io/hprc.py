"""Haskins HPRC (IEEE sentences) MVIEW ``.mat`` files.

One MATLAB variable (named like the file) holds a struct array of channels with fields
``NAME, SRATE, SIGNAL, SOURCE, SENTENCE, WORDS, PHONES, LABELS``. Element ``AUDIO`` (element 0)
is the 44.1 kHz speech with the ``SENTENCE`` prompt and ``WORDS``/``PHONES`` struct arrays of
``LABEL`` and ``OFFS = [start, end]`` seconds. The other elements are sensors (``TR TB TT UL LL
ML JAW JAWL``) at 100 Hz with ``SIGNAL (T, 6)``: columns 0-2 are positions in mm (x anterior,
y lateral, z vertical) and become channels ``tr_x tr_y tr_z ...``; columns 3-5 are orientation
angles, kept in ``recording.extra["orientation"]`` (names in ``extra["orientation_channels"]``),
never as positions. Files are named ``F01_B01_S01_R01_N.mat``: the speaker is the first part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import FormatError
from gesturekit.io.finish import ReadOptions, reader
from gesturekit.records import Audio, EMARecording, Segment, SegmentTier

HPRC_SENSORS = ["TR", "TB", "TT", "UL", "LL", "ML", "JAW", "JAWL"]
_ORIENT = ("o1", "o2", "o3")


def _is_mat(path: Path, head: bytes) -> bool:
    return True  # the reader gives the clear error for a .mat that is not an MVIEW file


def _as_list(x: Any) -> list:
    if x is None:
        return []
    if isinstance(x, dict):
        return [x]
    if isinstance(x, np.ndarray) and x.dtype == object:
        return list(x.ravel())
    return list(x) if isinstance(x, list | tuple) else [x]


def _text(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return "".join(map(str, x.ravel())) if x.size else ""
    return "" if x is None else str(x)


def _segments(path: Path, name: str, raw: Any) -> SegmentTier | None:
    items = _as_list(raw)
    if not items:
        return None
    segs = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or "LABEL" not in it or "OFFS" not in it:
            raise FormatError(path, f"AUDIO.{name.upper()}[{i}] lacks LABEL/OFFS fields")
        offs = np.asarray(it["OFFS"], dtype=np.float64).ravel()
        if offs.size != 2 or offs[1] < offs[0]:
            raise FormatError(path, f"AUDIO.{name.upper()}[{i}].OFFS must be [start, end], got {offs.tolist()}")
        segs.append(Segment(_text(it["LABEL"]).strip(), float(offs[0]), float(offs[1])))
    return SegmentTier(name, segs)


def _load(path: Path) -> list[dict]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), simplify_cells=True)
    except NotImplementedError:
        raise FormatError(path, "MATLAB v7.3 (HDF5) files are not supported; re-save with -v7") from None
    except Exception as exc:  # scipy raises ValueError / MatReadError / TypeError on bad files
        raise FormatError(path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from None
    names = [k for k in mat if not k.startswith("__")]
    if not names:
        raise FormatError(path, "MATLAB file holds no variables")
    var = path.stem if path.stem in names else (names[0] if len(names) == 1 else None)
    if var is None:
        raise FormatError(
            path, f"MATLAB file holds {len(names)} variables {names[:5]}; expected one named {path.stem}"
        )
    elems = _as_list(mat[var])
    if not elems or not all(isinstance(e, dict) for e in elems):
        raise FormatError(path, f"variable {var!r} is not an MVIEW struct array of channels")
    for i, e in enumerate(elems):
        for key in ("NAME", "SRATE", "SIGNAL"):
            if key not in e:
                raise FormatError(path, f"channel {i} of {var!r} lacks the {key} field")
    return elems


def _parse(path: Path, opts: ReadOptions) -> EMARecording:
    elems = _load(path)
    names = [_text(e["NAME"]).strip() for e in elems]
    audio_el = elems[names.index("AUDIO")] if "AUDIO" in names else None
    sensors = [(n, e) for n, e in zip(names, elems, strict=True) if n != "AUDIO"]
    sensors = [(n, e) for n, e in sensors if np.ndim(e["SIGNAL"]) == 2]
    if not sensors:
        raise FormatError(path, "no sensor channels with a 2-D SIGNAL (expected TR TB TT UL LL ML JAW JAWL)")
    rates = {n: float(e["SRATE"]) for n, e in sensors}
    if len(set(rates.values())) != 1:
        raise FormatError(path, f"sensors have different rates {rates}")
    lengths = {n: np.shape(e["SIGNAL"])[0] for n, e in sensors}
    if len(set(lengths.values())) != 1:
        raise FormatError(path, f"sensors have different lengths {lengths}")
    pos, orient, channels, orient_names = [], [], [], []
    for n, e in sensors:
        sig = np.asarray(e["SIGNAL"], dtype=np.float64)
        if sig.shape[1] < 3:
            raise FormatError(path, f"sensor {n}: SIGNAL has {sig.shape[1]} columns, expected 6 (xyz + angles)")
        art = n.lower()
        pos.append(sig[:, :3])
        channels += [f"{art}_x", f"{art}_y", f"{art}_z"]
        if sig.shape[1] >= 6:
            orient.append(sig[:, 3:6])
            orient_names += [f"{art}_{o}" for o in _ORIENT]
    rate = next(iter(rates.values()))
    if not rate > 0:
        raise FormatError(path, f"sensor SRATE must be positive, got {rate}")
    audio = words = phones = None
    prompt = None
    if audio_el is not None:
        raw_audio = np.asarray(audio_el["SIGNAL"])
        samples = raw_audio.astype(np.float32)
        if np.issubdtype(raw_audio.dtype, np.integer):  # PCM integers -> [-1, 1]
            samples /= float(np.iinfo(raw_audio.dtype).max) + 1.0
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        if samples.size == 0:
            raise FormatError(path, "AUDIO channel has no samples")
        if not np.all(np.isfinite(samples)):
            raise FormatError(path, f"AUDIO has {int((~np.isfinite(samples)).sum())} non-finite samples")
        audio = Audio(samples.ravel(), int(round(float(audio_el["SRATE"]))), path=path, element="AUDIO")
        words = _segments(path, "words", audio_el.get("WORDS"))
        phones = _segments(path, "phones", audio_el.get("PHONES"))
        prompt = _text(audio_el.get("SENTENCE")).strip() or None
    extra: dict[str, np.ndarray] = {}
    if orient:
        extra["orientation"] = np.concatenate(orient, axis=1).astype(np.float32)
        extra["orientation_channels"] = np.array(orient_names)
    return EMARecording(
        data=np.concatenate(pos, axis=1).astype(np.float32),
        rate_hz=rate,
        channels=channels,
        units="mm",
        path=path,
        format="hprc-mat",
        speaker=path.stem.split("_")[0] if "_" in path.stem else None,
        utterance=path.stem,
        audio=audio,
        words=words,
        phones=phones,
        prompt=prompt,
        extra=extra,
    )


read_hprc_mat = reader(_parse)
read_hprc_mat.__doc__ = "Read a Haskins HPRC MVIEW ``.mat`` file; options: see io.finish."

from gesturekit.io.ema import EMAReader, register_ema_reader  # noqa: E402

register_ema_reader(EMAReader("hprc-mat", (".mat",), _is_mat, read_hprc_mat))
