"""Windows per second from the packed store vs per-interval HDF5 reads, and vs a CPU training step.

Builds a synthetic PATS corpus (``--intervals`` PATS-format files, 2,000 by default, written in a
temporary folder with the real layout, ``text/meta`` by pandas), packs it, then delivers training
windows (4.3 s at 15 fps = 64 frames, hop 5, batch 32, shuffled; keys ``pose/data``,
``pose/normalize``, ``audio/log_mel_400``, ``audio/silence``, ``text/tokens`` with tokens merged)
two ways:

- *per-interval HDF5* (how the reference loader reads): a map-style dataset whose
  ``__getitem__`` opens the window's interval file with h5py, slices every modality (audio over
  its declared 103 fps span, then every 7th frame), and the batch is collated with ``np.stack``;
- *packed store*: :class:`gesturekit.store.WindowDataset` through :func:`make_loader` (memory-mapped
  arrays, one vectorised gather per modality per batch).

Also times one training step (forward + backward + AdamW, batch 32) of a small conv model
(audio (32, 64, 64) -> pose (32, 64, 104), ~0.5 M parameters) on the CPU, to show the loader's
share of a step. Goal: store >= 20x the per-file reads, loader time << step time.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import _common

KEYS = ["pose/data", "pose/normalize", "audio/log_mel_400", "audio/silence", "text/tokens"]


def _write(args: tuple[Path, str, float, int]) -> None:
    from gesturekit.io.pats_write import synthetic_interval, write_pats_interval

    path, _, seconds, seed = args
    streams, words = synthetic_interval(np.random.default_rng(seed), seconds)
    write_pats_interval(path, streams, words)


def make_corpus(root: Path, n: int, workers: int) -> Path:
    import csv

    import h5py

    data = root / "pats" / "data"
    rng = np.random.default_rng(0)
    speakers = ["oliver", "lec_cosmic", "seth", "conan"]
    rows, jobs = [], []
    for i in range(n):
        spk = speakers[i % len(speakers)]
        iid = f"{spk}_{i:06d}"
        dur = float(rng.uniform(6.0, 14.0))
        split = "train" if i % 10 < 8 else ("dev" if i % 10 == 8 else "test")
        rows.append([i, iid, spk, split, 0.0, dur, dur, ""])
        jobs.append((data / "processed" / spk / f"{iid}.h5", spk, dur, i))
    for spk in speakers:
        (data / "processed" / spk).mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, jobs, chunksize=16))
    with (data / "cmu_intervals_df.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["", "interval_id", "speaker", "dataset", "start_time", "end_time", "delta_time", "video_link"]
        )
        w.writerows(rows)
    with h5py.File(data / "missing_intervals.h5", "w") as f:
        f.create_dataset("intervals", data=np.array([], dtype=object), dtype=h5py.string_dtype())
    return data


class PerFileWindows:
    """The reference way: open the interval's HDF5 file for every window and slice it."""

    def __init__(self, paths: list[Path], durations: np.ndarray, hop: int = 5, length: int = 64) -> None:
        from gesturekit.store.layout import window_starts

        self.paths = paths
        self.interval, self.start = window_starts(durations, 4.3, 15.0, hop)
        self.length = length

    def __len__(self) -> int:
        return len(self.interval)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        import h5py

        s = int(self.start[i])
        with h5py.File(self.paths[int(self.interval[i])], "r") as f:
            out = {
                k: f[k][s : s + self.length]
                for k in ("pose/data", "pose/normalize", "audio/silence", "text/tokens")
            }
            a0 = int(round(s * 103 / 15))
            mel = f["audio/log_mel_400"][a0 : a0 + 442][::7][: self.length]
            if len(mel) < self.length:
                mel = np.concatenate([mel, np.repeat(mel[-1:], self.length - len(mel), 0)])
            out["audio/log_mel_400"] = mel
        return out


