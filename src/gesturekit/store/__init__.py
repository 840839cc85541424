"""A packed, memory-mappable store of co-speech intervals (PATS or BEAT2) and its torch loader.

Layout of ``STORE/`` (see :mod:`gesturekit.store.layout`): one contiguous ``.npy`` array per
modality and split, an index of intervals (offsets, lengths and rates per modality), per-speaker
normalisation statistics from the training split, checksums, and ``store.json`` written last.
"""

from gesturekit.store.dataset import PackedStore, WindowDataset, make_loader
from gesturekit.store.pack import PackReport, pack_beat2, pack_pats, verify_store

__all__ = [
    "PackedStore",
    "WindowDataset",
    "make_loader",
    "PackReport",
    "pack_pats",
    "pack_beat2",
    "verify_store",
]
