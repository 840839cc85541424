"""Write PATS-format files: one interval file, and whole synthetic corpora for tests and benchmarks.

Interval files follow :mod:`gesturekit.io.pats` exactly; ``text/meta`` is written by pandas itself
(``DataFrame.to_hdf(..., key='text/meta')``, fixed format, PyTables underneath) so it is the real
pandas layout, after the arrays are written with h5py.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gesturekit.io.pats import POSE_FPS


def write_pats_interval(
    path: str | Path,
    streams: dict[str, np.ndarray],
    words: Sequence[tuple[str, int, int]] | None = None,
) -> Path:
    """Write ``streams`` (key -> array) and ``words`` (``(Word, start_frame, end_frame)``) to ``path``.

    Written to a temporary name and renamed, so a crash leaves no half file.
    """
    import h5py

    from gesturekit.extras import require
    from gesturekit.fsutil import atomic_path

    if words is not None:  # the word table is pandas' own HDF5 layout: pandas and PyTables write it
        pd = require("pandas", "writing PATS tables (text/meta)")
        require("tables", "writing PATS tables (text/meta)")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for k, a in streams.items():
                f.create_dataset(k, data=a)
        if words is not None:
            df = pd.DataFrame(
                {
                    "Word": pd.Series([w for w, _, _ in words], dtype=object),
                    "start_frame": np.array([s for _, s, _ in words], dtype=np.int64),
                    "end_frame": np.array([e for _, _, e in words], dtype=np.int64),
                }
            )
            df.to_hdf(tmp, key="text/meta", mode="a", format="fixed")
    return path


_VOCAB = ["the", "first", "thing", "i", "like", "to", "do", "on", "weekends", "is", "relaxing", "and",
          "think", "go", "shopping", "gesture", "speech", "hands", "move", "when", "we", "talk"]  # fmt: skip


def synthetic_interval(
    rng: np.random.Generator, seconds: float, *, bert: bool = False, w2v: bool = False
) -> tuple[dict[str, np.ndarray], list[tuple[str, int, int]]]:
    """Arrays of every PATS key for one plausible interval of ``seconds`` (pose 15 fps, mel 100 fps)."""
    t = int(round(seconds * POSE_FPS))
    n_mel = int(seconds * 100) - 2
    n_512 = int(seconds * 16000 / 512) + 1
    base = rng.normal(0, 60, size=(1, 104))
    walk = np.cumsum(rng.normal(0, 3, size=(t, 104)), axis=0)
    pose = (base + walk).astype(np.float64)
    pose[:, 0] = 0.0
    pose[:, 52] = 0.0
    n_words = max(1, t // 6)
    starts = np.sort(rng.choice(np.arange(t), size=min(n_words, t), replace=False))
    starts[0] = 0
    ends = np.append(starts[1:], t)
    words = [(str(rng.choice(_VOCAB)), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]
    tokens = np.zeros(t, dtype=np.int64)
    for i, (_, s, e) in enumerate(words):
        tokens[s:e] = 1000 + (i % 50)
    streams = {
        "pose/data": pose,
        "pose/normalize": pose * 0.8,
        "pose/confidence": rng.uniform(0.5, 1.0, size=(t, 104)),
        "audio/log_mel_400": rng.normal(-4, 2, size=(n_mel, 64)),
        "audio/log_mel_512": rng.normal(-8, 3, size=(n_512, 128)),
        "audio/silence": (rng.random(t) < 0.2).astype(np.float64),
        "text/tokens": tokens.astype(np.float64),
    }
    if bert:
        streams["text/bert"] = rng.normal(0, 0.5, size=(t, 768)).astype(np.float32)
    if w2v:
        streams["text/w2v"] = rng.normal(0, 0.5, size=(t, 300)).astype(np.float32)
    return streams, words


def make_synthetic_pats(
    root: str | Path,
    speakers: Sequence[str] = ("oliver", "lec_cosmic"),
    n_per_speaker: int = 6,
    seconds: tuple[float, float] = (6.0, 12.0),
    *,
    seed: int = 0,
    n_missing: int = 1,
    bert: bool = False,
) -> Path:
    """A PATS ``data`` folder of synthetic intervals (70/15/15 % train/dev/test by row order).

    The last ``n_missing`` intervals of each speaker are listed in ``missing_intervals.h5`` and
    have no feature file, as in the real release. Returns the ``data`` folder.
    """
    import h5py

    rng = np.random.default_rng(seed)
    data = Path(root)
    data.mkdir(parents=True, exist_ok=True)
    rows, missing = [], []
    for spk in speakers:
        for i in range(n_per_speaker):
            iid = f"{spk}_{i:05d}"
            dur = float(rng.uniform(*seconds))
            frac = i / max(1, n_per_speaker - n_missing)
            split = "train" if frac < 0.7 else ("dev" if frac < 0.85 else "test")
            start = 10.0 * i
            rows.append(
                [iid, spk, split, f"{start:.3f}", f"{start + dur:.3f}", f"{dur:.3f}", "https://example.org/v"]
            )
            if i >= n_per_speaker - n_missing:
                missing.append(iid)
                continue
            streams, words = synthetic_interval(rng, dur, bert=bert)
            write_pats_interval(data / "processed" / spk / f"{iid}.h5", streams, words)
    with (data / "cmu_intervals_df.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["", "interval_id", "speaker", "dataset", "start_time", "end_time", "delta_time", "video_link"]
        )
        for j, r in enumerate(rows):
            w.writerow([j, *r])
    with h5py.File(data / "missing_intervals.h5", "w") as f:
        f.create_dataset("intervals", data=np.array(missing, dtype=object), dtype=h5py.string_dtype())
    return data
