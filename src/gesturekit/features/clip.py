"""PATS features of a recording: what ``gesturekit cospeech features`` writes, and BEAT2 packing uses.

:func:`speech_features` turns a waveform (and optionally a word tier and a model folder) into
PATS keys: ``audio/log_mel_400 (Ta, 64)``, ``audio/log_mel_512 (Tb, 128)``, ``audio/silence (T,)``,
``text/tokens (T,)``, ``text/bert (T, D)`` with ``T = floor(duration * fps)`` pose frames, plus
the ``text/meta`` rows. :func:`write_features_h5` writes them in PATS's own layout (arrays with
h5py, ``text/meta`` with pandas), atomically: a failure leaves no file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.features.audio import LOG_MEL_400_FPS, LOG_MEL_512_FPS, log_mel_400, log_mel_512
from gesturekit.features.vad import silence_mask
from gesturekit.records import Audio, CoSpeechClip, SegmentTier

AUDIO_KEYS = ("audio/log_mel_400", "audio/log_mel_512", "audio/silence")


def speech_features(
    audio: Audio,
    words: SegmentTier | None = None,
    *,
    fps: float = 15.0,
    n_frames: int | None = None,
    model_dir: str | Path | None = None,
    vocab: str | Path | None = None,
    keys: Sequence[str] | None = None,
    embeddings: bool = True,
    vad: str = "auto",
) -> tuple[dict[str, np.ndarray], dict[str, float], list[tuple[str, int, int]] | None]:
    """``(streams, rates, meta_rows)`` for the PATS keys computable from ``audio`` and ``words``.

    Token ids come from ``vocab`` (a ``vocab.txt`` or tokenizer folder), else ``model_dir``'s
    tokenizer, else the bundled bert-base-uncased vocabulary; ``text/bert`` needs ``model_dir``
    and ``embeddings``. ``keys`` limits what is computed (default: everything possible).
    """
    from gesturekit.features.text import contextual_embeddings, load_tokenizer, spoken_word_rows, word_pieces

    want = set(keys) if keys is not None else None

    def wanted(k: str) -> bool:
        return want is None or k in want

    y, sr = audio.samples, audio.rate_hz
    if n_frames is None:
        n_frames = int(len(y) / sr * fps + 1e-9)
    streams: dict[str, np.ndarray] = {}
    rates: dict[str, float] = {}
    if wanted("audio/log_mel_400"):
        streams["audio/log_mel_400"], rates["audio/log_mel_400"] = log_mel_400(y, sr), LOG_MEL_400_FPS
    if wanted("audio/log_mel_512"):
        streams["audio/log_mel_512"], rates["audio/log_mel_512"] = log_mel_512(y, sr), LOG_MEL_512_FPS
    if wanted("audio/silence"):
        streams["audio/silence"], rates["audio/silence"] = silence_mask(y, sr, fps, n_frames, vad), fps
    meta = None
    if words is not None and (wanted("text/tokens") or wanted("text/bert") or wanted("text/meta")):
        meta = spoken_word_rows(words, n_frames, fps)
        bert = model_dir is not None and embeddings and wanted("text/bert")
        if wanted("text/tokens") or bert:
            # vectors need the model's own ids; ids alone may come from any WordPiece vocabulary
            tokenizer = load_tokenizer(model_dir if bert else vocab or model_dir)
            pieces = word_pieces(words, tokenizer, n_frames, fps)
            if wanted("text/tokens"):
                streams["text/tokens"], rates["text/tokens"] = pieces.frame_tokens(), fps
            if bert and model_dir is not None:
                vec = contextual_embeddings(pieces, model_dir)
                streams["text/bert"], rates["text/bert"] = pieces.frame_vectors(vec), fps
    return streams, rates, meta


def add_speech_features(
    clip: CoSpeechClip,
    *,
    keys: Sequence[str] | None = None,
    vocab: str | Path | None = None,
    model_dir: str | Path | None = None,
) -> CoSpeechClip:
    """Add the speech keys among ``keys`` to a clip that has ``clip.audio`` (BEAT2), in place.

    Per-pose-frame keys (silence, tokens, embeddings) use the clip's pose rate and frame count.
    ``text/tokens`` needs only the clip's words: ``vocab`` (a ``vocab.txt`` or tokenizer folder)
    defaults to the bundled bert-base-uncased vocabulary.
    """
    want = [k for k in (keys or [*AUDIO_KEYS, "text/tokens"]) if k.startswith(("audio/", "text/"))]
    if not want or clip.audio is None:
        return clip
    streams, rates, _ = speech_features(
        clip.audio,
        clip.words,
        fps=clip.pose_rate_hz,
        n_frames=clip.frames,
        model_dir=model_dir,
        vocab=vocab,
        keys=want,
        embeddings=model_dir is not None,
    )
    clip.streams.update(streams)
    clip.rates.update(rates)
    return clip


def write_features_h5(
    path: str | Path, streams: dict[str, np.ndarray], meta: list[tuple[str, int, int]] | None
) -> Path:
    """Write PATS-layout features to ``path`` atomically (see :func:`gesturekit.io.pats_write`)."""
    from gesturekit.io.pats_write import write_pats_interval

    return write_pats_interval(path, streams, meta)


def describe(streams: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: list(v.shape) for k, v in streams.items()}