def collate(items: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    import torch

    from gesturekit.store.dataset import merge_tokens

    out = {
        k: torch.from_numpy(np.stack([it[k] for it in items]).astype(np.float32))
        for k in items[0]
        if k != "text/tokens"
    }
    tok, dur, cnt = merge_tokens(np.stack([it["text/tokens"] for it in items]).astype(np.int64))
    out["text/tokens"], out["text/token_duration"], out["text/token_count"] = map(
        torch.from_numpy, (tok, dur, cnt)
    )
    return out


def small_model_step_s(batch: dict[str, Any], repeats: int = 10) -> tuple[float, int]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(64, 256, 5, padding=2), nn.LeakyReLU(0.2), nn.BatchNorm1d(256),
        nn.Conv1d(256, 256, 5, padding=2), nn.LeakyReLU(0.2), nn.BatchNorm1d(256),
        nn.Conv1d(256, 104, 3, padding=1),
    )  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    x = batch["audio/log_mel_400"].transpose(1, 2)
    y = batch["pose/normalize"].transpose(1, 2)

    def step() -> None:
        opt.zero_grad()
        loss = (model(x) - y).abs().mean()
        loss.backward()
        opt.step()

    return _common.median_time(step, repeats=repeats, warmup=2), sum(p.numel() for p in model.parameters())


def run(args) -> dict[str, Any]:
    from gesturekit.io.pats import PatsCorpus
    from gesturekit.store import PackedStore, WindowDataset, make_loader, pack_pats

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gk-store-bench-") as tmp:
        tmp_p = Path(tmp)
        t0 = time.perf_counter()
        data = make_corpus(tmp_p, args.intervals, args.workers)
        figures["corpus_intervals"] = args.intervals
        figures["corpus_write_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        pack_pats(data, tmp_p / "store", keys=KEYS, workers=args.workers)
        figures["pack_s"] = round(time.perf_counter() - t0, 2)

        store = PackedStore(tmp_p / "store")
        ds = WindowDataset(store, "train", keys=KEYS, time=4.3, fs=15, hop=5, repeat_text=False)
        figures["train_windows"] = len(ds)
        # packed store: full shuffled epochs of batches of 32
        n_batches = min(args.batches, len(ds) // 32)
        t0 = time.perf_counter()
        seen = 0
        for i, batch in enumerate(make_loader(ds, 32, seed=0, drop_last=True)):
            seen += int(batch["pose/data"].shape[0])
            if i + 1 >= n_batches:
                break
        store_s = time.perf_counter() - t0
        figures["store_windows_per_s"] = round(seen / store_s, 1)
        figures["store_ms_per_batch32"] = round(1000 * store_s / (seen / 32), 3)

        # per-interval HDF5 reads, same windows, same order
        corpus = PatsCorpus(data)
        by_name = {iv.interval_id: iv.path for iv in corpus.intervals(splits=("train",))}
        paths = [by_name[n] for n in ds.interval_names]
        ref = PerFileWindows(paths, store.durations("train"))
        order = np.random.default_rng(0).permutation(len(ref))[: 32 * args.ref_batches]
        t0 = time.perf_counter()
        for j in range(0, len(order), 32):
            collate([ref[int(i)] for i in order[j : j + 32]])
        ref_s = time.perf_counter() - t0
        figures["per_file_windows_per_s"] = round(len(order) / ref_s, 1)
        figures["per_file_ms_per_batch32"] = round(1000 * ref_s / (len(order) / 32), 3)
        figures["speedup"] = round(figures["store_windows_per_s"] / figures["per_file_windows_per_s"], 1)

        step_s, n_params = small_model_step_s(next(iter(make_loader(ds, 32, seed=1))))
        figures["small_model_params"] = n_params
        figures["small_model_step_ms"] = round(1000 * step_s, 2)
        figures["loader_share_of_step"] = round(figures["store_ms_per_batch32"] / (1000 * step_s), 4)
    return figures


if __name__ == "__main__":
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--intervals", type=int, default=2000, help="synthetic PATS intervals (default 2000)")
    p.add_argument("--batches", type=int, default=300, help="store batches to time (default 300)")
    p.add_argument("--ref-batches", type=int, default=20, help="per-file batches to time (default 20)")
    p.add_argument("--workers", type=int, default=2, help="processes for writing and packing")
    _common.main("store_speed", run, p)
