"""Training data of the neural CNMF: normalised utterances, crops, padded batches with masks.

:class:`UtteranceSet` holds normalised ``(time, channels)`` float32 arrays and, for labelled
corpora, per-frame phone ids (``-1`` where a frame has no label). :func:`make_batch` pads a list
of (possibly cropped) utterances to ``(batch, channels, time)`` with a ``(batch, 1, time)`` mask.
Crop offsets for one epoch are drawn at once from :func:`gesturekit.train.data.epoch_generator`,
a pure function of ``(seed, epoch)``, so an interrupted run resumes with the same crops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gesturekit.errors import DataError
from gesturekit.features.normalize import Normalizer
from gesturekit.records import EMARecording
from gesturekit.train.data import epoch_generator

SILENCE = ("", "sil", "sp", "pau", "<p:>", "ssil")


@dataclass
class UtteranceSet:
    """Normalised utterances (and optional per-frame phone ids) ready for batching."""

    arrays: list[np.ndarray]
    names: list[str]
    phones: list[np.ndarray | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.arrays)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(a) for a in self.arrays])

    @property
    def labelled(self) -> bool:
        return bool(self.phones) and all(p is not None for p in self.phones)


def check_recordings(records: list[EMARecording], channels: list[str], rate_hz: float) -> list[EMARecording]:
    """Every record restricted to ``channels`` at ``rate_hz``; NaNs or a wrong rate are errors."""
    out = []
    for r in records:
        if abs(float(r.rate_hz) - float(rate_hz)) > 1e-6:
            raise DataError(f"sampled at {r.rate_hz} Hz but the model expects {rate_hz} Hz", r.path)
        try:
            r = r.select(channels)
        except KeyError:
            missing = [c for c in channels if c not in r.channels]
            raise DataError(f"lacks channel(s) {missing} the model needs", r.path) from None
        bad = r.nan_report()
        if bad:
            raise DataError(f"holds non-finite samples {bad}; repair or drop them first", r.path)
        out.append(r)
    return out


def phone_inventory(records: list[EMARecording]) -> list[str]:
    """Sorted set of the non-silence phone labels of ``records`` (empty if none is labelled)."""
    labels = {s.label for r in records if r.phones is not None for s in r.phones}
    return sorted(lab for lab in labels if lab.strip().lower() not in SILENCE)


def frame_phone_ids(record: EMARecording, phone_set: list[str]) -> np.ndarray | None:
    """Per-frame phone index in ``phone_set`` (``-1``: silence, unknown or unlabelled)."""
    if record.phones is None or not phone_set:
        return None
    index = {p: i for i, p in enumerate(phone_set)}
    labels = record.phones.frame_labels(record.frames, record.rate_hz)
    return np.array([index.get(lab, -1) for lab in labels], dtype=np.int64)


def build_set(records: list[EMARecording], normalizer: Normalizer, phone_set: list[str]) -> UtteranceSet:
    arrays = [normalizer.transform(r.data) for r in records]
    phones = [frame_phone_ids(r, phone_set) for r in records]
    return UtteranceSet(arrays, [r.name for r in records], phones)


@dataclass
class Batch:
    """A padded batch: ``x`` ``(batch, channels, time)``, ``mask`` ``(batch, 1, time)``."""

    x: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    phones: list[torch.Tensor] | None = None

    def to(self, device: torch.device) -> Batch:
        return Batch(self.x.to(device), self.mask.to(device), self.lengths.to(device), self.phones)


def make_batch(arrays: list[np.ndarray], phones: list[np.ndarray | None] | None = None) -> Batch:
    """Zero-pad ``(time, channels)`` arrays into one batch with its mask and lengths."""
    if not arrays:
        raise DataError("empty batch")
    lengths = torch.tensor([len(a) for a in arrays], dtype=torch.long)
    t_max = int(lengths.max())
    x = np.zeros((len(arrays), arrays[0].shape[1], t_max), np.float32)
    for i, a in enumerate(arrays):  # numpy's transposing copies: a third of the time of torch's here
        x[i, :, : len(a)] = a.T
    x = torch.from_numpy(x)
    mask = (torch.arange(t_max)[None, :] < lengths[:, None]).unsqueeze(1).to(torch.float32)
    ph = None
    if phones is not None and all(p is not None for p in phones):
        ph = [torch.from_numpy(p) for p in phones]  # type: ignore[arg-type]
    return Batch(x, mask, lengths, ph)


def crop_offsets(lengths: np.ndarray, segment_len: int, seed: int, epoch: int) -> np.ndarray:
    """One crop start per item of the epoch (0 where the utterance is not longer than the crop)."""
    g = epoch_generator(seed, epoch, "crop")
    u = torch.rand(len(lengths), generator=g, dtype=torch.float64).numpy()
    room = np.maximum(lengths - segment_len + 1, 1) if segment_len > 0 else np.ones_like(lengths)
    return np.floor(u * room).astype(np.int64)


def epoch_items(n_utts: int, items_per_epoch: int) -> np.ndarray:
    """Utterance index of each item of an epoch (utterances repeated round-robin)."""
    return np.arange(max(items_per_epoch, 1)) % n_utts


def item_batch(
    data: UtteranceSet, items: np.ndarray, indices: list[int], offsets: np.ndarray, segment_len: int
) -> Batch:
    """The batch of epoch items ``indices`` (each a crop of ``segment_len`` frames, or whole)."""
    arrays, phones = [], []
    for i in indices:
        u = int(items[i])
        a = data.arrays[u]
        p = data.phones[u] if data.phones else None
        if segment_len > 0 and len(a) > segment_len:
            s = int(offsets[i])
            a = a[s : s + segment_len]
            p = p[s : s + segment_len] if p is not None else None
        arrays.append(a)
        phones.append(p)
    return make_batch(arrays, phones if data.labelled else None)
