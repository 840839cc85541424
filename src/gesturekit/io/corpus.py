"""Whole EMA corpora: discovery, a speaker filter, and reproducible train/validation/test splits.

Two layouts are recognised:

- **CMU** ``emadata``: speaker folders ``cin_us_<spk>/`` holding ``nema/<utt>.ema`` (or ``.npy``),
  ``wav/<utt>.wav``, ``lab/<utt>.lab``, ``etc/txt.done.data`` and ``ema.stats`` (the readers pick
  up the side files). The root may be the folder holding the speaker folders or one of them.
- **flat**: a folder (searched recursively) of files of any supported EMA format.

``open_corpus(path, speakers=[...])`` lists the utterances without reading them;
``corpus.load(**read_options)`` reads them; ``corpus.split(fractions, seed)`` draws a split,
stratified by speaker, that depends only on the utterance list and the seed; ``save_split``
writes it as JSON beside the corpus when that folder is writable, or to a path you give.
``find_ema_files`` / ``load_recordings`` expand files and folders (a CMU tree by its layout).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import DataError, FormatError
from gesturekit.io.ema import EMA_READERS, read_ema
from gesturekit.records import EMARecording

log = logging.getLogger("gesturekit")

SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class CorpusItem:
    """One utterance: its file, speaker and id (the path relative to the corpus root)."""

    path: Path
    speaker: str | None
    utterance: str
    id: str


@dataclass
class Corpus:
    root: Path
    layout: str  # "cmu" | "flat"
    items: list[CorpusItem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def speakers(self) -> list[str]:
        return sorted({i.speaker or "" for i in self.items})

    def load(self, **read_options: Any) -> list[EMARecording]:
        """Read every utterance (options as for :func:`gesturekit.io.read_ema`)."""
        recs = []
        for item in self.items:
            rec = read_ema(item.path, **read_options)
            if rec.speaker is None:
                rec.speaker = item.speaker
            recs.append(rec)
        return recs

    def split(self, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
        return make_split(self, fractions, seed)


@dataclass
class Split:
    seed: int
    fractions: tuple[float, float, float]
    parts: dict[str, list[str]]  # split name -> item ids

    def to_dict(self, corpus: Corpus | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"seed": self.seed, "fractions": list(self.fractions)}
        if corpus is not None:
            d.update(root=str(corpus.root), layout=corpus.layout, speakers=corpus.speakers)
        d.update({k: list(v) for k, v in self.parts.items()})
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        return cls(int(d["seed"]), tuple(d["fractions"]), {k: list(d[k]) for k in SPLIT_NAMES})

    def which(self, item_id: str) -> str:
        for k, v in self.parts.items():
            if item_id in v:
                return k
        raise KeyError(item_id)


def _speaker_of(path: Path) -> str | None:
    for parent in path.parents:
        if parent.name.startswith("cin_us_"):
            return parent.name[len("cin_us_") :]
    if path.suffix.lower() == ".txy":
        return path.parent.name or None
    return path.stem.split("_")[0] if "_" in path.stem else None


def _cmu_speaker_dirs(root: Path) -> list[Path]:
    if (root / "nema").is_dir() and root.name.startswith("cin"):
        return [root]
    dirs = (d for d in root.iterdir() if d.is_dir() and d.name.startswith("cin"))
    return sorted(d for d in dirs if (d / "nema").is_dir())


def open_corpus(paths: str | Path | Sequence[str | Path], speakers: Sequence[str] | None = None) -> Corpus:
    """List the utterances of a CMU-layout folder, a flat folder, or a list of files/folders."""
    plist = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not plist:
        raise DataError("no corpus paths given")
    for p in plist:
        if not p.exists():
            raise FormatError(p, "no such file or folder")
    items: list[CorpusItem] = []
    if len(plist) == 1 and plist[0].is_dir() and _cmu_speaker_dirs(plist[0]):
        root, layout = plist[0], "cmu"
        for spk_dir in _cmu_speaker_dirs(root):
            chosen: dict[str, Path] = {}
            for f in sorted((spk_dir / "nema").iterdir()):
                # keep the original ASCII .ema when a converted .npy sits beside it
                ok = f.suffix.lower() in (".ema", ".npy") and f.is_file()
                if ok and (f.stem not in chosen or f.suffix.lower() == ".ema"):
                    chosen[f.stem] = f
            spk = spk_dir.name[len("cin_us_") :] if spk_dir.name.startswith("cin_us_") else spk_dir.name
            for stem, f in sorted(chosen.items()):
                items.append(CorpusItem(f, spk, stem, f.relative_to(root).as_posix()))
    else:
        layout = "flat"
        files = find_ema_files(plist)
        root = Path(os.path.commonpath([str(p.resolve()) for p in plist]))
        if root.is_file():
            root = root.parent
        for f in files:
            try:
                rel = f.resolve().relative_to(root).as_posix()
            except ValueError:
                rel = f.as_posix()
            items.append(CorpusItem(f, _speaker_of(f), f.stem, rel))
    if not items:
        raise DataError(f"no EMA utterances found in {', '.join(map(str, plist))}")
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        dup = sorted({x for x in ids if ids.count(x) > 1})[:3]
        raise DataError(f"the same utterance is listed more than once: {dup}")
    corpus = Corpus(root, layout, items)
    if speakers:
        wanted = {s.lower() for s in speakers}
        kept = [i for i in items if (i.speaker or "").lower() in wanted]
        if not kept:
            raise DataError(f"no utterances of speaker(s) {sorted(wanted)}; the corpus has {corpus.speakers}")
        corpus.items = kept
    return corpus


def parse_fractions(fractions: Sequence[float] | str) -> tuple[float, float, float]:
    if isinstance(fractions, str):
        try:
            fractions = [float(x) for x in fractions.split(",")]
        except ValueError:
            raise DataError(f"split fractions must be numbers like 0.8,0.1,0.1, got {fractions!r}") from None
    f = tuple(float(x) for x in fractions)
    if len(f) != 3 or any(x < 0 for x in f) or abs(sum(f) - 1.0) > 1e-6:
        raise DataError(f"split fractions must be three non-negative numbers summing to 1, got {list(f)}")
    return f  # type: ignore[return-value]


def make_split(corpus: Corpus, fractions: Sequence[float] | str = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Stratified by speaker: each speaker's utterances (sorted by id) are shuffled by ``seed``."""
    f = parse_fractions(fractions)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[str]] = {k: [] for k in SPLIT_NAMES}
    by_spk: dict[str, list[str]] = {}
    for it in corpus.items:
        by_spk.setdefault(it.speaker or "", []).append(it.id)
    for spk in sorted(by_spk):
        ids = sorted(by_spk[spk])
        order = [ids[i] for i in rng.permutation(len(ids))]
        n = len(ids)
        n_train, n_val, n_test = _allocate(n, f)
        parts["train"] += order[:n_train]
        parts["validation"] += order[n_train : n_train + n_val]
        parts["test"] += order[n_train + n_val :]
    return Split(seed, f, {k: sorted(v) for k, v in parts.items()})


