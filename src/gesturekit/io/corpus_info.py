"""What a co-speech corpus folder holds: ``gesturekit cospeech info`` without the printing.

:func:`pats_info` and :func:`beat2_info` (asked through the corpus-source registry,
:func:`gesturekit.store.sources.corpus_info`) return one JSON-able dict ``{"format": "pats"|"beat2",
"root": ..., "speakers": {speaker: {"train": n, "dev": n, "test": n, "missing": n, "hours": x,
"keys": [...]}}, "broken": [{"name", "speaker", "split", "path", "problem"}]}``. Counts are of
*good* intervals: listed in the published split, not in the missing list, and readable with every
check passing; every broken one is named in ``broken`` and counted nowhere else. ``keys`` are the
keys every good interval of the speaker has. ``hours`` sums the good intervals' pose durations.
PATS: an interval that lacks a key at least half of its speaker's readable intervals have (e.g.
no ``pose/data``) is broken, with ``missing_keys`` in its entry, so no key drops silently out of
the speaker's list.
BEAT2: whole-take splits from ``train_test_split.csv`` (``additional`` counted as such); without a
CSV every take is cut in time and counts once in each of train, dev and test. ``split`` says which
(``rule`` "csv" or "time", the CSV's path) and names the CSV rows without files and the takes
without a CSV row (those takes are counted nowhere). ``missing`` counts takes without a wav; keys
are the clip streams plus ``audio/wav``, ``text/words`` and ``text/phones`` when present.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gesturekit.errors import GesturekitError

if TYPE_CHECKING:
    from gesturekit.io.pats import PatsInterval


def _entry() -> dict[str, Any]:
    return {"train": 0, "dev": 0, "test": 0, "missing": 0, "hours": 0.0, "keys": None}


def pats_info(root: str | Path, speakers: Sequence[str] | None = None) -> dict[str, Any]:
    from gesturekit.io.pats import PatsCorpus, read_pats_interval

    corpus = PatsCorpus(root)
    chosen = corpus.check_speakers(speakers)
    out: dict[str, dict[str, Any]] = {s: _entry() for s in chosen}
    broken: list[dict[str, Any]] = []
    for iv in corpus.missing_intervals(chosen):
        out[iv.speaker]["missing"] += 1
    readable: dict[str, list[tuple[PatsInterval, float, set[str]]]] = {s: [] for s in chosen}
    for iv in corpus.intervals(chosen):
        try:
            clip = read_pats_interval(iv.path, speaker=iv.speaker, split=iv.split)
        except GesturekitError as exc:
            broken.append(_broken(iv, str(exc)))
            continue
        keys = set(clip.streams) | ({"text/meta"} if clip.words is not None else set())
        readable[iv.speaker].append((iv, clip.duration, keys))
    for spk, items in readable.items():
        expected = _expected_keys([keys for _, _, keys in items])
        e = out[spk]
        for iv, duration, keys in items:
            lacking = sorted(expected - keys)
            if lacking:  # named, not silently dropped from the speaker's key list
                have = sum(1 for _, _, k in items if set(lacking) <= k)
                problem = f"lacks key(s) {lacking} that {have} of the speaker's {len(items)} intervals have"
                broken.append({**_broken(iv, problem), "missing_keys": lacking})
                continue
            if iv.split in ("train", "dev", "test"):
                e[iv.split] += 1
            e["hours"] += duration / 3600.0
            e["keys"] = keys if e["keys"] is None else (e["keys"] & keys)
    return {"format": "pats", "root": str(corpus.root), "speakers": _finish(out), "broken": broken}


def _broken(iv: PatsInterval, problem: str) -> dict[str, Any]:
    return {
        "name": iv.interval_id,
        "speaker": iv.speaker,
        "split": iv.split,
        "path": str(iv.path),
        "problem": problem,
    }


def _expected_keys(key_sets: list[set[str]]) -> set[str]:
    """The keys a speaker's intervals are expected to have: those at least half of them have.

    (A key most intervals have and one lacks marks that one as broken; a key only a few odd
    intervals carry does not turn all the others into broken ones.)
    """
    counts: dict[str, int] = {}
    for keys in key_sets:
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
    return {k for k, n in counts.items() if 2 * n >= len(key_sets)}


def beat2_info(root: str | Path, speakers: Sequence[str] | None = None) -> dict[str, Any]:
    from gesturekit.io.beat2 import beat2_splits, find_takes, read_beat2_take, select_takes

    takes = select_takes(find_takes(root), speakers, root)
    splits = beat2_splits(root, takes, speakers)
    out: dict[str, dict[str, Any]] = {s: _entry() for s in sorted({t.speaker for t in takes})}
    broken: list[dict[str, str]] = []
    for t in takes:
        if splits.rule == "csv" and splits.split_of(t.name) is None:
            continue  # no CSV row: named under "split", counted nowhere
        split = splits.split_of(t.name) or "time"
        try:
            clip = read_beat2_take(t, split=split)
        except GesturekitError as exc:
            broken.append(
                {"name": t.name, "speaker": t.speaker, "split": split, "path": str(t.npz), "problem": str(exc)}
            )
            continue
        e = out[t.speaker]
        if t.wav is None:
            e["missing"] += 1
        for part in ("train", "dev", "test") if split == "time" else (split,):
            e[part] = e.get(part, 0) + 1
        e["hours"] += clip.duration / 3600.0
        keys = set(clip.streams)
        keys |= {"audio/wav"} if clip.audio is not None else set()
        keys |= {"text/words"} if clip.words is not None else set()
        keys |= {"text/phones"} if clip.phones is not None else set()
        e["keys"] = keys if e["keys"] is None else (e["keys"] & keys)
    split_info = {
        "rule": splits.rule,
        "csv": str(splits.csv) if splits.csv else None,
        "rows_without_files": splits.rows_without_files,
        "files_without_rows": splits.files_without_rows,
    }
    return {
        "format": "beat2",
        "root": str(root),
        "split": split_info,
        "speakers": _finish(out),
        "broken": broken,
    }


def _finish(out: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for e in out.values():
        e["keys"] = sorted(e["keys"] or [])
        e["hours"] = round(float(e["hours"]), 6)
    return out
