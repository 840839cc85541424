"""Reading a packed store: memory-mapped arrays, windows, and a batched torch Dataset.

Batch format of :class:`WindowDataset` (``ds[list_of_window_indices]`` or a batch from
:func:`make_loader`), ``B`` windows of ``L = int(time * fs)`` frames:

- ``<key>`` for every float modality asked for (``pose/normalize``, ``audio/log_mel_400``,
  ``pose/rot6d``, ...): float32 ``(B, L, D)``; ``audio/silence``: float32 ``(B, L)`` (1 = silent).
- ``text/tokens``: int64 ``(B, L)`` (one id per frame) when ``repeat_text`` is True; otherwise the
  window's word pieces with consecutive equal ids merged (as the CC-NCE loader does):
  ``text/tokens`` int64 ``(B, N)`` padded with 0, ``text/token_duration`` int64 ``(B, N)`` frames of
  each token (0 on padding; each row sums to ``L``), ``text/token_count`` int64 ``(B,)``.
- ``interval`` int64 ``(B,)`` (index into ``dataset.interval_names``), ``speaker`` int64 ``(B,)``
  (index into ``store.speakers``), ``start`` int64 ``(B,)`` first frame of the window at ``fs``.

With ``zscore=True`` float modalities are z-normalised per speaker with the store's training
statistics, ``(x - mean) / sqrt(var)`` (a zero variance counts as 1e-8^2, as the reference does).
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import DataError, FormatError
from gesturekit.store.layout import STORE_JSON, gather_rows, key_file, split_dir, window_length, window_starts

TEXT_KEY = "text/tokens"


def map_npy(path: Path) -> tuple[np.ndarray, mmap.mmap | None]:
    """A read-only array over a memory map of the ``.npy`` file ``path``, and that map (None for an
    empty array). Owning the map lets :meth:`PackedStore.release_pages` give its pages back."""
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read(fh)
        except ValueError as exc:
            raise FormatError(path, f"not a .npy array ({exc})") from None
        offset = fh.tell()
        count = int(np.prod(shape))
        if fortran or dtype.hasobject:
            raise FormatError(path, "expected a C-ordered numeric array")
        size = fh.seek(0, 2)
        if size < offset + count * dtype.itemsize:
            raise FormatError(
                path, f"truncated: {size} bytes, the header promises {offset + count * dtype.itemsize}"
            )
        if count == 0:
            return np.zeros(shape, dtype), None
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mm, dtype=dtype, count=count, offset=offset).reshape(shape), mm


class PackedStore:
    """An opened store: ``store.meta`` (store.json), memory-maps per split and key, statistics."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_path = self.path / STORE_JSON
        if not meta_path.exists():
            raise FormatError(self.path, "not a complete gesturekit store (no store.json; packing unfinished?)")
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise FormatError(meta_path, f"corrupt store metadata ({exc})") from None
        self.keys: list[str] = list(self.meta["keys"])
        self.speakers: list[str] = list(self.meta["speakers"])
        self.pose_key: str = self.meta["pose_key"]
        self._arrays: dict[tuple[str, str], np.ndarray] = {}
        self._maps: list[mmap.mmap] = []
        self._index: dict[str, dict[str, Any]] = {}

    @property
    def format(self) -> str:
        return str(self.meta["format"])

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    def array(self, split: str, key: str) -> np.ndarray:
        """The memory-mapped ``(N_frames, D)`` (or ``(N_frames,)``) array of ``key`` in ``split``."""
        if key not in self.keys:
            raise DataError(f"store {self.path} has no modality {key!r} (it has {self.keys})")
        if (split, key) not in self._arrays:
            arr, mm = map_npy(split_dir(self.path, split) / key_file(key))
            self._arrays[(split, key)] = arr
            if mm is not None:
                self._maps.append(mm)
        return self._arrays[(split, key)]

    def release_pages(self) -> None:
        """Drop this process's resident pages of every mapped array (they stay in the page cache).

        Pages of a memory map that were read count in the process's RSS until released, so a
        process that reads a whole corpus would look as large as the corpus; releasing them now and
        then keeps RSS flat at the cost of minor page faults.
        """
        for mm in self._maps:
            mm.madvise(mmap.MADV_DONTNEED)

    def index(self, split: str) -> dict[str, Any]:
        """``offsets``/``lengths``/``rates`` ``(n_intervals, n_keys)``, ``speakers``, ``names``, ``words``,
        ``starts`` (seconds into the recording) and ``audio`` (the recording's wav path or "")."""
        if split not in self.meta["splits"]:
            raise DataError(f"store {self.path} has no split {split!r} (it has {self.splits})")
        if split not in self._index:
            d = split_dir(self.path, split)
            info = json.loads((d / "intervals.json").read_text())
            self._index[split] = {
                "offsets": np.load(d / "offsets.npy"),
                "lengths": np.load(d / "lengths.npy"),
                "rates": np.load(d / "rates.npy"),
                "speakers": np.load(d / "speakers.npy").astype(np.int64),
                "names": info["names"],
                "words": info.get("words", []),
                # where each interval starts in its recording, and the recording (stores packed
                # before these were recorded: whole recordings, unknown audio)
                "starts": np.asarray(info.get("starts", [0.0] * len(info["names"])), dtype=np.float64),
                "audio": list(info.get("audio", [""] * len(info["names"]))),
            }
        return self._index[split]

    def durations(self, split: str) -> np.ndarray:
        """Pose duration of each interval in seconds ``(n_intervals,)``."""
        ix = self.index(split)
        k = self.keys.index(self.pose_key)
        return ix["lengths"][:, k] / ix["rates"][:, k]

    def interval(self, split: str, i: int) -> dict[str, np.ndarray]:
        """Every modality of interval ``i`` at its own rate (copies)."""
        ix = self.index(split)
        out = {}
        for j, key in enumerate(self.keys):
            o, n = int(ix["offsets"][i, j]), int(ix["lengths"][i, j])
            out[key] = np.array(self.array(split, key)[o : o + n])
        return out

    def stats(self, speaker: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Training-split ``{key: (mean (1, 1, D), var (1, 1, D))}`` of a speaker (muvar layout)."""
        from gesturekit.store.stats import read_muvar

        f = self.path / "muvar" / f"{speaker}.h5"
        if not f.exists():
            raise DataError(f"store {self.path} has no training statistics for speaker {speaker!r}")
        return read_muvar(f)


class WindowDataset:
    """Windows of one split of a :class:`PackedStore`; index with a list of window ids for a batch.

    Every ``release_every_bytes`` of windows read, the store's mapped pages are released
    (:meth:`PackedStore.release_pages`), so reading a corpus of any size keeps RSS bounded.

    ``keys`` default to every modality of the store; ``fs`` is the frame rate every modality is
    delivered at (15 for PATS/CC-NCE); ``time`` seconds per window; ``hop`` frames between window
    starts (0: non-overlapping). ``speakers`` restricts to some speakers of the store.
    """

    release_every_bytes: int = 256 << 20

    def __init__(
        self,
        store: PackedStore | str | Path,
        split: str = "train",
        *,
        keys: Sequence[str] | None = None,
        time: float = 4.3,
        fs: float = 15.0,
        hop: int = 0,
        repeat_text: bool = False,
        zscore: bool = False,
        speakers: Sequence[str] | None = None,
    ) -> None:
        self.store = store if isinstance(store, PackedStore) else PackedStore(store)
        self.split = split
        self.keys = list(keys) if keys is not None else list(self.store.keys)
        for k in self.keys:
            if k not in self.store.keys:
                raise DataError(f"store {self.store.path} has no modality {k!r} (it has {self.store.keys})")
        self.time, self.fs, self.hop = float(time), float(fs), int(hop)
        self.length = window_length(self.time, self.fs)
        self.repeat_text = bool(repeat_text)
        ix = self.store.index(split)
        self.interval_names: list[str] = ix["names"]
        interval, start = window_starts(self.store.durations(split), self.time, self.fs, self.hop)
        if speakers is not None:
            wanted = [self.store.speakers.index(s) for s in speakers if s in self.store.speakers]
            if len(wanted) != len(list(speakers)):
                raise DataError(f"unknown speaker(s) in {list(speakers)}; store has {self.store.speakers}")
            keep = np.isin(ix["speakers"][interval], wanted)
            interval, start = interval[keep], start[keep]
        self.window_interval, self.window_start = interval, start
        self._cols = {k: self.store.keys.index(k) for k in self.keys}
        self._arrays = {k: self.store.array(split, k) for k in self.keys}
        # bytes of the maps one window reads (rows at each key's rate, plus a page either side)
        rates = ix["rates"].max(axis=0) if len(ix["names"]) else np.ones(len(self.store.keys))
        self._window_bytes = sum(
            int((self.time * rates[self._cols[k]] + 1) * self._arrays[k][:1].nbytes) + 8192 for k in self.keys
        )
        self._touched = 0
        self._norm: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        if zscore:
            self._norm = self._speaker_stats()

    def _speaker_stats(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per key ``(mean (S, D), std (S, D))`` stacked over the store's speakers."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        per = {
            s: self.store.stats(s)
            for s in self.store.speakers
            if (self.store.path / "muvar" / f"{s}.h5").exists()
        }
        for k in self.keys:
            if k == TEXT_KEY or k == "audio/silence":
                continue
            dim = self._arrays[k].shape[1] if self._arrays[k].ndim == 2 else 1
            mean = np.zeros((len(self.store.speakers), dim), np.float32)
            std = np.ones((len(self.store.speakers), dim), np.float32)
            for s, st in per.items():
                if k in st:
                    i = self.store.speakers.index(s)
                    mean[i] = st[k][0].reshape(-1)
                    std[i] = np.sqrt(st[k][1].reshape(-1))
            out[k] = (mean, np.where(std == 0, 1e-8, std))
        return out

    def __len__(self) -> int:
        return len(self.window_interval)

    def __getitem__(self, idx: int | Sequence[int] | np.ndarray) -> dict[str, Any]:
        """One window (``int``; arrays without the batch axis) or a batch (a sequence of ids)."""
        if isinstance(idx, int | np.integer):
            batch = self.get_batch(np.array([int(idx)]))
            return {k: v[0] for k, v in batch.items()}
        return self.get_batch(np.asarray(idx, dtype=np.int64))

    def get_batch(self, ids: np.ndarray) -> dict[str, Any]:
        """The batch dict described in the module docstring, as torch tensors, vectorised."""
        import torch

        ids = np.asarray(ids, dtype=np.int64)
        self._touched += len(ids) * self._window_bytes
        if self._touched > self.release_every_bytes:  # keep RSS flat however large the corpus
            self.store.release_pages()
            self._touched = 0
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"window index out of range 0..{len(self) - 1}")
        ix = self.store.index(self.split)
        iv = self.window_interval[ids]
        starts = self.window_start[ids]
        spk = ix["speakers"][iv]
        out: dict[str, Any] = {}
        for k in self.keys:
            c = self._cols[k]
            rows = gather_rows(
                ix["offsets"][iv, c], ix["lengths"][iv, c], ix["rates"][iv, c], starts, self.length, self.fs
            )
            arr = self._arrays[k]
            # sorted unique rows read the memmap in file order; the inverse puts them back
            uniq, inv = np.unique(rows.ravel(), return_inverse=True)
            vals = np.asarray(arr[uniq])[inv].reshape(*rows.shape, *arr.shape[1:])
            if k == TEXT_KEY:
                out.update(self._text(vals.astype(np.int64)))
                continue
            vals = vals.astype(np.float32, copy=False)
            if self._norm is not None and k in self._norm:
                mean, std = self._norm[k]
                vals = (vals - mean[spk][:, None, :]) / std[spk][:, None, :]
            out[k] = torch.from_numpy(np.ascontiguousarray(vals))
        out["interval"] = torch.from_numpy(iv.copy())
        out["speaker"] = torch.from_numpy(spk.copy())
        out["start"] = torch.from_numpy(starts.copy())
        return out

    def _text(self, tok: np.ndarray) -> dict[str, Any]:
        import torch

        if self.repeat_text:
            return {TEXT_KEY: torch.from_numpy(tok)}
        tokens, duration, count = merge_tokens(tok)
        return {
            TEXT_KEY: torch.from_numpy(tokens),
            "text/token_duration": torch.from_numpy(duration),
            "text/token_count": torch.from_numpy(count),
        }


def merge_tokens(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame ids ``(B, L)`` -> ``(tokens (B, N), durations (B, N), counts (B,))``, vectorised.

    Consecutive equal ids merge into one token whose duration is the run length; rows are padded
    with 0 to the longest row ``N``.
    """
    b, length = frames.shape
    new = np.ones((b, length), dtype=bool)
    new[:, 1:] = frames[:, 1:] != frames[:, :-1]
    pos = np.cumsum(new, axis=1) - 1
    count = pos[:, -1] + 1 if length else np.zeros(b, np.int64)
    n = int(count.max()) if b else 0
    flat = (np.arange(b)[:, None] * n + pos).ravel()
    duration = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.int64)
    tokens = np.zeros((b, n), dtype=np.int64)
    rows, cols = np.nonzero(new)
    tokens[rows, pos[rows, cols]] = frames[rows, cols]
    return tokens, duration, count.astype(np.int64)


def make_loader(
    dataset: WindowDataset,
    batch_size: int = 32,
    *,
    shuffle: bool = True,
    drop_last: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> Any:
    """A torch DataLoader that fetches whole batches at once (``dataset[list_of_ids]``).

    Shuffling uses a ``torch.Generator`` seeded with ``seed`` so one seed fixes the order.
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    gen = torch.Generator().manual_seed(int(seed))
    sampler = (
        RandomSampler(range(len(dataset)), generator=gen) if shuffle else SequentialSampler(range(len(dataset)))
    )
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        sampler=BatchSampler(sampler, batch_size=batch_size, drop_last=drop_last),
        batch_size=None,
        num_workers=num_workers,
    )
