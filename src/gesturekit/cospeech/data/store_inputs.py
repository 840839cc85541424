"""What a co-speech model reads from a packed store, batch by batch, never the whole corpus.

Every path into a model goes through a :class:`~gesturekit.store.PackedStore` (a raw PATS, BEAT2
or feature-clip folder is packed once into the store cache by :func:`open_store`) and through
the store's one windowing implementation, :class:`~gesturekit.store.WindowDataset`: training and
dev batches are gathered from the memory maps by window index, a whole interval for sampling by
:meth:`~gesturekit.store.WindowDataset.span`. :class:`StoreInputs` says which keys are the model's
pose, audio and text and turns a gathered batch into model arrays:

- pose: ``pose/normalize`` (PATS: x of 52 joints then y) reduced to the model joints (nose and
  eyes dropped) by the gather itself (``columns``), ``pose/rot6d`` (BEAT2: 55 joints x 6-D
  rotations) or ``pose/vector`` (feature clips, in their own pose format);
- audio: ``audio/log_mel_400`` (PATS, BEAT2) or ``audio/features`` (clips);
- text, of the kind :data:`~gesturekit.cospeech.data.types.TEXT_FEATURES` names: ``text/bert``
  (PATS's BERT vectors), ``text/tokens`` ids as fixed hashed vectors (:func:`token_vectors`) or,
  for ``text_mode: tokens`` models, as the ids themselves ``(B, T, 1)``; ``text/words`` (BEAT2's
  hashed word vectors); ``text/features`` (clips); zeros where a store has no text.

Every modality is taken at the pose frame times (the store's nearest-previous-frame rule).
:func:`feature_moments` sums what the z-score normalisers need, one interval at a time;
:func:`sample_windows` gathers a seeded sample of windows in chunks (for the k-means clusters and
the baselines). After each gather the store's pages are released from the process
(:meth:`~gesturekit.store.PackedStore.release_pages`), so resident memory stays flat over an epoch.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.cospeech.data.types import (
    PATS_FORMAT,
    SMPLX_6D,
    TEXT_FEATURES,
    TEXT_MODES,
    WORDPIECE_VOCAB,
    PoseFormat,
)
from gesturekit.errors import ConfigError, DataError
from gesturekit.store import PackedStore, WindowDataset
from gesturekit.store.sources import CORPUS_SOURCES

HASH_DIM = 64
#: the audio keys a model reads (the pose key is its corpus source's), and the text key of each kind
AUDIO_KEYS = ("audio/log_mel_400", "audio/features")
TEXT_KEYS = {"bert": "text/bert", "tokens": "text/tokens", "token-ids": "text/tokens", "words": "text/words"}


def token_vectors(ids: np.ndarray) -> np.ndarray:
    """WordPiece ids of any shape -> ``(*shape, HASH_DIM)`` fixed unit vectors, one per id (0: zeros)."""
    ids = np.asarray(ids).astype(np.int64)
    uniq, inv = np.unique(ids, return_inverse=True)
    table = np.zeros((len(uniq), HASH_DIM), np.float64)
    for j, u in enumerate(uniq.tolist()):  # one vector per distinct id, not per frame
        if u != 0:
            v = np.random.default_rng(zlib.crc32(str(u).encode())).normal(size=HASH_DIM)
            table[j] = v / np.linalg.norm(v)
    return table[inv.reshape(ids.shape)].astype(np.float32)


# ----------------------------------------------------------------------------- opening a store


def open_store(
    data: str | Path, cache: str | Path | None = None, speaker: str | None = None, holdout: float = 0.2
) -> PackedStore:
    """The packed store of ``data``: a store as it is, or a PATS / BEAT2 / feature-clip folder packed
    once into the store cache and reused while its sources are unchanged
    (:func:`gesturekit.store.cache.open_corpus_store`; ``holdout``: BEAT2's time split without a CSV)."""
    from gesturekit.store.cache import open_corpus_store

    path = Path(data)
    if not path.exists():
        raise DataError("data path not found", path=path)
    return open_corpus_store(path, cache=cache, speakers=[speaker] if speaker else None, holdout=holdout)


# ----------------------------------------------------------------------------- model inputs


def store_text_features(store: PackedStore) -> str:
    """The kind of a store's default text (a key of :data:`TEXT_FEATURES`)."""
    kind = store.meta.get("text_features")
    if kind:
        return str(kind)
    if store.format == "pats":
        return "bert" if "text/bert" in store.keys else ("tokens" if "text/tokens" in store.keys else "none")
    if store.format == "beat2":
        return "words" if "text/words" in store.keys else "none"
    return "unknown"


@dataclass
class StoreInputs:
    """The model's view of a store: keys, pose format, frame rate and text kind (see module docstring)."""

    store: PackedStore
    pose_key: str
    audio_key: str
    text_key: str | None
    text_features: str
    pose_format: PoseFormat
    fps: float
    speaker: str | None = None

    @classmethod
    def from_store(
        cls, store: PackedStore, *, text_mode: str = "features", fps: float = 15.0, speaker: str | None = None
    ) -> StoreInputs:
        if text_mode not in TEXT_MODES:
            raise ConfigError(f"model_options.text_mode must be one of {list(TEXT_MODES)}, got {text_mode!r}")
        fmt_name = store.format
        if fmt_name not in CORPUS_SOURCES:
            raise DataError(f"store format {fmt_name!r} is not one a co-speech model reads", path=store.path)
        pose_key = CORPUS_SOURCES[fmt_name].pose_key
        audio_key = next((k for k in AUDIO_KEYS if k in store.keys), None)
        if pose_key not in store.keys or audio_key is None:
            raise DataError(f"the store has no {pose_key} or audio features ({store.keys})", path=store.path)
        if speaker and speaker not in store.speakers:
            raise DataError(f"unknown speaker {speaker!r}; the store has {store.speakers}", path=store.path)
        kind = store_text_features(store)
        if fmt_name == "clips":
            fmt = PoseFormat.from_dict(store.meta["pose_format"])
            fps = float(store.meta["fps"])
            text_key: str | None = "text/features"
        else:
            fmt = PATS_FORMAT if fmt_name == "pats" else SMPLX_6D
            text_key = TEXT_KEYS.get(kind)
        if text_mode == "tokens" and kind != "token-ids":
            if "text/tokens" not in store.keys:
                raise DataError(
                    "model_options.text_mode 'tokens' needs WordPiece token ids (text/tokens); this data "
                    f"holds {TEXT_FEATURES.get(kind, kind)}",
                    path=store.path,
                )
            kind, text_key = "token-ids", "text/tokens"
        elif text_mode == "features" and kind == "token-ids":
            raise DataError("these clips hold token ids, which only model_options.text_mode 'tokens' takes",
                            path=store.path)  # fmt: skip
        if text_key is not None and text_key not in store.keys:
            text_key = None
        return cls(store, pose_key, audio_key, text_key, kind, fmt, float(fps), speaker)

    # -- shapes ------------------------------------------------------------------------------
    @property
    def pose_columns(self) -> np.ndarray | None:
        """PATS: the columns of the model joints (x then y) in the 104-d ``pose/normalize``."""
        if self.pose_format.kind != "pats" or self.pose_key != "pose/normalize":
            return None
        j = np.asarray(self.pose_format.model_joints)
        return np.concatenate([j, j + len(self.pose_format.joint_names)])

    @property
    def keys(self) -> list[str]:
        return [self.pose_key, self.audio_key] + ([self.text_key] if self.text_key else [])

    @property
    def audio_dim(self) -> int:
        return int(self.store.meta["keys"][self.audio_key]["dim"][0])

    @property
    def pose_dim(self) -> int:
        cols = self.pose_columns
        return len(cols) if cols is not None else int(self.store.meta["keys"][self.pose_key]["dim"][0])

    @property
    def text_dim(self) -> int:
        if self.text_features == "token-ids":
            return 1
        if self.text_key is None or self.text_features == "tokens":
            return HASH_DIM
        return int(self.store.meta["keys"][self.text_key]["dim"][0])

    # -- datasets ----------------------------------------------------------------------------
    def dataset(self, split: str, window: int, hop: int, keys: Sequence[str] | None = None) -> WindowDataset:
        """Windows of ``window`` frames every ``hop`` (0: non-overlapping) of ``split`` at ``fps``."""
        cols = self.pose_columns
        return WindowDataset(
            self.store, split, keys=list(keys or self.keys), time=window / self.fps, fs=self.fps, hop=hop,
            repeat_text=True, speakers=[self.speaker] if self.speaker else None,
            columns={self.pose_key: cols} if cols is not None else None,
        )  # fmt: skip

    def arrays(self, batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A gathered batch -> ``(audio (B, T, F), text (B, T, D), pose (B, T, P))`` float32 in data units."""
        pose = batch[self.pose_key].numpy()
        audio = batch[self.audio_key].numpy()
        b, t = pose.shape[:2]
        if self.text_key is None:
            text = np.zeros((b, t, self.text_dim), np.float32)
        elif self.text_features == "token-ids":
            text = batch[self.text_key].numpy().astype(np.float32).reshape(b, t, 1)
        elif self.text_features == "tokens":
            text = token_vectors(batch[self.text_key].numpy())
        else:
            text = batch[self.text_key].numpy()
        return audio, text, pose

    def interval(self, ds: WindowDataset, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One whole interval of ``ds``'s split at ``fps``: ``(audio, text, pose)`` without the batch axis."""
        a, t, p = self.arrays(ds.span(i))
        self.store.release_pages()
        return a[0], t[0], p[0]

    def check_token_ids(self, splits: Sequence[str], chunk: int = 1 << 20) -> None:
        """``text_mode: tokens`` needs WordPiece ids in range: checked over ``splits`` in chunks."""
        if self.text_features != "token-ids" or self.text_key is None:
            return
        for split in splits:
            arr = self.store.array(split, self.text_key)
            for i in range(0, len(arr), chunk):
                t = np.asarray(arr[i : i + chunk])
                if len(t) and (t.min() < 0 or t.max() >= WORDPIECE_VOCAB or np.any(t != np.round(t))):
                    raise DataError(
                        f"{split}: {self.text_key} holds values that are not WordPiece ids "
                        f"(0..{WORDPIECE_VOCAB - 1})",
                        path=self.store.path,
                    )
            self.store.release_pages()


def iter_chunks(ds: WindowDataset, ids: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """``(ids, batch)`` for consecutive chunks of ``ids``, the store's pages released after each."""
    for i in range(0, len(ids), size):
        part = ids[i : i + size]
        batch = ds.get_batch(part)
        yield part, batch
        ds.store.release_pages()


def feature_moments(inputs: StoreInputs, ds: WindowDataset) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """``{"pose"|"audio": (frames, sum, sum of squares)}`` over every frame of ``ds``'s intervals at
    ``fps`` (float64), one interval at a time."""
    out = {
        "pose": (0.0, np.zeros(inputs.pose_dim), np.zeros(inputs.pose_dim)),
        "audio": (0.0, np.zeros(inputs.audio_dim), np.zeros(inputs.audio_dim)),
    }
    keep = np.unique(ds.window_interval)  # the speaker's intervals long enough for a window
    for i in keep.tolist():
        b = ds.span(int(i))
        for name, key in (("pose", inputs.pose_key), ("audio", inputs.audio_key)):
            x = b[key].numpy()[0].astype(np.float64)
            n, s, ss = out[name]
            out[name] = (n + len(x), s + x.sum(0), ss + (x * x).sum(0))
        inputs.store.release_pages()
    return out


def sample_windows(ds: WindowDataset, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` window indices of ``ds`` drawn without replacement from ``seed``, sorted."""
    rng = np.random.default_rng(seed)
    if len(ds) <= n:
        return np.arange(len(ds))
    return np.sort(rng.choice(len(ds), n, replace=False))


def describe(inputs: StoreInputs) -> dict[str, Any]:
    """What the run trained on, for its config/log: store, format, split rule, keys, text kind."""
    return {
        "store": str(inputs.store.path), "format": inputs.store.format,
        "split_rule": inputs.store.meta.get("split_rule", "unknown"), "keys": inputs.keys,
        "text_features": inputs.text_features, "speaker": inputs.speaker, "fps": inputs.fps,
    }  # fmt: skip


__all__ = [
    "HASH_DIM", "StoreInputs", "describe", "feature_moments", "iter_chunks", "open_store",
    "sample_windows", "store_text_features", "token_vectors",
]  # fmt: skip
