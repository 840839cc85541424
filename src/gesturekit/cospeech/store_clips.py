"""PATS data folders and packed stores (the co-speech data module) as feature clips for the models.

Every stream is taken at the pose frame times ``n / fps`` (the frame of each stream's own rate
that contains that time). Pose: ``pose/normalize`` (PATS: x of 52 joints then y) reduced to the
model joints (nose and eyes dropped), or ``pose/rot6d`` (BEAT2 stores). Audio:
``audio/log_mel_400``. Text: ``text/bert`` (PATS's stored BERT vectors) when present, else the
hashed vectors of the ``text/tokens`` ids, else zeros; :func:`text_kind` names which (per
interval; the corpus's :attr:`~gesturekit.cospeech.data.Corpus.text_features` combines them).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from gesturekit.cospeech.beat2_clips import SMPLX_6D
from gesturekit.cospeech.data import PATS_FORMAT, Corpus, FeatureClip, PoseFormat, combine_text_features
from gesturekit.errors import DataError

AUDIO_KEY = "audio/log_mel_400"
HASH_DIM = 64


def _at(arr: np.ndarray, rate: float, n: int, fps: float) -> np.ndarray:
    idx = np.floor(np.arange(n) / fps * rate + 1e-6).astype(np.int64)
    return np.asarray(arr)[np.clip(idx, 0, len(arr) - 1)]


def token_vectors(ids: np.ndarray) -> np.ndarray:
    """``(frames,)`` WordPiece ids -> ``(frames, HASH_DIM)`` fixed unit vectors, one per id (0: zeros)."""
    uniq = np.unique(ids)
    table = {}
    for u in uniq:
        rng = np.random.default_rng(zlib.crc32(str(int(u)).encode()))
        v = rng.normal(size=HASH_DIM)
        table[int(u)] = v / np.linalg.norm(v) if u != 0 else np.zeros(HASH_DIM)
    return np.stack([table[int(i)] for i in ids]).astype(np.float32)


def text_kind(streams: dict[str, np.ndarray], token_ids: bool = False) -> str:
    """The text features :func:`clip_from_streams` makes of ``streams``: "bert", "tokens", "none"
    or, with ``token_ids``, "token-ids"."""
    if token_ids:
        return "token-ids"
    if "text/bert" in streams:
        return "bert"
    return "tokens" if "text/tokens" in streams else "none"


def clip_from_streams(
    name: str,
    speaker: str,
    split: str,
    streams: dict[str, np.ndarray],
    rates: dict[str, float],
    fps: float = 15.0,
    token_ids: bool = False,
) -> tuple[FeatureClip, PoseFormat]:
    """One interval's streams -> a :class:`FeatureClip` at ``fps`` and its pose format.

    ``token_ids``: the text is the interval's ``text/tokens`` ids themselves, ``(frames, 1)``
    (exact in float32), for a model with a trainable token embedding (``text_mode: tokens``).
    """
    if "pose/normalize" in streams:
        key, fmt = "pose/normalize", PATS_FORMAT
    elif "pose/rot6d" in streams:
        key, fmt = "pose/rot6d", SMPLX_6D
    else:
        raise DataError(f"interval {name}: no pose/normalize or pose/rot6d stream")
    if AUDIO_KEY not in streams:
        raise DataError(f"interval {name}: no {AUDIO_KEY} stream")
    n = int(np.floor(len(streams[key]) / rates[key] * fps + 1e-6))
    pose = _at(streams[key], rates[key], n, fps).astype(np.float32)
    if fmt is PATS_FORMAT:
        joints = pose.reshape(n, 2, 52)
        pose = joints[:, :, fmt.model_joints].reshape(n, -1)
    audio = _at(streams[AUDIO_KEY], rates[AUDIO_KEY], n, fps).astype(np.float32)
    kind = text_kind(streams, token_ids)
    if kind == "token-ids":
        if "text/tokens" not in streams:
            raise DataError(f"interval {name}: no text/tokens stream, which text_mode 'tokens' needs")
        text = _at(streams["text/tokens"], rates["text/tokens"], n, fps).reshape(n, 1).astype(np.float32)
    elif kind == "bert":
        text = _at(streams["text/bert"], rates["text/bert"], n, fps).astype(np.float32)
    elif kind == "tokens":
        text = token_vectors(_at(streams["text/tokens"], rates["text/tokens"], n, fps).reshape(n))
    else:
        text = np.zeros((n, HASH_DIM), np.float32)
    return FeatureClip(name, speaker, split, audio, text, pose, fps), fmt


def load_store_corpus(path: Path, speaker: str | None, fps: float = 15.0, token_ids: bool = False) -> Corpus:
    from gesturekit.store import PackedStore

    store = PackedStore(path)
    if speaker and speaker not in store.speakers:
        raise DataError(f"unknown speaker {speaker!r}; the store has {store.speakers}", path=path)
    clips, fmt, kinds = [], None, set()
    for split in store.splits:
        ix = store.index(split)
        for i, nm in enumerate(ix["names"]):
            spk = store.speakers[int(ix["speakers"][i])]
            if speaker and spk != speaker:
                continue
            rates = {k: float(ix["rates"][i, j]) for j, k in enumerate(store.keys)}
            streams = store.interval(split, i)
            clip, fmt = clip_from_streams(str(nm), spk, split, streams, rates, fps, token_ids)
            clips.append(clip)
            kinds.add(text_kind(streams, token_ids))
    if not clips or fmt is None:
        raise DataError(f"no intervals for speaker {speaker!r}", path=path)
    return Corpus(clips, fmt, fps, str(path), combine_text_features(kinds))


def load_pats_corpus(root: Path, speaker: str | None, fps: float = 15.0, token_ids: bool = False) -> Corpus:
    from gesturekit.io.pats import PatsCorpus, interval_keys, read_pats_interval

    pc = PatsCorpus(root)
    keys = ["pose/normalize", AUDIO_KEY]
    clips, kinds = [], set()
    for iv in pc.intervals([speaker] if speaker else None):
        have = interval_keys(iv.path)
        wanted = ("text/tokens",) if token_ids else ("text/bert", "text/tokens")
        text = [k for k in wanted if k in have][:1]
        c = read_pats_interval(iv.path, keys + text, speaker=iv.speaker, split=iv.split)
        clip, _ = clip_from_streams(iv.interval_id, iv.speaker, iv.split, c.streams, c.rates, fps, token_ids)
        clips.append(clip)
        kinds.add(text_kind(c.streams, token_ids))
    if not clips:
        raise DataError(f"no intervals for speaker {speaker!r}", path=root)
    return Corpus(clips, PATS_FORMAT, fps, str(root), combine_text_features(kinds))
