"""The store cache: a raw corpus folder is packed once into a memory-mappable store and reused.

:func:`open_corpus_store` is how training and sampling read data. Given a packed store it opens
it; given a PATS data folder, a BEAT2 folder (download layout or flat) or a feature-clip folder it
packs the folder into ``CACHE/stores/<key>/`` (``CACHE``: the ``cache`` argument, else
``$GESTUREKIT_CACHE``, else ``$XDG_CACHE_HOME/gesturekit`` or ``~/.cache/gesturekit``; never inside
the data folder) and reuses that store while the sources are unchanged.

What makes a cached store trusted: ``store.json`` (written last by the packer) carries a
``cache`` entry naming the data folder, the speakers, the split settings and a fingerprint of
every source file (path, size, modification time); every file the store lists exists with its
recorded size. A store whose sources changed is repacked (one log line says so); a pack killed
half-way has no ``store.json`` and is resumed from its plan, or started again when the plan is of
other inputs; a folder in the cache that is not a gesturekit cache entry is refused, never
overwritten. Processes that open the same entry at once (DDP ranks) take turns through a lock
file, so one packs and the others reuse its store.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gesturekit.errors import ConfigError, FormatError
from gesturekit.store.dataset import PackedStore
from gesturekit.store.layout import PLAN_JSON, STORE_JSON
from gesturekit.store.sources import CORPUS_SOURCES, detect_format

CACHE_VERSION = 1

_log = logging.getLogger("gesturekit")


def default_cache_dir() -> Path:
    """``$GESTUREKIT_CACHE``, else ``$XDG_CACHE_HOME/gesturekit``, else ``~/.cache/gesturekit``."""
    if os.environ.get("GESTUREKIT_CACHE"):
        return Path(os.environ["GESTUREKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gesturekit"


def open_corpus_store(
    data: str | Path,
    *,
    cache: str | Path | None = None,
    speakers: Sequence[str] | None = None,
    workers: int = 1,
    holdout: float = 0.2,
    dev_fraction: float = 0.1,
    log: logging.Logger | None = None,
) -> PackedStore:
    """The packed store of ``data`` (see the module docstring); ``holdout``/``dev_fraction`` set the
    time split of a BEAT2 folder without ``train_test_split.csv`` and matter nowhere else."""
    log = log or _log
    fmt = detect_format(data)
    if fmt == "store":
        return _open_given_store(Path(data))
    root = Path(data).resolve()
    cache_root = (Path(cache) if cache is not None else default_cache_dir()).expanduser().resolve()
    if cache_root == root or root in cache_root.parents:
        raise ConfigError(
            f"the store cache {cache_root} must not be inside the data folder {root}: pass --cache"
        )
    spk = sorted(set(speakers)) if speakers and list(speakers) != ["all"] else []
    settings = {"data": str(root), "format": fmt, "speakers": spk, "version": CACHE_VERSION}
    if CORPUS_SOURCES[fmt].time_split:
        settings["time_split"] = {"holdout": float(holdout), "dev_fraction": float(dev_fraction)}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
    entry = cache_root / "stores" / key
    entry.parent.mkdir(parents=True, exist_ok=True)
    with _locked(entry.parent / f"{key}.lock"):
        fingerprint = source_fingerprint(root, fmt)
        reason = _check_entry(entry, settings, fingerprint)
        if reason is None:
            return PackedStore(entry)
        if reason != "absent":
            log.info("store cache %s: %s; packing again", entry, reason)
        if entry.exists() and reason != "unfinished":
            shutil.rmtree(entry)
        log.info("packing %s (%s) into the store cache %s", root, fmt, entry)
        meta = {"cache": {**settings, "fingerprint": fingerprint}}
        _pack(fmt, root, entry, spk, meta, workers=workers, holdout=holdout, dev_fraction=dev_fraction, log=log)
        return PackedStore(entry)


def _open_given_store(path: Path) -> PackedStore:
    """A store the user packed: used as it is when complete, refused with one line when not."""
    if not (path / STORE_JSON).exists():
        raise FormatError(path, "an unfinished store (packing was interrupted): finish it with `gesturekit "
                          "cospeech pack --resume` or pack it again")  # fmt: skip
    store = PackedStore(path)
    problem = _missing_files(store.path, store.meta)
    if problem:
        raise FormatError(path, f"damaged store: {problem}; pack it again")
    return store


def _missing_files(path: Path, meta: dict[str, Any]) -> str | None:
    sizes = meta.get("sizes")
    if sizes is None:  # stores packed before sizes were recorded: every listed file must exist
        sizes = dict.fromkeys(meta.get("checksums", {}), -1)
    for rel, size in sizes.items():
        p = path / rel
        if not p.is_file():
            return f"{rel} is missing"
        if size >= 0 and p.stat().st_size != size:
            return f"{rel} has {p.stat().st_size} bytes, not {size} (truncated?)"
    return None


def _check_entry(entry: Path, settings: dict[str, Any], fingerprint: str) -> str | None:
    """None when ``entry`` is a trusted store of ``settings``; otherwise why it cannot be used."""
    if not entry.exists():
        return "absent"
    store_json, plan_json = entry / STORE_JSON, entry / PLAN_JSON
    if not store_json.exists():
        if not plan_json.exists() and any(entry.iterdir()):
            raise ConfigError(
                f"{entry} is not a gesturekit store cache entry; remove it or pass another --cache"
            )
        return "unfinished"
    try:
        meta = json.loads(store_json.read_text())
    except (OSError, json.JSONDecodeError):
        return "its store.json is unreadable"
    cached = meta.get("cache") if isinstance(meta, dict) else None
    if not isinstance(cached, dict):
        raise ConfigError(f"{entry} holds a store that is not a cache entry; remove it or pass another --cache")
    if {k: cached.get(k) for k in settings} != settings:
        raise ConfigError(
            f"{entry} is the cache of {cached.get('data')} {cached.get('speakers')}, not of {settings['data']} "
            f"{settings['speakers']}; remove it or pass another --cache"
        )
    if cached.get("fingerprint") != fingerprint:
        return "the source files changed since it was packed"
    problem = _missing_files(entry, meta)
    return f"damaged ({problem})" if problem else None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- sources


def source_files(root: Path, fmt: str) -> list[Path]:
    """Every file the cached store of ``root`` is made from (sorted), for the fingerprint."""
    return sorted(set(CORPUS_SOURCES[fmt].files(root)))


def source_fingerprint(root: Path, fmt: str) -> str:
    """A digest of every source file's path, size and modification time (no contents read)."""
    h = hashlib.sha256()
    for p in source_files(root, fmt):
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _pack(fmt: str, root: Path, out: Path, speakers: list[str], meta: dict[str, Any], *, workers: int,
          holdout: float, dev_fraction: float, log: logging.Logger) -> None:  # fmt: skip
    source = CORPUS_SOURCES[fmt]
    kw: dict[str, Any] = {"workers": workers, "resume": out.exists(), "skip_broken": True, "meta": meta}
    spk = speakers or None
    if source.training_keys is not None:
        kw["keys"] = source.training_keys(root, spk)
    if source.time_split:
        kw.update(holdout=holdout, dev_fraction=dev_fraction)
    try:
        report = source.pack(root, out, speakers=spk, **kw)
    except ConfigError as exc:
        if "started with other inputs" not in str(exc):
            raise
        # a pack of other inputs was killed half-way in this entry: start again from nothing
        shutil.rmtree(out)
        return _pack(fmt, root, out, speakers, meta, workers=workers, holdout=holdout,
                     dev_fraction=dev_fraction, log=log)  # fmt: skip
    if report.skipped:
        names = ", ".join(s["name"] for s in report.skipped[:5]) + (" ..." if len(report.skipped) > 5 else "")
        log.warning("left out %d broken interval(s) of %s: %s (see `gesturekit cospeech info`)",
                    len(report.skipped), root, names)  # fmt: skip
