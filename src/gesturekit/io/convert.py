"""Write a normalised EMA corpus: one ``.npy`` per utterance, ``metadata.json`` and ``split.json``.

``convert_corpus(inputs, out, normalize="zscore", ...)`` reads every utterance (any supported
format, CMU or flat layout), optionally keeps some speakers and channels and resamples to one
rate, draws the seeded train/validation/test split, fits the :class:`Normalizer` on the
training utterances only and applies it to all. The folder is built under a temporary name and
renamed into place, so a failed run leaves nothing half-written; an existing non-empty ``out``
is refused unless ``overwrite``. ``load_converted(out)`` reads it back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import ConfigError, DataError, FormatError
from gesturekit.features.normalize import Normalizer
from gesturekit.features.resample import resample_recording
from gesturekit.fsutil import atomic_write_json
from gesturekit.io.corpus import make_split, open_corpus
from gesturekit.records import EMARecording

CORPUS_FORMAT = "gesturekit-ema-corpus"
_NORM_UNITS = {"zscore": "z", "minmax": "unit"}


def _common(recs: list[EMARecording], what: str, get) -> Any:
    values: dict[Any, str] = {}
    for r in recs:
        values.setdefault(get(r), str(r.path))
    if len(values) > 1:
        shown = "; ".join(f"{v!r} in {p}" for v, p in list(values.items())[:3])
        raise DataError(f"recordings have different {what} ({shown})")
    return next(iter(values))


def _file_names(items, recs) -> list[str]:
    for names in (
        [r.name for r in recs],
        [f"{it.speaker}_{r.name}" for it, r in zip(items, recs, strict=True)],
        [it.id.replace("/", "__").rsplit(".", 1)[0] for it in items],
    ):
        if len(set(names)) == len(names):
            return names
    raise DataError("utterance names are not unique even with their folders")


def convert_corpus(
    inputs: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    normalize: str = "zscore",
    nonneg_split: bool = False,
    normalize_by: str = "corpus",
    rate: float | None = None,
    speakers: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    split: Sequence[float] | str = (0.8, 0.1, 0.1),
    seed: int = 0,
    overwrite: bool = False,
    **read_options: Any,
) -> dict[str, Any]:
    """Convert ``inputs`` into a normalised corpus folder ``out``; returns a summary dict."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: folder exists and is not empty; pass --overwrite to replace it")
    if normalize not in ("none", "zscore", "minmax"):
        raise ConfigError(f"--normalize must be none, zscore or minmax, not {normalize!r}")
    if normalize_by not in ("corpus", "speaker"):
        raise ConfigError(f"--normalize-by must be corpus or speaker, not {normalize_by!r}")
    read_options.setdefault("nan_policy", "error")
    corpus = open_corpus(inputs, speakers)
    recs = corpus.load(**read_options)
    if channels:
        try:
            recs = [r.select(list(channels)) for r in recs]
        except KeyError as exc:
            raise DataError(str(exc.args[0])) from None
    if rate:
        recs = [resample_recording(r, float(rate)) for r in recs]
    ch = _common(recs, "channels (choose common ones with --channels)", lambda r: tuple(r.channels))
    rate_hz = _common(recs, "rates (choose one with --rate)", lambda r: round(r.rate_hz, 6))
    units = _common(recs, "units", lambda r: r.units)
    sp = make_split(corpus, split, seed)
    part_of = {i: k for k, ids in sp.parts.items() for i in ids}
    spk_of = [it.speaker or "" for it in corpus.items]
    groups = sorted(set(spk_of)) if normalize_by == "speaker" else [None]
    norms: dict[str | None, Normalizer] = {}
    fitted_on: dict[str, str] = {}
    for g in groups:
        members = [(it, r) for it, r, s in zip(corpus.items, recs, spk_of, strict=True) if g is None or s == g]
        train = [r.data for it, r in members if part_of[it.id] == "train"]
        norm = Normalizer(normalize, nonneg_split=nonneg_split)
        norms[g] = norm.fit(train or [r.data for _, r in members], list(ch))
        fitted_on["all" if g is None else g] = "train" if train else "all"
    norm = next(iter(norms.values()))
    names = _file_names(corpus.items, recs)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result should look like mkdir's
    try:
        (tmp / "data").mkdir()
        entries = []
        for it, r, name in zip(corpus.items, recs, names, strict=True):
            key = (it.speaker or "") if normalize_by == "speaker" else None
            y = norms[key].transform(r.data)
            np.save(tmp / "data" / f"{name}.npy", y, allow_pickle=False)
            entries.append({
                "id": it.id, "file": f"data/{name}.npy", "source": str(it.path), "format": r.format,
                "speaker": r.speaker, "frames": r.frames, "split": part_of[it.id],
                "nan_samples": int(np.isnan(y).sum()), "repairs": r.repairs,
            })  # fmt: skip
        meta = {
            "format": CORPUS_FORMAT,
            "version": 1,
            "rate_hz": rate_hz,
            "channels": norm.output_channels(),
            "input_channels": list(ch),
            "units": _NORM_UNITS.get(normalize, units),
            "source_units": units,
            "normalize_by": normalize_by,
            # one normaliser for the corpus, or one per speaker (then "normalizer" is null)
            "normalizer": norm.to_dict() if normalize_by == "corpus" else None,
            "normalizers": {("all" if g is None else g): n.to_dict() for g, n in norms.items()},
            "normalizer_fitted_on": fitted_on,
            "seed": seed,
            "speakers": sorted({e["speaker"] or "" for e in entries}),
            "utterances": entries,
        }
        atomic_write_json(tmp / "metadata.json", meta)
        atomic_write_json(tmp / "split.json", sp.to_dict(corpus))
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {
        "out": str(out),
        "utterances": len(entries),
        "frames": int(sum(e["frames"] for e in entries)),
        "rate_hz": rate_hz,
        "channels": meta["channels"],
        "units": meta["units"],
        "split": {k: len(v) for k, v in sp.parts.items()},
    }


def load_converted(out: str | Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Read a converted corpus back: the arrays (in ``metadata['utterances']`` order) and metadata."""
    out = Path(out)
    meta_path = out / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise FormatError(meta_path, f"not a converted gesturekit corpus ({exc})") from None
    if meta.get("format") != CORPUS_FORMAT:
        raise FormatError(meta_path, f"format is {meta.get('format')!r}, expected {CORPUS_FORMAT}")
    arrays = [np.load(out / e["file"], allow_pickle=False) for e in meta["utterances"]]
    return arrays, meta
