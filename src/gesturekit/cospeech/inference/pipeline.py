"""Using a trained co-speech model: poses for speech of any length, without seams.

``pipe = GesturePipeline.load(run_dir); poses = pipe(audio, words)`` returns ``(frames, joints,
dims)`` at ``pipe.fps``. Inside: features at pose rate (``speech_inputs``), the training
normalisation, then one of two ways to cover any length without seams:

- ``stitch="sequence"`` (default): the whole recording (padded to a multiple of the training
  window) in one forward pass; the convolutions and the U-Net see across window boundaries, the
  fusion attention runs within window-sized blocks as in training (:func:`run_sequence`).
- ``stitch="crossfade"``: overlapping windows run as one batch, their outputs cross-faded
  linearly over the overlap (a quarter window) (:func:`run_windows`).

Word features for a transcript are made to match what the model was trained on
(``meta["text_features"]``): hashed word vectors (:func:`words_at_frames`) for models trained on
BEAT2 takes (``"words"``); for PATS-trained models (``"bert"``, ``"tokens"``, ``"token-ids"``)
PATS's own features, recomputed from the words with a local text model folder (word pieces over
each word's frames, then their ids, hashed ids or BERT vectors; :mod:`gesturekit.features.text`),
or a :class:`DataError` when there is no such folder. A model trained on the synthetic corpus's
embeddings or on no text cannot be given a transcript: :meth:`GesturePipeline.features` raises
rather than feed it vectors from another distribution. Without a transcript the text input is
zeros: what a words or tokens model saw wherever nothing was said, but never among a BERT or
synthetic model's training inputs, so those models warn that their poses follow the audio alone.
Models saved before gesturekit recorded the kind (``"unknown"``) warn once when given words.
:meth:`GesturePipeline.from_features` takes features as given, unchecked. ``precision``
(``fp32`` | ``bf16``, :mod:`gesturekit.precision`) sets the numerics of the model's forward pass;
the normalisation and the cross-fades stay float32.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gesturekit.cospeech.data.speech_inputs import audio_at_frames, n_frames_for, words_at_frames
from gesturekit.cospeech.data.types import TEXT_FEATURES, PoseFormat
from gesturekit.cospeech.models import reads_text
from gesturekit.cospeech.models.bundle import load_model
from gesturekit.errors import DataError
from gesturekit.features.normalize import Normalizer
from gesturekit.precision import autocast, resolve_precision
from gesturekit.records import Audio, Segment, SegmentTier


def blend_weights(length: int, overlap: int) -> np.ndarray:
    """Cross-fade weights of one window: linear ramps over ``overlap`` frames at each end, 1 between."""
    t = np.arange(length) + 0.5
    return np.minimum(1.0, np.minimum(t, length - t) / max(overlap, 1))


@torch.no_grad()
def run_windows(model: nn.Module, audio: np.ndarray, text: np.ndarray, window: int, device: torch.device,
                batch: int = 64, overlap: int | None = None,
                precision: str = "fp32") -> np.ndarray:  # fmt: skip
    """``(N, F)``, ``(N, D)`` normalised features -> ``(N, P)`` model output, windows cross-faded.

    Windows of ``window`` frames overlap by ``overlap`` frames (default a quarter window), where
    the outputs cross-fade linearly; the sequence is padded at the end by repeating its last
    frame, so any ``N >= 1`` works.
    """
    n = len(audio)
    overlap = window // 4 if overlap is None else overlap
    hop = max(1, window - overlap)
    n_win = max(1, -(-(n - window) // hop) + 1) if n > window else 1
    total = (n_win - 1) * hop + window
    pad = total - n
    a = np.concatenate([audio, np.repeat(audio[-1:], pad, 0)]) if pad else audio
    t = np.concatenate([text, np.repeat(text[-1:], pad, 0)]) if pad else text
    idx = np.arange(n_win)[:, None] * hop + np.arange(window)
    outs = []
    model.eval()
    for i in range(0, n_win, batch):
        sel = idx[i : i + batch]
        with autocast(precision, device):
            out = model(torch.as_tensor(a[sel], device=device), torch.as_tensor(t[sel], device=device))[0]
        outs.append(out.float().cpu().numpy())
    out = np.concatenate(outs)
    w = blend_weights(window, overlap)
    acc = np.zeros((total, out.shape[-1]))
    norm = np.zeros((total, 1))
    np.add.at(acc, idx.ravel(), (out * w[None, :, None]).reshape(-1, out.shape[-1]))
    np.add.at(norm, idx.ravel(), np.tile(w, n_win)[:, None])
    return (acc / norm)[:n].astype(np.float32)


@torch.no_grad()
def run_sequence(
    model: nn.Module, audio: np.ndarray, text: np.ndarray, window: int, device: torch.device,
    precision: str = "fp32",
) -> np.ndarray:  # fmt: skip
    """``(N, F)``, ``(N, D)`` normalised features -> ``(N, P)``: one forward over the whole sequence,
    padded at the end (last frame repeated) to a multiple of ``window``; ``precision``: a resolved
    one (:func:`~gesturekit.precision.resolve_precision`)."""
    n = len(audio)
    total = max(1, -(-n // window)) * window
    pad = total - n
    a = np.concatenate([audio, np.repeat(audio[-1:], pad, 0)]) if pad else audio
    t = np.concatenate([text, np.repeat(text[-1:], pad, 0)]) if pad else text
    model.eval()
    with torch.inference_mode(), autocast(precision, device):
        out = model(torch.as_tensor(a[None], device=device), torch.as_tensor(t[None], device=device))[0]
    return out[0, :n].float().cpu().numpy()


STITCH = ("sequence", "crossfade")

#: Kinds computed for a new transcript the way PATS made them, from a local text model folder
#: (its WordPiece tokenizer, and for ``bert`` its contextual vectors; see :mod:`gesturekit.features.text`).
FROM_TEXT_MODEL = ("bert", "tokens", "token-ids")
#: Why gesturekit cannot compute a kind of text features for a new transcript.
NOT_COMPUTABLE = {
    "synthetic": "they are the synthetic corpus's random embeddings of its own vocabulary",
    "none": "the model never saw text features",
    "mixed": "they differ between the training clips",
}
#: Kinds whose training inputs include zeros (no word spoken): audio-only generation stays in range
#: (a "mixed" corpus that trains at all mixes kinds of one width: words, tokens and zeros).
ZEROS_SEEN = ("words", "tokens", "token-ids", "none", "mixed", "unknown")


class GesturePipeline:
    """A trained generator with its normalisers and pose format."""

    def __init__(
        self,
        model: nn.Module,
        meta: dict[str, Any],
        device: torch.device | str = "cpu",
        stitch: str = "sequence",
        text_model: str | Path | None = None,
        precision: str | None = None,
    ) -> None:
        if stitch not in STITCH:
            raise DataError(f"stitch must be one of {list(STITCH)}, got {stitch!r}")
        self.model, self.meta, self.stitch = model, meta, stitch
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)  # what the forward pass computes in
        self.pose_norm = Normalizer.from_dict(meta["pose_norm"])
        self.audio_norm = Normalizer.from_dict(meta["audio_norm"])
        self.pose_format = PoseFormat.from_dict(meta["pose_format"])
        self.fps = float(meta["fps"])
        self.window = int(meta["window"])
        # how the model's text input is read (bundles before the model configs: in its kwargs)
        self.text_dim = int(meta.get("text_dim", meta["kwargs"].get("text_dim", 0)))
        self.text_mode = str(meta.get("text_mode", meta["kwargs"].get("text_mode", "features")))
        self.text_features = str(meta.get("text_features", "unknown"))
        if self.text_features not in TEXT_FEATURES:
            raise DataError(f"model meta: unknown text_features {self.text_features!r}")
        self.reads_text = reads_text(model)
        self.source: Path | None = None  # the run folder or checkpoint, when loaded from one
        self.config: dict[str, Any] | None = None  # config.json, when loaded by from_pretrained
        self.text_model = Path(text_model) if text_model is not None else None
        self._warned: set[str] = set()

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str = "cpu",
        stitch: str = "sequence",
        text_model: str | Path | None = None,
        precision: str | None = None,
    ) -> GesturePipeline:
        """The run folder (or ``model`` checkpoint) at ``path``. ``text_model``: a local Hugging Face
        model folder for models trained on PATS text (``bert-base-uncased`` for ``text/bert``; its
        tokenizer alone for token ids); default ``$GESTUREKIT_TEXT_MODEL`` or a local
        ``bert-base-uncased`` in the Hugging Face cache. ``precision``: ``fp32`` or ``bf16`` (None:
        the default, :data:`~gesturekit.precision.DEFAULT_PRECISION`)."""
        model, meta = load_model(path, device)
        pipe = cls(model, meta, device, stitch, text_model, precision)
        pipe.source = Path(path)
        return pipe

    @classmethod
    def from_pretrained(cls, path: str | Path, **load_options: Any) -> GesturePipeline:
        """A self-describing model folder (``config.json``, ``README.md``, ``model.safetensors``,
        ``model.json``; :mod:`gesturekit.model_card`), checked, then loaded as :meth:`load` does
        (with its ``device``, ``stitch``, ``text_model`` and ``precision``). Local folders only: nothing
        is downloaded."""
        from gesturekit.model_card import COSPEECH, check_model_folder

        config = check_model_folder(path, COSPEECH)
        pipe = cls.load(path, **load_options)
        pipe.config = config
        return pipe

    @property
    def joint_names(self) -> list[str]:
        return self.pose_format.joint_names

    @property
    def parents(self) -> list[int]:
        return self.pose_format.parents

    def from_features(self, audio: np.ndarray, text: np.ndarray) -> np.ndarray:
        """Raw features at pose rate ``(N, F)``, ``(N, D)`` -> poses ``(N, joints, dims)``."""
        audio = np.asarray(audio, dtype=np.float32)
        text = np.asarray(text, dtype=np.float32)
        if audio.ndim != 2 or text.ndim != 2 or len(audio) != len(text) or len(audio) == 0:
            shapes = f"{audio.shape}, {text.shape}"
            raise DataError(f"features must be (frames, F) and (frames, D) with equal frames, got {shapes}")
        if text.shape[1] != self.text_dim:
            raise DataError(f"the model expects {self.text_dim}-d word features, got {text.shape[1]}")
        a = self.audio_norm.transform(audio)
        run = run_sequence if self.stitch == "sequence" else run_windows
        out = run(self.model, a, text, self.window, self.device, precision=self.precision)
        return self.pose_format.to_joints(self.pose_norm.inverse_transform(out))

    def check_corpus_text(self, kind: str, where: str | Path | None = None) -> None:
        """Raise :class:`DataError` when clips of text features ``kind`` (a corpus's
        ``text_features``) are not what this model was trained on; unrecorded or mixed kinds,
        and models that ignore text, pass."""
        known = set(TEXT_FEATURES) - {"unknown", "mixed", "none"}
        if self.reads_text and kind in known and self.text_features in known and kind != self.text_features:
            raise DataError(
                f"these clips hold {TEXT_FEATURES[kind]}, but the model was trained on "
                f"{TEXT_FEATURES[self.text_features]}",
                path=where,
            )

    def check_text(self, with_words: bool) -> None:
        """Raise :class:`DataError` if words are given to a model trained on other text features;
        warn (once per pipeline) where the result may not be what the model learned."""
        kind = self.text_features
        if not self.reads_text or kind == "words":
            return
        if with_words and kind in FROM_TEXT_MODEL:
            self._require_text_model()
        if with_words and kind in NOT_COMPUTABLE:
            raise DataError(
                f"this model was trained on {TEXT_FEATURES[kind]}, and gesturekit cannot compute those for a "
                f"new transcript ({NOT_COMPUTABLE[kind]}); generate from the audio alone (no transcript), "
                "or train on a corpus with word transcripts (BEAT2 takes with their TextGrids) to use words",
                path=self.source,
            )
        if with_words and kind == "unknown":
            self._warn_once(
                kind, "the model's training text features were not recorded (a model or feature-clip folder "
                "from before gesturekit recorded them): the transcript's hashed word vectors may not match "
                "them (PATS-trained models learned from BERT vectors); retrain to record them",
            )  # fmt: skip
        if not with_words and kind not in ZEROS_SEEN:
            self._warn_once(
                kind, f"the model was trained on {TEXT_FEATURES[kind]}; without a transcript its text input "
                "is zeros, which it never saw in training, so the poses follow the audio alone",
            )  # fmt: skip

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            where = f"{self.source}: " if self.source is not None else ""
            warnings.warn(where + message, UserWarning, stacklevel=5)  # the caller of pipe(...)

    def _require_text_model(self) -> Path:
        """The local text model folder for PATS-kind text features, or :class:`DataError`."""
        from gesturekit.features.text import default_text_model

        found = self.text_model if self.text_model is not None else default_text_model()
        if found is None:
            raise DataError(
                f"this model was trained on {TEXT_FEATURES[self.text_features]}; to compute those for a "
                "transcript gesturekit needs a local text model folder (bert-base-uncased, as PATS used): "
                "pass --text-model DIR (Python: text_model=DIR), set GESTUREKIT_TEXT_MODEL, or have "
                "bert-base-uncased in the Hugging Face cache (nothing is downloaded); or generate from the "
                "audio alone (no transcript)",
                path=self.source,
            )
        return found

    def _pats_text(self, words: Sequence[Segment], n: int) -> np.ndarray:
        """``(n, text_dim)`` text features of the model's PATS kind for ``words``, made as PATS made
        them: word pieces split over each word's frames, their ids, hashed ids or BERT vectors."""
        from gesturekit.cospeech.data.store_inputs import token_vectors
        from gesturekit.features.text import SILENCE, contextual_embeddings, load_tokenizer, word_pieces

        tier = words if isinstance(words, SegmentTier) else SegmentTier("words", list(words))
        if not len(tier.nonempty(SILENCE)):  # only silences: nothing spoken, as between words
            return np.zeros((n, self.text_dim), np.float32)
        model_dir = self._require_text_model()
        pieces = word_pieces(tier, load_tokenizer(model_dir), n, self.fps)
        ids = pieces.frame_tokens()
        if self.text_features == "token-ids":
            text = ids.reshape(n, 1).astype(np.float32)
        elif self.text_features == "tokens":
            text = token_vectors(ids)
        else:
            text = pieces.frame_vectors(contextual_embeddings(pieces, model_dir))
        if text.shape[1] != self.text_dim:
            raise DataError(
                f"the text model {model_dir} gives {text.shape[1]}-d vectors; this model was trained on "
                f"{self.text_dim}-d ones (PATS's text/bert: bert-base-uncased, 768-d)",
                path=self.source,
            )
        return text

    def features(self, audio: Audio, words: Sequence[Segment] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel and word features at pose rate; see :meth:`check_text` for which words a model takes."""
        self.check_text(bool(words))
        n = n_frames_for(audio, self.fps)
        if n < 1:
            raise DataError("audio is shorter than one pose frame", path=audio.path)
        if words and self.reads_text and self.text_features in FROM_TEXT_MODEL:
            return audio_at_frames(audio, n, self.fps), self._pats_text(words, n)
        return audio_at_frames(audio, n, self.fps), words_at_frames(words, n, self.fps, self.text_dim)

    def __call__(self, audio: Audio | str | Path, words: Sequence[Segment] | None = None) -> np.ndarray:
        """Poses ``(frames, joints, dims)`` for a waveform (an :class:`Audio` or a file path)."""
        if not isinstance(audio, Audio):
            from gesturekit.io.audio import read_audio

            audio = read_audio(audio)
        a, t = self.features(audio, words)
        return self.from_features(a, t)
