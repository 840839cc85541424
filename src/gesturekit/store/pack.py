"""Packing PATS intervals, BEAT2 takes or feature-clip folders into a store, in parallel, resumably.

Three steps: *plan* (every source is read and checked in a process pool; broken ones raise, or
are skipped and reported when ``skip_broken``; offsets of every interval in every contiguous
array are fixed and written to ``plan.json``), *write* (workers read their sources again and
write straight into the memory-mapped ``.npy`` files; each finished interval is appended with its
digest to ``progress/<split>.jsonl``, so an interrupted pack resumes where it stopped), and
*finalise* (per-speaker training statistics, sha256 and size of every file, ``store.json``
last). Layout: :mod:`gesturekit.store.layout`. A source may be a time slice of a recording
(``Source.extra``: ``time:<split>:<holdout>:<dev_fraction>``, a BEAT2 folder without a split CSV):
its streams are computed on the whole take and then cut, so slices join without seams.
Each front end (PATS, BEAT2, feature clips) registers its corpus source
(:mod:`gesturekit.store.sources`) beside its pack function.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import ConfigError, GesturekitError
from gesturekit.fsutil import atomic_write_json, file_sha256
from gesturekit.records import CoSpeechClip
from gesturekit.store.layout import PLAN_JSON, STORE_JSON, STORE_VERSION, key_file, split_dir
from gesturekit.store.sources import CorpusSource, register_corpus_source

PATS_DEFAULT_KEYS = ["pose/data", "pose/normalize", "audio/log_mel_400", "audio/silence", "text/tokens"]
BEAT2_DEFAULT_KEYS = ["pose/rot6d", "pose/trans", "face/expressions", "audio/log_mel_400", "audio/silence"]
#: The format tag of a feature-clip folder's ``corpus.json``.
CLIP_FORMAT = "gesturekit-feature-clips"
#: Keys of a feature-clip folder's clips (all at the folder's frame rate).
CLIP_KEYS = ["pose/vector", "audio/features", "text/features"]
_INT_KEYS = {"text/tokens": np.int32, "audio/silence": np.uint8}


@dataclass(frozen=True)
class Source:
    """One interval to pack: ``kind`` (``pats``/``beat2``/``clips``), where it is, speaker and split.

    ``extra``: for ``beat2``, empty (the whole take) or ``time:<split>:<holdout>:<dev_fraction>``
    (that part of the take, :func:`gesturekit.io.beat2.time_split`); for ``clips``, the frame rate.
    """

    kind: str
    name: str
    speaker: str
    split: str
    path: str
    extra: str = ""


@dataclass
class PackReport:
    """What a pack did: intervals written per split, skipped ones (name, problem), seconds."""

    store: Path
    written: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    resumed: int = 0
    frames: dict[str, int] = field(default_factory=dict)


def stored_dtype(key: str, arr: np.ndarray) -> np.dtype:
    if key in _INT_KEYS:
        return np.dtype(_INT_KEYS[key])
    return np.dtype(np.float32) if arr.dtype.kind in "fiub" else arr.dtype


# ----------------------------------------------------------------------------- loading sources


def load_source(src: Source, keys: Sequence[str], options: dict[str, Any]) -> CoSpeechClip:
    """Read one source as a clip holding exactly ``keys`` (BEAT2: speech features computed)."""
    if src.kind == "pats":
        from gesturekit.io.pats import read_pats_interval

        return read_pats_interval(
            src.path, keys=list(keys), speaker=src.speaker, split=src.split, require_text=False
        )
    if src.kind == "beat2":
        return _load_beat2(src, keys, options)
    if src.kind == "clips":
        return _load_feature_clip(src)
    raise ValueError(f"unknown source kind {src.kind}")


def _load_beat2(src: Source, keys: Sequence[str], options: dict[str, Any]) -> CoSpeechClip:
    from gesturekit.errors import FormatError
    from gesturekit.features.clip import add_speech_features
    from gesturekit.io.beat2 import find_takes, read_beat2_take, time_split

    take = next(t for t in find_takes(src.path) if t.name == src.name.split(":")[0])
    clip = read_beat2_take(take, split=src.split)
    add_speech_features(clip, keys=keys, vocab=options.get("vocab"))
    if "text/words" in keys:
        from gesturekit.features.words import WORD_DIM, words_at_frames

        segs = clip.words.segments if clip.words is not None else None
        clip.streams["text/words"] = words_at_frames(segs, clip.frames, clip.pose_rate_hz, WORD_DIM)
        clip.rates["text/words"] = clip.pose_rate_hz
    missing = [k for k in keys if k not in clip.streams]
    if missing:
        raise FormatError(take.npz, f"cannot provide {missing} for this take (no wav or transcript?)")
    if src.extra.startswith("time:"):
        _, part, holdout, dev = src.extra.split(":")
        ranges = time_split(clip.frames, float(holdout), float(dev))
        if part not in ranges:
            raise FormatError(take.npz, f"the take is too short ({clip.frames} frames) for a {part} part")
        a, b = ranges[part]
        clip = _time_slice(clip, a / clip.pose_rate_hz, b / clip.pose_rate_hz)
        clip.name = src.name
    return clip


def _time_slice(clip: CoSpeechClip, start_s: float, end_s: float) -> CoSpeechClip:
    """The part ``[start_s, end_s)`` of ``clip``: every stream cut at its own rate, words shifted."""
    from dataclasses import replace

    from gesturekit.records import Segment, SegmentTier

    streams = {}
    for k, arr in clip.streams.items():
        r = clip.rates[k]
        a, b = int(np.floor(start_s * r + 1e-6)), int(np.floor(end_s * r + 1e-6))
        streams[k] = arr[a:b]
    words = None
    if clip.words is not None:
        kept = [
            Segment(w.label, max(w.start, start_s) - start_s, min(w.end, end_s) - start_s)
            for w in clip.words.segments
            if w.end > start_s and w.start < end_s
        ]
        words = SegmentTier(clip.words.name, kept)
    return replace(
        clip, streams=streams, words=words, phones=None, extra={**clip.extra, "start_s": np.float64(start_s)}
    )


def _load_feature_clip(src: Source) -> CoSpeechClip:
    from gesturekit.errors import FormatError

    fps = float(src.extra)
    try:
        with np.load(src.path, allow_pickle=False) as z:
            arrays = {"pose/vector": z["pose"], "audio/features": z["audio"], "text/features": z["text"]}
    except (OSError, KeyError, ValueError) as exc:
        raise FormatError(src.path, f"unreadable feature clip ({exc})") from None
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1 or any(a.ndim != 2 for a in arrays.values()):
        shapes = {k: a.shape for k, a in arrays.items()}
        raise FormatError(
            src.path, f"pose, audio and text must be (frames, features) of one length, got {shapes}"
        )
    for k, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise FormatError(src.path, f"{k.split('/')[0]} holds NaN or infinite values")
    streams = {k: np.asarray(a, dtype=np.float32) for k, a in arrays.items()}
    return CoSpeechClip(
        name=src.name, speaker=src.speaker, dataset="clips", streams=streams, rates=dict.fromkeys(streams, fps),
        pose_key="pose/vector", skeleton="clips", split=src.split, path=Path(src.path),
    )  # fmt: skip


def _scan_one(args: tuple[int, Source, list[str], dict[str, Any]]) -> dict[str, Any]:
    i, src, keys, options = args
    try:
        clip = load_source(src, keys, options)
    except GesturekitError as exc:
        return {"i": i, "error": str(exc)}
    words = [[s.label, round(s.start, 4), round(s.end, 4)] for s in clip.words] if clip.words else []
    wav = clip.audio.path if clip.audio is not None else None
    return {
        "i": i,
        "start_s": float(np.asarray(clip.extra.get("start_s", 0.0))),
        "audio": str(wav) if wav else "",
        "lengths": [int(len(clip.streams[k])) for k in keys],
        "rates": [float(clip.rates[k]) for k in keys],
        "dims": [list(clip.streams[k].shape[1:]) for k in keys],
        "dtypes": [str(stored_dtype(k, clip.streams[k])) for k in keys],
        "words": words,
    }


def _digest(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _write_chunk(
    args: tuple[str, str, list[str], list[tuple[int, dict[str, Any], list[int]]], dict[str, Any]],
) -> list[tuple[int, str]]:
    store, split, keys, items, options = args
    d = split_dir(Path(store), split)
    maps = {k: np.load(d / key_file(k), mmap_mode="r+") for k in keys}
    done = []
    for i, src_d, offsets in items:
        clip = load_source(Source(**src_d), keys, options)
        parts = []
        for k, o in zip(keys, offsets, strict=True):
            a = clip.streams[k].astype(maps[k].dtype, copy=False)
            maps[k][o : o + len(a)] = a
            parts.append(a)
        done.append((i, _digest(parts)))
    for m in maps.values():
        m.flush()
    return done


def _map(fn: Callable[[Any], Any], items: list[Any], workers: int) -> Any:
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, items, chunksize=max(1, len(items) // (workers * 8)))


# ----------------------------------------------------------------------------- packing


def _fingerprint(
    kind: str, root: str, keys: Sequence[str], sources: Sequence[Source], meta: dict[str, Any]
) -> str:
    h = hashlib.sha256(
        json.dumps([kind, root, list(keys), [asdict(s) for s in sources], meta], sort_keys=True).encode()
    )
    return h.hexdigest()


def pack_sources(
    sources: Sequence[Source],
    out: str | Path,
    keys: Sequence[str],
    *,
    kind: str,
    root: str,
    pose_key: str,
    workers: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    skip_broken: bool = False,
    options: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> PackReport:
    """Pack ``sources`` into ``out`` (the generic engine behind the ``pack_*`` front ends).

    ``meta``: JSON-able entries added to ``store.json`` (e.g. ``split_rule``, ``pose_format``).
    """
    out = Path(out)
    options = dict(options or {})
    keys = list(keys)
    if pose_key not in keys:
        raise ConfigError(f"the pose key {pose_key!r} must be among the packed keys {keys}")
    # speakers contiguous within each split: statistics read one slice per speaker
    order = {s: i for i, s in enumerate(sorted({x.speaker for x in sources}))}
    sources = sorted(sources, key=lambda s: (order[s.speaker],))
    fp = _fingerprint(kind, root, keys, sources, meta or {})
    plan_path = out / PLAN_JSON
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif not resume:
            raise ConfigError(
                f"{out} exists and is not empty: pass --resume to continue a pack or --overwrite to replace it"
            )
        elif not plan_path.exists():
            raise ConfigError(
                f"{out} is not an unfinished gesturekit store (no {PLAN_JSON}); refusing to write into it"
            )
    out.mkdir(parents=True, exist_ok=True)
    report = PackReport(store=out)

    plan: dict[str, Any] | None = None
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
        if plan.get("fingerprint") != fp:
            raise ConfigError(f"{out} was started with other inputs or keys; use --overwrite to start again")
    if plan is None:
        plan = _make_plan(sources, keys, kind, root, pose_key, fp, workers, skip_broken, options, progress)
        plan["meta"] = dict(meta or {})
        for split, sp in plan["splits"].items():
            d = split_dir(out, split)
            d.mkdir(parents=True, exist_ok=True)
            for j, k in enumerate(keys):
                shape = (sp["frames"][j], *plan["dims"][j])
                arr = np.lib.format.open_memmap(
                    d / key_file(k), mode="w+", dtype=np.dtype(plan["dtypes"][j]), shape=shape
                )
                del arr
        atomic_write_json(plan_path, plan)
    report.skipped = list(plan["skipped"])

    (out / "progress").mkdir(exist_ok=True)
    for split, sp in plan["splits"].items():
        prog = out / "progress" / f"{split}.jsonl"
        done = _read_progress(prog)
        report.resumed += len(done)
        todo = [
            (i, s, o)
            for i, (s, o) in enumerate(zip(sp["sources"], sp["offsets"], strict=True))
            if i not in done
        ]
        chunk = max(1, min(64, len(todo) // max(1, workers * 4) or 1))
        tasks = [(str(out), split, keys, todo[j : j + chunk], options) for j in range(0, len(todo), chunk)]
        n_done = len(done)
        with prog.open("a") as fh:
            for res in _map(_write_chunk, tasks, workers):
                for i, dig in res:
                    fh.write(json.dumps({"i": i, "digest": dig}) + "\n")
                n_done += len(res)
                fh.flush()
                os.fsync(fh.fileno())
                if progress:
                    progress(f"write {split}", n_done, len(sp["sources"]))
        report.written[split] = len(sp["sources"])
        report.frames[split] = int(sp["frames"][keys.index(pose_key)])
    _finalise(out, plan)
    return report


def _read_progress(path: Path) -> dict[int, str]:
    done: dict[int, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash: that interval is simply written again
            done[int(rec["i"])] = rec["digest"]
    return done


def _make_plan(
    sources: Sequence[Source],
    keys: list[str],
    kind: str,
    root: str,
    pose_key: str,
    fp: str,
    workers: int,
    skip_broken: bool,
    options: dict[str, Any],
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for n, r in enumerate(_map(_scan_one, [(i, s, keys, options) for i, s in enumerate(sources)], workers), 1):
        results.append(r)
        if progress:
            progress("check", n, len(sources))
    errors = [(sources[r["i"]], r["error"]) for r in results if "error" in r]
    if errors and not skip_broken:
        src, msg = errors[0]
        more = (
            f" (and {len(errors) - 1} more broken; --skip-broken skips and reports them)"
            if len(errors) > 1
            else ""
        )
        raise GesturekitError(f"{msg}{more}")
    good = [r for r in results if "error" not in r]
    if not good:
        raise GesturekitError(f"nothing to pack: all {len(sources)} inputs are broken or none were found")
    dims, dtypes = good[0]["dims"], good[0]["dtypes"]
    for r in good[1:]:
        if r["dims"] != dims:
            src = sources[r["i"]]
            raise GesturekitError(f"{src.path}: feature widths {r['dims']} differ from the others {dims}")
    splits: dict[str, Any] = {}
    for r in good:
        src = sources[r["i"]]
        sp = splits.setdefault(
            src.split,
            {"sources": [], "offsets": [], "lengths": [], "rates": [], "words": [], "starts": [], "audio": [],
             "frames": [0] * len(keys)},
        )  # fmt: skip
        sp["sources"].append(asdict(src))
        sp["offsets"].append(list(sp["frames"]))
        sp["lengths"].append(r["lengths"])
        sp["rates"].append(r["rates"])
        sp["words"].append(r["words"])
        sp["starts"].append(r["start_s"])
        sp["audio"].append(r["audio"])
        sp["frames"] = [a + b for a, b in zip(sp["frames"], r["lengths"], strict=True)]
    return {
        "version": STORE_VERSION,
        "fingerprint": fp,
        "format": kind,
        "source": root,
        "keys": keys,
        "pose_key": pose_key,
        "dims": dims,
        "dtypes": dtypes,
        "speakers": sorted({s.speaker for s in sources}),
        "splits": splits,
        "skipped": [{"name": s.name, "path": s.path, "problem": m} for s, m in errors],
    }


def _finalise(out: Path, plan: dict[str, Any]) -> None:
    from gesturekit.store.stats import mean_var, write_muvar

    keys: list[str] = plan["keys"]
    speakers: list[str] = plan["speakers"]
    checksums: dict[str, str] = {}
    split_meta: dict[str, Any] = {}
    for split, sp in plan["splits"].items():
        d = split_dir(out, split)
        spk_idx = np.array([speakers.index(s["speaker"]) for s in sp["sources"]], dtype=np.int32)
        np.save(d / "offsets.npy", np.array(sp["offsets"], dtype=np.int64).reshape(-1, len(keys)))
        np.save(d / "lengths.npy", np.array(sp["lengths"], dtype=np.int64).reshape(-1, len(keys)))
        np.save(d / "rates.npy", np.array(sp["rates"], dtype=np.float64).reshape(-1, len(keys)))
        np.save(d / "speakers.npy", spk_idx)
        atomic_write_json(
            d / "intervals.json",
            {"names": [s["name"] for s in sp["sources"]], "words": sp["words"], "starts": sp["starts"],
             "audio": sp["audio"]},
        )  # fmt: skip
        digests = _read_progress(out / "progress" / f"{split}.jsonl")
        atomic_write_json(d / "digests.json", [digests[i] for i in range(len(sp["sources"]))])
        split_meta[split] = {
            "intervals": len(sp["sources"]),
            "frames": dict(zip(keys, sp["frames"], strict=True)),
        }
    # per-speaker statistics over the training split (speakers are contiguous there)
    if "train" in plan["splits"]:
        sp = plan["splits"]["train"]
        d = split_dir(out, "train")
        for spk in speakers:
            rows = [i for i, s in enumerate(sp["sources"]) if s["speaker"] == spk]
            if not rows:
                continue
            stats = {}
            for j, k in enumerate(keys):
                if k in _INT_KEYS:
                    continue
                arr = np.load(d / key_file(k), mmap_mode="r")
                lo = sp["offsets"][rows[0]][j]
                hi = sp["offsets"][rows[-1]][j] + sp["lengths"][rows[-1]][j]
                stats[k] = mean_var(arr[lo:hi])
            (out / "muvar").mkdir(exist_ok=True)
            write_muvar(out / "muvar" / f"{spk}.h5", stats)
    sizes: dict[str, int] = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name not in (STORE_JSON, PLAN_JSON) and "progress" not in p.parts:
            checksums[str(p.relative_to(out))] = file_sha256(p)
            sizes[str(p.relative_to(out))] = p.stat().st_size
    meta = {
        "version": STORE_VERSION,
        "format": plan["format"],
        "source": plan["source"],
        "keys": {k: {"dim": plan["dims"][j], "dtype": plan["dtypes"][j]} for j, k in enumerate(keys)},
        "pose_key": plan["pose_key"],
        "speakers": speakers,
        "splits": split_meta,
        "skipped": plan["skipped"],
        "checksums": checksums,
        "sizes": sizes,
        **plan.get("meta", {}),
    }
    atomic_write_json(out / STORE_JSON, meta)


def verify_store(path: str | Path, *, deep: bool = True) -> dict[str, Any]:
    """Check every file's sha256 against ``store.json`` and (``deep``) every interval's digest.

    Returns ``{"ok": bool, "files": n, "intervals": n, "bad_files": [...], "bad_intervals": [...]}``.
    """
    from gesturekit.store.dataset import PackedStore

    store = PackedStore(path)
    bad_files = []
    for rel, want in store.meta["checksums"].items():
        p = store.path / rel
        if not p.exists() or file_sha256(p) != want:
            bad_files.append(rel)
    bad_intervals = []
    n_iv = 0
    if deep:
        for split in store.splits:
            digests = json.loads((split_dir(store.path, split) / "digests.json").read_text())
            ix = store.index(split)
            for i, want in enumerate(digests):
                n_iv += 1
                parts = []
                for j, k in enumerate(store.keys):
                    o, n = int(ix["offsets"][i, j]), int(ix["lengths"][i, j])
                    parts.append(np.asarray(store.array(split, k)[o : o + n]))
                if _digest(parts) != want:
                    bad_intervals.append(f"{split}/{ix['names'][i]}")
    return {
        "ok": not bad_files and not bad_intervals,
        "files": len(store.meta["checksums"]),
        "intervals": n_iv,
        "bad_files": bad_files,
        "bad_intervals": bad_intervals,
    }


# ----------------------------------------------------------------------------- front ends


def pats_sources(root: str | Path, speakers: Sequence[str] | None = None) -> tuple[list[Source], Path]:
    from gesturekit.io.pats import PatsCorpus

    corpus = PatsCorpus(root)
    srcs = [
        Source("pats", iv.interval_id, iv.speaker, iv.split, str(iv.path)) for iv in corpus.intervals(speakers)
    ]
    return srcs, corpus.root


def pack_pats(
    root: str | Path,
    out: str | Path,
    *,
    speakers: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    **kw: Any,
) -> PackReport:
    """Pack the PATS intervals of ``speakers`` (all when None) into ``out``; missing ones excluded."""
    srcs, data_root = pats_sources(root, speakers)
    keys = list(keys or PATS_DEFAULT_KEYS)
    pose_key = next((k for k in ("pose/normalize", "pose/data") if k in keys), keys[0])
    text = "bert" if "text/bert" in keys else "tokens" if "text/tokens" in keys else "none"
    meta = {"split_rule": "pats", "text_features": text, **(kw.pop("meta", {}) or {})}
    return pack_sources(srcs, out, keys, kind="pats", root=str(data_root), pose_key=pose_key, meta=meta, **kw)


#: Keys the store cache packs for co-speech training, by corpus (text keys only where every source has them).
PATS_TRAIN_KEYS = ["pose/normalize", "audio/log_mel_400"]
BEAT2_TRAIN_KEYS = ["pose/rot6d", "audio/log_mel_400", "text/words"]


def _is_pats(root: Path) -> bool:
    from gesturekit.io.pats import is_pats_root

    return is_pats_root(root)


def _pats_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".h5", ".csv", ".txt", ".json") and p.is_file())


def pats_train_keys(root: Path, speakers: Sequence[str] | None) -> list[str]:
    """Pose and audio, plus ``text/bert`` / ``text/tokens`` when every interval has them."""
    from gesturekit.errors import FormatError
    from gesturekit.io.pats import PatsCorpus, interval_keys

    common: set[str] | None = None
    for iv in PatsCorpus(root).intervals(list(speakers) if speakers else None):
        try:
            have = set(interval_keys(iv.path))
        except (OSError, FormatError):
            continue  # a broken interval is skipped (and named) by the pack itself
        common = have if common is None else common & have
    text = [k for k in ("text/bert", "text/tokens") if common and k in common]
    return [*PATS_TRAIN_KEYS, *text]


def _pats_info(root: Path, speakers: Sequence[str] | None = None) -> dict[str, Any]:
    from gesturekit.io.corpus_info import pats_info

    return pats_info(root, speakers)


register_corpus_source(CorpusSource(
    "pats", order=20, detect=_is_pats, files=_pats_files, pack=pack_pats, pose_key="pose/normalize",
    training_keys=pats_train_keys, info=_pats_info,
))  # fmt: skip


def beat2_sources(
    root: str | Path,
    speakers: Sequence[str] | None = None,
    *,
    holdout: float = 0.2,
    dev_fraction: float = 0.1,
) -> tuple[list[Source], dict[str, Any]]:
    """The sources of the BEAT2 takes under ``root`` and the split's description for ``store.json``.

    With a ``train_test_split.csv``: one source per take that has a row, in its split; takes
    without a row and rows without files are left out and listed under ``left_out``. Without one:
    three time slices per take (:func:`gesturekit.io.beat2.time_split`), ``split_rule`` "time".
    """
    from gesturekit.errors import DataError
    from gesturekit.io.beat2 import beat2_splits, find_takes, select_takes

    takes = find_takes(root)
    if not takes:
        raise DataError(f"no BEAT2 takes (*.npz) under {root}")
    takes = select_takes(takes, speakers, root)
    splits = beat2_splits(root, takes, speakers)
    if splits.rule == "csv":
        srcs = [
            Source("beat2", t.name, t.speaker, splits.of_take[t.name], str(t.npz))
            for t in takes
            if t.name in splits.of_take
        ]
        if not srcs:
            raise DataError(f"none of the takes under {root} has a row in {splits.csv}")
    else:
        srcs = [
            Source(
                "beat2",
                f"{t.name}:{part}",
                t.speaker,
                part,
                str(t.npz),
                f"time:{part}:{holdout}:{dev_fraction}",
            )
            for t in takes
            for part in ("train", "dev", "test")
        ]
    meta = {
        "split_rule": splits.rule,
        "split_csv": str(splits.csv) if splits.csv else None,
        "time_split": {"holdout": holdout, "dev_fraction": dev_fraction} if splits.rule == "time" else None,
        "left_out": {
            "rows_without_files": splits.rows_without_files,
            "files_without_rows": splits.files_without_rows,
        },
        "text_features": "words" if any(t.textgrid is not None for t in takes) else "none",
    }
    return srcs, meta


def pack_beat2(
    root: str | Path,
    out: str | Path,
    *,
    speakers: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    vocab: str | Path | None = None,
    holdout: float = 0.2,
    dev_fraction: float = 0.1,
    **kw: Any,
) -> PackReport:
    """Pack the BEAT2 takes under ``root`` (speech features computed from each wav/TextGrid).

    Splits as :func:`beat2_sources` says; ``holdout``/``dev_fraction`` only matter without a CSV.
    """
    srcs, meta = beat2_sources(root, speakers, holdout=holdout, dev_fraction=dev_fraction)
    keys = list(keys or BEAT2_DEFAULT_KEYS)
    if vocab is not None and "text/tokens" not in keys:
        keys.append("text/tokens")
    opts = dict(kw.pop("options", {}) or {})
    if vocab is not None:
        opts["vocab"] = str(vocab)
    meta.update(kw.pop("meta", {}) or {})
    return pack_sources(
        srcs, out, keys, kind="beat2", root=str(root), pose_key="pose/rot6d", options=opts, meta=meta, **kw
    )


def _is_beat2(root: Path) -> bool:
    return (root.is_file() and root.suffix == ".npz") or any(root.rglob("*.npz"))


def _beat2_files(root: Path) -> list[Path]:
    from gesturekit.io.beat2 import find_split_csv, find_takes

    files = [p for t in find_takes(root) for p in (t.npz, t.wav, t.textgrid) if p is not None]
    csv = find_split_csv(root)
    return files + ([csv] if csv is not None else [])


def beat2_train_keys(root: Path, speakers: Sequence[str] | None) -> list[str]:
    """Pose, audio and hashed word vectors, plus WordPiece ``text/tokens`` (from the shipped
    vocabulary) when every take has a transcript."""
    from gesturekit.io.beat2 import find_takes, select_takes

    takes = select_takes(find_takes(root), speakers, root)
    return BEAT2_TRAIN_KEYS + (["text/tokens"] if all(t.textgrid is not None for t in takes) else [])


def _beat2_info(root: Path, speakers: Sequence[str] | None = None) -> dict[str, Any]:
    from gesturekit.io.corpus_info import beat2_info

    return beat2_info(root, speakers)


register_corpus_source(CorpusSource(
    "beat2", order=30, detect=_is_beat2, files=_beat2_files, pack=pack_beat2, pose_key="pose/rot6d",
    training_keys=beat2_train_keys, time_split=True, info=_beat2_info,
))  # fmt: skip


def read_clip_table(root: str | Path) -> dict[str, Any]:
    """The ``corpus.json`` of a feature-clip folder, checked (format, fps, pose format, clips)."""
    from gesturekit.errors import FormatError

    path = Path(root) / "corpus.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FormatError(path, f"unreadable clip table ({exc})") from None
    if not isinstance(table, dict) or table.get("format") != CLIP_FORMAT:
        raise FormatError(path, f"not a {CLIP_FORMAT} file")
    for k in ("fps", "pose_format", "clips"):
        if k not in table:
            raise FormatError(path, f"missing {k!r}")
    return table


def pack_clips(
    root: str | Path, out: str | Path, *, speakers: Sequence[str] | None = None, **kw: Any
) -> PackReport:
    """Pack a feature-clip folder (``corpus.json`` + ``clips/<id>.npz``, e.g. the synthetic corpus).

    Streams ``pose/vector``, ``audio/features``, ``text/features`` at the folder's rate; the pose
    format, rate and text-feature kind go to ``store.json``.
    """
    from gesturekit.errors import DataError

    root = Path(root)
    table = read_clip_table(root)
    fps = float(table["fps"])
    recs = [r for r in table["clips"] if not speakers or r["speaker"] in speakers]
    if not recs:
        have = sorted({r["speaker"] for r in table["clips"]})
        raise DataError(f"no clips for speaker(s) {list(speakers or [])}; speakers here: {have}", path=root)
    srcs = [
        Source("clips", r["id"], r["speaker"], r["split"], str(root / "clips" / f"{r['id']}.npz"), str(fps))
        for r in recs
    ]
    meta = {
        "split_rule": "clips",
        "fps": fps,
        "pose_format": table["pose_format"],
        "text_features": table.get("text_features", "unknown"),
    }
    meta.update(kw.pop("meta", {}) or {})
    return pack_sources(
        srcs, out, CLIP_KEYS, kind="clips", root=str(root), pose_key="pose/vector", meta=meta, **kw
    )


register_corpus_source(CorpusSource(
    "clips", order=10, detect=lambda root: (root / "corpus.json").exists(),
    files=lambda root: [root / "corpus.json", *sorted((root / "clips").glob("*.npz"))], pack=pack_clips,
    pose_key="pose/vector",
))  # fmt: skip
