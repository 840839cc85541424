"""Hashed word vectors: a fixed pseudo-random unit vector per spoken word, at pose frames.

The text features gesturekit computes for a transcript without any model (BEAT2 training data,
``cospeech generate`` for models trained on it): each lower-cased word maps to a unit vector seeded
by its CRC-32, and a frame gets the vector of the word spoken at the frame's centre (zeros in
silences and pauses). Training (the packed ``text/words`` key) and generation call the same
:func:`words_at_frames`, so a model always sees the features it was trained on.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from gesturekit.records import Segment

#: Width of the hashed word vectors of BEAT2 corpora.
WORD_DIM = 64
#: Labels that mark silence or a pause in BEAT2/MFA word tiers, not a word.
PAUSE_LABELS = ("", "sil", "sp", "<p:>", "pau")


def hashed_word_vector(word: str, dim: int) -> np.ndarray:
    """The unit vector ``(dim,)`` of ``word`` (case and surrounding space ignored)."""
    rng = np.random.default_rng(zlib.crc32(word.strip().lower().encode("utf-8")))
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def words_at_frames(words: Sequence[Segment] | None, n_frames: int, fps: float, dim: int) -> np.ndarray:
    """``(n_frames, dim)``: the vector of the word spoken at each frame's centre, zeros elsewhere.

    Where word intervals overlap, the later word in ``words`` wins.
    """
    out = np.zeros((n_frames, dim), dtype=np.float32)
    spoken = [w for w in (words or ()) if w.label.strip().lower() not in PAUSE_LABELS]
    if not spoken or n_frames == 0:
        return out
    centres = (np.arange(n_frames) + 0.5) / fps
    starts = np.array([w.start for w in spoken])
    ends = np.array([w.end for w in spoken])
    # frames [first, last) of each word, found by binary search instead of a mask per word
    first = np.searchsorted(centres, starts, side="left")
    last = np.searchsorted(centres, ends, side="left")
    owner = np.full(n_frames, -1, dtype=np.int64)
    for i in np.flatnonzero(last > first):  # one slice assignment per word, in order
        owner[first[i] : last[i]] = i
    labels = sorted({w.label.strip().lower() for w in spoken})
    table = np.stack([hashed_word_vector(lab, dim) for lab in labels])
    vocab = {lab: j for j, lab in enumerate(labels)}
    word_row = np.array([vocab[w.label.strip().lower()] for w in spoken])
    hit = owner >= 0
    out[hit] = table[word_row[owner[hit]]]
    return out
