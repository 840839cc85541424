"""The corpus-source registry: what a raw co-speech corpus folder is, and how it is packed.

Each source (PATS, BEAT2, feature clips) registers a :class:`CorpusSource` when its module is
imported, the way :mod:`gesturekit.io`'s EMA readers do: the three are in
:mod:`gesturekit.store.pack`, beside their pack functions, and ``gesturekit.store``'s ``__init__``
imports that module, so the registry is full before any store module is used. This module
imports none of them (no import circle). A new corpus format is one more registration.

Who asks the registry: the store cache (:func:`gesturekit.store.cache.open_corpus_store`:
detection, the fingerprint's files, the training pack), ``cospeech pack`` and ``info``, and
the co-speech model inputs (:mod:`gesturekit.cospeech.data.store_inputs`: which key is the pose).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gesturekit.errors import FormatError


@dataclass(frozen=True)
class CorpusSource:
    """One corpus format.

    ``detect(root)``: whether a folder is one (asked in ``order``, lowest first). ``files(root)``:
    every file a store of it is made from (the store cache's fingerprint). ``pack(root, out,
    speakers=..., **options)``: pack it into a store. ``training_keys(root, speakers)``: the keys the
    store cache packs for training (None: the ones ``pack`` packs by default). ``pose_key``: the
    store key a co-speech model reads as its pose. ``time_split``: its split depends on the cache's
    ``holdout`` / ``dev_fraction`` (a BEAT2 folder without a split CSV). ``info(root, speakers)``:
    the summary ``cospeech info`` prints (None: none).
    """

    name: str
    order: int
    detect: Callable[[Path], bool]
    files: Callable[[Path], list[Path]]
    pack: Callable[..., Any]
    pose_key: str
    training_keys: Callable[[Path, Sequence[str] | None], list[str]] | None = None
    time_split: bool = False
    info: Callable[..., dict[str, Any]] | None = None


CORPUS_SOURCES: dict[str, CorpusSource] = {}
#: What a packed store (finished or not) holds at its top: it is used as it is, never packed.
STORE_MARKERS = ("store.json", "plan.json")


def register_corpus_source(source: CorpusSource) -> None:
    CORPUS_SOURCES[source.name] = source


def detect_format(root: str | Path) -> str:
    """What a co-speech data path is: ``"store"`` (a packed store, finished or not) or the name of a
    registered source (``"clips"``, ``"pats"``, ``"beat2"``); a :class:`FormatError` naming the path
    otherwise."""
    root = Path(root)
    if not root.exists():
        raise FormatError(root, "folder not found")
    if any((root / m).exists() for m in STORE_MARKERS):
        return "store"
    for source in sorted(CORPUS_SOURCES.values(), key=lambda s: s.order):
        if source.detect(root):
            return source.name
    raise FormatError(
        root,
        "not a packed store (store.json), a feature-clip folder (corpus.json), a PATS data folder "
        "(cmu_intervals_df.csv) or a BEAT2 folder (smplxflame_30/*.npz, or npz + wav takes)",
    )


def corpus_source(root: str | Path) -> CorpusSource:
    """The registered source of a raw corpus folder (a packed store is a :class:`FormatError`)."""
    name = detect_format(root)
    if name == "store":
        raise FormatError(root, "a packed store, not a raw corpus folder")
    return CORPUS_SOURCES[name]


def corpus_info(root: str | Path, speakers: Sequence[str] | None = None) -> dict[str, Any]:
    """What a PATS or BEAT2 folder holds (:mod:`gesturekit.io.corpus_info`); other paths: FormatError."""
    name = detect_format(root)
    source = CORPUS_SOURCES.get(name)
    if source is None or source.info is None:
        what = (
            "packed store"
            if name == "store"
            else "feature-clip folder"
            if name == "clips"
            else f"{name} folder"
        )
        raise FormatError(root, f"info describes PATS and BEAT2 folders; this is a {what}")
    return source.info(root, speakers)
