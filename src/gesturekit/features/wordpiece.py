"""BERT WordPiece tokenisation in pure Python, and the bert-base-uncased vocabulary that ships with gesturekit.

This module owns words -> BERT word-piece ids. It needs no ``tokenizers``/``transformers`` and no
download: ``data/bert-base-uncased-vocab.txt`` (Apache-2.0, licence beside it) is package data,
so a transcript always yields PATS ``text/tokens``. The rules are BERT's own (Hugging Face
``BertTokenizer``, uncased):

1. basic tokenisation: drop NUL, U+FFFD and control characters, whitespace to spaces, spaces
   around CJK ideographs, NFC; split on whitespace; lower-case and strip accents (NFD, drop
   combining marks); split off every punctuation character (ASCII symbols count as punctuation);
2. WordPiece: greedy longest-match-first against the vocabulary, continuations prefixed ``##``;
   a token longer than 100 characters, or one that cannot be covered, becomes ``[UNK]``.

Tests check the ids against ``tokenizers`` and ``transformers`` on real transcripts. Lower-casing
is Python's, as in ``transformers``' BertTokenizer (which PATS used): a word-final capital sigma
becomes "ς" where the Rust ``tokenizers`` gives "σ".
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from gesturekit.errors import FormatError

#: The shipped vocabulary and its licence, inside the package ``gesturekit.features``.
VOCAB_FILE = "bert-base-uncased-vocab.txt"
VOCAB_LICENSE = "LICENSE-bert-base-uncased-vocab.txt"
#: Number of entries in bert-base-uncased's vocabulary.
BERT_UNCASED_VOCAB_SIZE = 30522

# CJK Unified Ideographs blocks that BERT surrounds with spaces (each character its own word).
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))  # fmt: skip


def shipped_vocab_path() -> Path:
    """Path of the bundled bert-base-uncased ``vocab.txt`` (package data)."""
    return Path(str(resources.files("gesturekit.features") / "data" / VOCAB_FILE))


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK)


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT treats every non-alphanumeric ASCII character as punctuation ("$", "^", "`" are symbols)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _clean(text: str) -> str:
    """BERT's text cleaning and CJK spacing in one pass over the characters."""
    out = []
    for ch in text:
        cp = ord(ch)
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif cp == 0 or cp == 0xFFFD or unicodedata.category(ch).startswith("C"):
            continue
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return "".join(out)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _split_punctuation(token: str) -> list[str]:
    out: list[str] = []
    word: list[str] = []
    for ch in token:
        if _is_punctuation(ch):
            if word:
                out.append("".join(word))
                word = []
            out.append(ch)
        else:
            word.append(ch)
    if word:
        out.append("".join(word))
    return out


@dataclass
class WordPieceTokenizer:
    """A BERT WordPiece tokenizer over ``tokens`` (the vocabulary in id order)."""

    tokens: list[str]
    lowercase: bool = True
    strip_accents: bool | None = None  # None: strip when lower-casing (BERT's default)
    unk_token: str = "[UNK]"
    prefix: str = "##"
    max_chars: int = 100
    source: str = ""
    vocab: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.vocab = {t: i for i, t in enumerate(self.tokens)}  # a repeated line: the last id, as BERT's loader
        if self.unk_token not in self.vocab:
            raise FormatError(self.source or "vocabulary", f"no {self.unk_token} token in the vocabulary")

    @classmethod
    def from_vocab_file(cls, path: str | Path, lowercase: bool = True) -> WordPieceTokenizer:
        """A ``vocab.txt``: one token per line, the id is the line number."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise FormatError(path, f"unreadable WordPiece vocabulary ({exc})") from None
        if lines and lines[-1] == "":
            lines.pop()
        return cls([t.rstrip("\r") for t in lines], lowercase=lowercase, source=str(path))

    @classmethod
    def from_tokenizer_json(cls, path: str | Path) -> WordPieceTokenizer:
        """A Hugging Face ``tokenizer.json`` whose model is WordPiece (a BERT tokenizer)."""
        path = Path(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(path, f"unreadable tokenizer.json ({exc})") from None
        model = obj.get("model") or {}
        if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
            raise FormatError(path, f"not a WordPiece tokenizer (model type {model.get('type')!r})")
        vocab: dict[str, int] = model["vocab"]
        tokens = [""] * (max(vocab.values()) + 1)
        for t, i in vocab.items():
            tokens[i] = t
        norm = obj.get("normalizer") or {}
        return cls(
            tokens,
            lowercase=bool(norm.get("lowercase", True)),
            strip_accents=norm.get("strip_accents"),
            unk_token=model.get("unk_token", "[UNK]"),
            prefix=model.get("continuing_subword_prefix", "##"),
            max_chars=int(model.get("max_input_chars_per_word", 100)),
            source=str(path),
        )

    def __len__(self) -> int:
        return len(self.tokens)

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, i: int) -> str:
        return self.tokens[i]

    def basic_tokens(self, text: str) -> list[str]:
        """Step 1 of the module docstring: words and punctuation, normalised."""
        out: list[str] = []
        strip = self.lowercase if self.strip_accents is None else self.strip_accents
        for tok in unicodedata.normalize("NFC", _clean(text)).split():
            if self.lowercase:
                tok = tok.lower()
            if strip:
                tok = _strip_accents(tok)
            out.extend(_split_punctuation(tok))
        return out

    def _pieces(self, word: str) -> list[str]:
        if len(word) > self.max_chars:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:  # longest match first
                sub = word[start:end] if start == 0 else self.prefix + word[start:end]
                if sub in self.vocab:
                    pieces.append(sub)
                    break
                end -= 1
            else:
                return [self.unk_token]  # some part of the word has no piece: the whole word is unknown
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of ``text`` (no ``[CLS]``/``[SEP]``)."""
        return [p for w in self.basic_tokens(text) for p in self._pieces(w)]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens)."""
        return [self.vocab[p] for p in self.tokenize(text)]


@lru_cache(maxsize=1)
def default_tokenizer() -> WordPieceTokenizer:
    """The bert-base-uncased tokenizer from the bundled vocabulary (loaded once)."""
    return WordPieceTokenizer.from_vocab_file(shipped_vocab_path(), lowercase=True)
