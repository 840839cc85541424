"""A packed, memory-mappable store of co-speech intervals (PATS, BEAT2 or feature clips) and its loader.

Layout of ``STORE/`` (see :mod:`gesturekit.store.layout`): one contiguous ``.npy`` array per
modality and split, an index of intervals (offsets, lengths and rates per modality), per-speaker
normalisation statistics from the training split, checksums, and ``store.json`` written last.
:func:`open_corpus_store` packs a raw corpus folder once into a cache and reuses it.
"""

from gesturekit.store.cache import open_corpus_store
from gesturekit.store.dataset import PackedStore, WindowDataset, make_loader
from gesturekit.store.pack import PackReport, pack_beat2, pack_clips, pack_pats, verify_store

__all__ = [
    "PackedStore",
    "WindowDataset",
    "make_loader",
    "open_corpus_store",
    "PackReport",
    "pack_pats",
    "pack_beat2",
    "pack_clips",
    "verify_store",
]
