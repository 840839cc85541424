"""Packing PATS intervals or BEAT2 takes into a store, in parallel, resumably, with checksums.

Three steps: *plan* (every source is read and checked in a process pool; broken ones raise, or
are skipped and reported when ``skip_broken``; offsets of every interval in every contiguous
array are fixed and written to ``plan.json``), *write* (workers read their sources again and
write straight into the memory-mapped ``.npy`` files; each finished interval is appended with its
digest to ``progress/<split>.jsonl``, so an interrupted pack resumes where it stopped), and
*finalise* (per-speaker training statistics, sha256 of every file, ``store.json`` last).
Layout: :mod:`gesturekit.store.layout`.
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
from gesturekit.fsutil import atomic_write_json
from gesturekit.records import CoSpeechClip
from gesturekit.store.layout import PLAN_JSON, STORE_JSON, STORE_VERSION, key_file, split_dir

PATS_DEFAULT_KEYS = ["pose/data", "pose/normalize", "audio/log_mel_400", "audio/silence", "text/tokens"]
BEAT2_DEFAULT_KEYS = ["pose/rot6d", "pose/trans", "face/expressions", "audio/log_mel_400", "audio/silence"]
_INT_KEYS = {"text/tokens": np.int32, "audio/silence": np.uint8}


@dataclass(frozen=True)
class Source:
    """One interval to pack: ``kind`` (``pats``/``beat2``), where it is, speaker and split."""

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
        from gesturekit.features.clip import add_speech_features
        from gesturekit.io.beat2 import find_takes, read_beat2_take

        take = next(t for t in find_takes(src.path) if t.name == src.name)
        clip = read_beat2_take(take, split=src.split)
        add_speech_features(clip, keys=keys, vocab=options.get("vocab"))
        missing = [k for k in keys if k not in clip.streams]
        if missing:
            from gesturekit.errors import FormatError

            raise FormatError(take.npz, f"cannot provide {missing} for this take (no wav or transcript?)")
        return clip
    raise ValueError(f"unknown source kind {src.kind}")


def _scan_one(args: tuple[int, Source, list[str], dict[str, Any]]) -> dict[str, Any]:
    i, src, keys, options = args
    try:
        clip = load_source(src, keys, options)
    except GesturekitError as exc:
        return {"i": i, "error": str(exc)}
    words = [[s.label, round(s.start, 4), round(s.end, 4)] for s in clip.words] if clip.words else []
    return {
        "i": i,
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


def _fingerprint(kind: str, root: str, keys: Sequence[str], sources: Sequence[Source]) -> str:
    h = hashlib.sha256(json.dumps([kind, root, list(keys), [asdict(s) for s in sources]]).encode())
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
    progress: Callable[[str, int, int], None] | None = None,
) -> PackReport:
    """Pack ``sources`` into ``out`` (the generic engine behind :func:`pack_pats`/:func:`pack_beat2`)."""
    out = Path(out)
    options = dict(options or {})
    keys = list(keys)
    if pose_key not in keys:
        raise ConfigError(f"the pose key {pose_key!r} must be among the packed keys {keys}")
    # speakers contiguous within each split: statistics read one slice per speaker
    order = {s: i for i, s in enumerate(sorted({x.speaker for x in sources}))}
    sources = sorted(sources, key=lambda s: (order[s.speaker],))
    fp = _fingerprint(kind, root, keys, sources)
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
            {"sources": [], "offsets": [], "lengths": [], "rates": [], "words": [], "frames": [0] * len(keys)},
        )
        sp["sources"].append(asdict(src))
        sp["offsets"].append(list(sp["frames"]))
        sp["lengths"].append(r["lengths"])
        sp["rates"].append(r["rates"])
        sp["words"].append(r["words"])
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


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
            d / "intervals.json", {"names": [s["name"] for s in sp["sources"]], "words": sp["words"]}
        )
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
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name not in (STORE_JSON, PLAN_JSON) and "progress" not in p.parts:
            checksums[str(p.relative_to(out))] = _sha256(p)
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
        if not p.exists() or _sha256(p) != want:
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
    return pack_sources(srcs, out, keys, kind="pats", root=str(data_root), pose_key=pose_key, **kw)


def pack_beat2(
    root: str | Path,
    out: str | Path,
    *,
    speakers: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    vocab: str | Path | None = None,
    **kw: Any,
) -> PackReport:
    """Pack the BEAT2 takes under ``root`` (speech features computed from each wav/TextGrid)."""
    from gesturekit.errors import DataError
    from gesturekit.io.beat2 import find_takes, read_splits, select_takes

    takes = find_takes(root)
    if not takes:
        raise DataError(f"no BEAT2 takes (*.npz) under {root}")
    takes = select_takes(takes, speakers, root)
    splits = read_splits(root)
    srcs = [Source("beat2", t.name, t.speaker, splits.get(t.name, "train"), str(t.npz)) for t in takes]
    keys = list(keys or BEAT2_DEFAULT_KEYS)
    if vocab is not None and "text/tokens" not in keys:
        keys.append("text/tokens")
    opts = dict(kw.pop("options", {}) or {})
    if vocab is not None:
        opts["vocab"] = str(vocab)
    return pack_sources(
        srcs, out, keys, kind="beat2", root=str(root), pose_key="pose/rot6d", options=opts, **kw
    )
