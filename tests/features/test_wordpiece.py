"""The bundled bert-base-uncased vocabulary and the pure-Python WordPiece tokenizer.

The ids are checked against the two tokenizers PATS-style code uses (``tokenizers``'
BertWordPieceTokenizer and ``transformers``' Python BertTokenizer) on real BEAT2 transcripts and
on strings that exercise every rule (accents, punctuation, numbers, contractions, long words).
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from conftest import REPO, _need, minilm_dir
from gesturekit.errors import FormatError
from gesturekit.features.text import load_tokenizer, read_transcript
from gesturekit.features.wordpiece import (
    BERT_UNCASED_VOCAB_SIZE,
    VOCAB_FILE,
    VOCAB_LICENSE,
    WordPieceTokenizer,
    default_tokenizer,
    shipped_vocab_path,
)

TRICKY = [
    "Héllo", "naïve", "résumé", "CAFÉ", "e\u0301te\u0301", "Straße", "İstanbul", "ﬁne", "ｆｕｌｌ",
    "don't", "I'm", "O'Neill's", "rock'n'roll", "U.S.A.", "...", "--", "“quoted”", "¿qué?", "naïve—ok",
    "3.14", "1,000,000", "$5", "50%", "¼", "²", "≥5", "e-mail", "#hashtag", "@user", "snake_case", "^caret`",
    "東京", "日本語です", "emoji😀", "😀😀", "zero\u200bwidth", "nul\x00byte", "\ufffd", "tab\there", " ", "",
    "a" * 100, "a" * 101, "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
]  # fmt: skip


@pytest.fixture(scope="module")
def real_words(realdata: Path) -> list[str]:
    """The words of the two real BEAT2 transcripts in ../shared."""
    words = []
    for p in ("beat2_sample/2_scott_0_1_1.TextGrid", "beat2_take2/2_scott_0_2_2.TextGrid"):
        words += read_transcript(_need(realdata / p)).labels()
    return words


def test_shipped_vocab_is_bert_base_uncased_and_its_licence_ships():
    root = resources.files("gesturekit.features") / "data"
    vocab, licence = root / VOCAB_FILE, root / VOCAB_LICENSE
    assert vocab.is_file() and licence.is_file()
    tokens = vocab.read_text(encoding="utf-8").split("\n")
    assert tokens[-1] == "" and len(tokens[:-1]) == BERT_UNCASED_VOCAB_SIZE == 30522
    # BERT's special tokens sit at their well-known ids
    tok = default_tokenizer()
    special = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert [tok.token_to_id(t) for t in special] == [0, 100, 101, 102, 103]
    text = licence.read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "bert-base-uncased" in text
    # the licence names the exact file it covers
    assert hashlib.sha256(vocab.read_bytes()).hexdigest() in text
    # both files are package data of a wheel/sdist: matched by pyproject's package-data globs
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = setuptools["package-data"]["gesturekit"]
    pkg = Path(str(resources.files("gesturekit")))
    for f in (vocab, licence):
        rel = Path(str(f)).relative_to(pkg).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), (rel, globs)


def test_shipped_vocab_equals_the_offline_minilm_vocab():
    """The test model's tokenizer uses bert-base-uncased's vocabulary: same tokens, same ids."""
    minilm = minilm_dir() / "vocab.txt"
    ours = shipped_vocab_path().read_text(encoding="utf-8").splitlines()
    assert ours == minilm.read_text(encoding="utf-8").splitlines()


def test_ids_equal_tokenizers_and_transformers_on_real_transcripts_and_tricky_strings(real_words):
    pytest.importorskip("tokenizers")
    pytest.importorskip("transformers")
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    words = real_words
    assert len(words) > 300
    vocab = str(shipped_vocab_path())
    rust = BertWordPieceTokenizer(vocab, lowercase=True)
    python = BertTokenizerLegacy(vocab, do_lower_case=True)
    ours = default_tokenizer()
    texts = [*words, " ".join(words), *TRICKY, " ".join(TRICKY)]
    for text in texts:
        want = rust.encode(text, add_special_tokens=False).ids
        assert ours.encode(text) == want == python.encode(text, add_special_tokens=False), repr(text)
    # the rules are really exercised: accents stripped, punctuation split, long and unknown words
    assert ours.tokenize("Naïve, CAFÉ!") == ["naive", ",", "cafe", "!"]
    assert ours.tokenize("don't") == ["don", "'", "t"]
    assert ours.tokenize("a" * 101) == ["[UNK]"] and ours.tokenize("😀") == ["[UNK]"]
    assert any(p.startswith("##") for p in ours.tokenize("supercalifragilisticexpialidocious"))
    # a word-final capital sigma: Python's lower() gives "ς" (as transformers' BertTokenizer, which
    # PATS used); the Rust tokenizer lower-cases it to "σ", so only transformers is the reference here
    assert ours.encode("ΣΊΣΥΦΟΣ") == python.encode("ΣΊΣΥΦΟΣ", add_special_tokens=False)


def test_model_folder_tokenizers_vocab_txt_and_tokenizer_json_agree(tmp_path, real_words):
    words = " ".join(real_words)
    only_json = tmp_path / "m"
    only_json.mkdir()
    shutil.copy(minilm_dir() / "tokenizer.json", only_json / "tokenizer.json")
    a, b = load_tokenizer(minilm_dir()), load_tokenizer(only_json)
    assert a.encode(words) == b.encode(words) == load_tokenizer().encode(words)
    assert load_tokenizer(minilm_dir() / "vocab.txt").encode(words) == a.encode(words)
    with pytest.raises(FormatError, match="no tokenizer.json or vocab.txt"):
        load_tokenizer(tmp_path)
    (tmp_path / "bad.json").write_text('{"model": {"type": "BPE", "vocab": {}}}')
    with pytest.raises(FormatError, match="not a WordPiece tokenizer"):
        WordPieceTokenizer.from_tokenizer_json(tmp_path / "bad.json")
    (tmp_path / "v.txt").write_text("a\nb\n")
    with pytest.raises(FormatError, match=r"v\.txt.*no \[UNK\]"):
        load_tokenizer(tmp_path / "v.txt")