def _allocate(n: int, f: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``n`` items by fractions ``f`` (largest remainders; ties go to the earlier part).

    With at least three items every part with a non-zero fraction gets at least one.
    """
    exact = np.array(f) * n
    counts = np.floor(exact).astype(int)
    order = sorted(range(3), key=lambda k: (-(exact[k] - counts[k]), k))
    for k in order[: n - int(counts.sum())]:
        counts[k] += 1
    if n >= 3:
        for k in (1, 2, 0):
            if f[k] > 0 and counts[k] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[k] += 1
    return int(counts[0]), int(counts[1]), int(counts[2])


def folder_is_writable(folder: Path) -> bool:
    """True only if the folder's permission bits, the mount and this process all allow writing.

    The bits are checked even for root, so a read-only data folder (``r-x``) is never written.
    """
    try:
        st = folder.stat()
        vfs = os.statvfs(folder)
    except OSError:
        return False
    if vfs.f_flag & os.ST_RDONLY:
        return False
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    return os.access(folder, os.W_OK)


def split_filename(split: Split) -> str:
    fr = "-".join(f"{round(x * 100):g}" for x in split.fractions)
    return f"gesturekit_split_seed{split.seed}_{fr}.json"


def save_split(
    split: Split, corpus: Corpus, path: str | Path | None = None, overwrite: bool = False
) -> Path | None:
    """Write the split as JSON to ``path``, or beside the corpus when its folder is writable.

    Returns the path written (or the existing identical file), or ``None`` when no ``path`` was
    given and the corpus folder is read-only (a warning is logged; nothing fails). An existing
    file with a different split is an error unless ``overwrite``.
    """
    import json

    from gesturekit.fsutil import atomic_write_json

    if path is None:
        if not folder_is_writable(corpus.root):
            log.warning("%s is read-only: split not saved beside it (give a path to save it)", corpus.root)
            return None
        target = corpus.root / split_filename(split)
    else:
        target = Path(path)
    d = split.to_dict(corpus)
    if target.exists() and not overwrite:
        try:
            old = json.loads(target.read_text())
        except (OSError, ValueError):
            old = None
        if old is not None and all(old.get(k) == d[k] for k in SPLIT_NAMES):
            return target
        raise DataError(f"{target} exists with a different split; pass overwrite=True to replace it")
    atomic_write_json(target, d)
    return target


def load_split(path: str | Path) -> Split:
    import json

    path = Path(path)
    try:
        return Split.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(path, f"not a gesturekit split file ({exc})") from None


def find_ema_files(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (searched recursively) into the EMA files they hold, sorted.

    A folder file is kept when its suffix belongs to a registered format (hidden files and
    folders are skipped; in a CMU ``cin_us_<spk>/`` tree only ``nema/`` is read); a named file
    is kept as it is (its format is checked when it is read). A missing path is an error.
    """
    suffixes = {s for r in EMA_READERS.values() for s in r.suffixes}
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FormatError(p, "no such file or folder")
        if p.is_dir():
            if _cmu_speaker_dirs(p):  # a CMU emadata tree: only nema/ holds EMA (lab/ may hold .npy)
                out.extend(item.path for item in open_corpus(p).items)
                continue
            found = sorted(
                q
                for q in p.rglob("*")
                if q.is_file()
                and q.suffix.lower() in suffixes
                and not any(part.startswith(".") for part in q.relative_to(p).parts)
            )
            if not found:
                raise FormatError(p, f"folder holds no EMA files ({', '.join(sorted(suffixes))})")
            out.extend(found)
        else:
            out.append(p)
    return out


def load_recordings(paths: list[str | Path], **kwargs) -> list[EMARecording]:
    """Read every EMA file named by ``paths`` (files or folders)."""
    return [read_ema(p, **kwargs) for p in find_ema_files(paths)]
