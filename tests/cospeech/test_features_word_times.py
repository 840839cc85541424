"""``gesturekit cospeech features --transcript``: word times in ``text/meta``, tokens without a model.

``text/meta`` holds each spoken word's own frames (its times x 15, rounded); ``text/tokens`` and
``text/bert`` keep PATS's spreading rule (a word's pieces last until the next word starts, the
first word from frame 0). Token ids need only the bundled bert-base-uncased vocabulary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import minilm_dir
from gesturekit.features.clip import add_speech_features, speech_features
from gesturekit.features.text import SILENCE, read_transcript
from gesturekit.features.wordpiece import default_tokenizer
from gesturekit.io.textgrid import read_words_phones
from gesturekit.records import Audio, CoSpeechClip

# (label, start s, end s): silences between words; "well" is the example (1.47-2.36 s)
WORDS = [("", 0.0, 1.47), ("well", 1.47, 2.36), ("sp", 2.36, 2.6), ("it's", 2.6, 2.95),
         ("unbelievable", 2.95, 3.6), ("", 3.6, 4.0)]  # fmt: skip
SPOKEN = [("well", 22, 35), ("it's", 39, 44), ("unbelievable", 44, 54)]  # times x 15, rounded
SPOKEN_TIMES = [w for w in WORDS if w[0] not in ("", "sp")]
SECONDS = 4.0


@pytest.fixture(autouse=True)
def no_text_model(monkeypatch, tmp_path):
    """No BERT model folder anywhere: no $GESTUREKIT_TEXT_MODEL, an empty Hugging Face cache."""
    monkeypatch.delenv("GESTUREKIT_TEXT_MODEL", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.fixture
def wav(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(int(SECONDS * 16000)) / 16000
    y = 0.3 * np.sin(2 * np.pi * 180 * t) * (t > 1.4) + 0.01 * rng.normal(size=t.size)
    p = tmp_path / "speech.wav"
    sf.write(p, y.astype(np.float32), 16000)
    return p


def _textgrid(path: Path, words: list[tuple[str, float, float]], xmax: float) -> Path:
    rows = "".join(
        f'        intervals [{i}]:\n            xmin = {s}\n            xmax = {e}\n            text = "{w}"\n'
        for i, (w, s, e) in enumerate(words, 1)
    )
    head = (
        f'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = {xmax}\ntiers? <exists>\n'
        f'size = 1\nitem []:\n    item [1]:\n        class = "IntervalTier"\n        name = "words"\n'
        f"        xmin = 0\n        xmax = {xmax}\n        intervals: size = {len(words)}\n"
    )
    path.write_text(head + rows, encoding="utf-8")
    return path


def _spread(spoken: list[tuple[str, float, float]], n: int, fps: float = 15.0) -> np.ndarray:
    """PATS's spreading rule written out plainly (the reference the vectorised code must match)."""
    tok = default_tokenizer()
    starts = [0] + [min(n, int(np.round(s * fps))) for _, s, _ in spoken[1:]]
    out = []
    for i, (w, _, _) in enumerate(spoken):
        ids = tok.encode(w) or [100]
        span = (starts[i + 1] if i + 1 < len(spoken) else n) - starts[i]
        for j, t in enumerate(ids):
            out += [t] * (span // len(ids) + (span % len(ids) if j == len(ids) - 1 else 0))
    return np.array(out, dtype=np.int64)


def _features(cli, wav: Path, transcript: Path, out: Path, *extra: str):
    r = cli("cospeech", "features", "--audio", wav, "--transcript", transcript, "--out", out, *extra)
    assert r.code == 0, r
    meta = pd.read_hdf(out, key="text/meta")
    rows = list(zip(meta.Word, meta.start_frame.astype(int), meta.end_frame.astype(int), strict=True))
    with h5py.File(out) as f:
        streams = {k: f[k][()] for k in ("audio/silence", "text/tokens", "text/bert") if k in f}
    return r, rows, streams


@pytest.mark.parametrize("kind", ["textgrid", "json"])
def test_meta_holds_each_words_own_frames_and_tokens_need_no_model(cli, wav, tmp_path, kind):
    if kind == "textgrid":
        transcript = _textgrid(tmp_path / "t.TextGrid", WORDS, SECONDS)
    else:
        transcript = tmp_path / "t.json"
        transcript.write_text(json.dumps([{"word": w, "start": s, "end": e} for w, s, e in WORDS if w != "sp"]))
    r, rows, streams = _features(cli, wav, transcript, tmp_path / "f.h5")
    assert rows == SPOKEN  # "well" at 22-35, not stretched to 0-39
    n = int(SECONDS * 15)
    tokens = streams["text/tokens"]
    assert tokens.shape == (n,) and "text/bert" not in streams
    np.testing.assert_array_equal(tokens, _spread(SPOKEN_TIMES, n))  # the spreading rule, unchanged
    assert (tokens[:39] == default_tokenizer().token_to_id("well")).all()  # from frame 0 until "it's"
    assert "text/bert not computed" in r.err
    assert json.loads(r.out)["tokenizer"].startswith("bert-base-uncased")


def test_real_beat2_take_word_frames_are_textgrid_times_x15(cli, beat2_dir, tmp_path):
    tg = beat2_dir / "2_scott_0_1_1.TextGrid"
    wav = beat2_dir / "2_scott_0_1_1.wav"
    _, rows, streams = _features(cli, wav, tg, tmp_path / "f.h5")
    n = int(sf.info(wav).frames / sf.info(wav).samplerate * 15 + 1e-9)
    words, _ = read_words_phones(tg)
    spoken = [(s.label, s.start, s.end) for s in words if s.label.strip().lower() not in SILENCE]
    want = [(w, min(n, int(np.round(s * 15))), min(n, int(np.round(e * 15)))) for w, s, e in spoken]
    assert rows == want and len(rows) > 150
    assert rows[0] == ("the", 21, 23)  # spoken 1.42-1.52 s
    tokens = streams["text/tokens"]
    assert tokens.shape == (n,)
    np.testing.assert_array_equal(tokens, _spread(spoken, n))
    # PATS's reference recovers tokens from text/meta start frames: a word's first piece starts there
    # (where the word has a frame for each of its pieces until the next word starts)
    tok = default_tokenizer()
    starts = [r[1] for r in rows] + [n]
    checked = 0
    for i, (w, s, _) in enumerate(rows[1:], 1):
        if starts[i + 1] - s >= len(tok.encode(w)):
            assert tokens[s] == tok.encode(w)[0], w
            checked += 1
    assert checked > 150


def test_text_bert_still_needs_a_model_folder(cli, wav, tmp_path):
    pytest.importorskip("transformers")
    words = read_transcript(_textgrid(tmp_path / "t.TextGrid", WORDS, SECONDS))
    audio = Audio(sf.read(wav, dtype="float32")[0], 16000)
    streams, _, meta = speech_features(audio, words, embeddings=True)
    assert "text/bert" not in streams and "text/tokens" in streams and meta == SPOKEN
    # a folder with a vocabulary but no model: a clear error naming it, and no file written
    fake = tmp_path / "not_a_model"
    fake.mkdir()
    (fake / "vocab.txt").write_text((minilm_dir() / "vocab.txt").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "f.h5"
    tg = tmp_path / "t.TextGrid"
    r = cli("cospeech", "features", "--audio", wav, "--transcript", tg, "--model", fake, "--out", out)
    assert r.code == 1 and "not_a_model" in r.err and "config.json" in r.err and not out.exists()
    # a real model folder: text/bert per frame, tokens the same as from the bundled vocabulary
    _, rows, with_model = _features(cli, wav, tg, out, "--model", minilm_dir(), "--overwrite")
    bert = with_model["text/bert"]
    assert bert.shape == (60, 384) and rows == SPOKEN
    np.testing.assert_array_equal(with_model["text/tokens"], _spread(SPOKEN_TIMES, 60))
    assert np.array_equal(bert[0], bert[38]) and not np.array_equal(bert[38], bert[39])  # spread like tokens


def test_tokens_on_a_plain_install_without_tokenizers_or_transformers(wav, tmp_path, monkeypatch):
    for mod in ("tokenizers", "transformers"):
        monkeypatch.setitem(sys.modules, mod, None)  # importing them now fails
    words = read_transcript(_textgrid(tmp_path / "t.TextGrid", WORDS, SECONDS))
    audio = Audio(sf.read(wav, dtype="float32")[0], 16000)
    streams, _, meta = speech_features(audio, words, keys=["text/tokens", "text/meta"])
    assert meta == SPOKEN and list(streams) == ["text/tokens"]
    # BEAT2 packing's hook: a clip's words give text/tokens without any vocab argument
    clip = CoSpeechClip("c", "s", "beat2", {"pose/x": np.zeros((120, 3), np.float32)}, {"pose/x": 30.0},
                        "pose/x", "none", audio=audio, words=words)  # fmt: skip
    add_speech_features(clip, keys=["text/tokens"])
    assert clip.rates["text/tokens"] == 30.0
    np.testing.assert_array_equal(clip.streams["text/tokens"], _spread(SPOKEN_TIMES, 120, 30.0))
