"""What a corpus's text features are (``Corpus.text_features``), kept in the model, and checked
when a model is given a transcript: every loader, clip folders old and new, the fit meta and
:class:`GesturePipeline`'s error and warnings."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from gesturekit.cospeech.data.speech_inputs import hashed_word_vector, words_at_frames
from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store
from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import (
    TEXT_FEATURES,
    combine_text_features,
    read_clip_folder,
    write_clip_folder,
)
from gesturekit.cospeech.inference.pipeline import GesturePipeline
from gesturekit.cospeech.models.bundle import load_model
from gesturekit.cospeech.training.fit import FitConfig, fit
from gesturekit.errors import DataError, FormatError
from gesturekit.io.audio import read_audio
from gesturekit.io.pats_write import make_synthetic_pats
from gesturekit.records import Segment
from gesturekit.store import pack_pats

WORDS = [Segment("hello", 0.2, 0.7), Segment("sil", 0.7, 1.0), Segment("world", 1.0, 1.8)]


def nn_config(**kw) -> FitConfig:
    """The nearest-neighbour baseline: reads text, fits in a moment."""
    return FitConfig(model="nearest-neighbour", window=32, hop=16, num_clusters=0, seed=1, **kw)


@pytest.fixture(scope="module")
def synth():
    return make_synthetic_corpus(n_train=3, n_dev=1, n_test=1, frames=64, seed=2)


@pytest.fixture(scope="module")
def pats_bert(tmp_path_factory) -> Path:
    return make_synthetic_pats(
        tmp_path_factory.mktemp("pb") / "data", speakers=("oliver",), n_per_speaker=8, seed=4, bert=True
    )


@pytest.fixture(scope="module")
def pats_tokens(tmp_path_factory) -> Path:
    return make_synthetic_pats(
        tmp_path_factory.mktemp("pt") / "data", speakers=("oliver",), n_per_speaker=8, seed=4
    )


@pytest.fixture
def wav(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 1.5 * t)) + 0.01 * rng.normal(size=t.size)
    path = tmp_path / "speech.wav"
    sf.write(path, y.astype(np.float32), 16000)
    return path


def _drop_key(path: Path, key: str) -> None:
    with h5py.File(path, "a") as f:
        del f[key]


# ----------------------------------------------------------------------------- the kinds


def test_combining_kinds():
    assert combine_text_features(["bert", "bert"]) == "bert"
    assert combine_text_features(["words", "none"]) == "words"  # a take without a TextGrid: zeros
    assert combine_text_features(["tokens", "none"]) == "tokens"
    assert combine_text_features(["none"]) == "none"
    assert combine_text_features(["bert", "none"]) == "mixed"  # zeros were never BERT vectors
    assert combine_text_features(["bert", "tokens"]) == "mixed"
    assert combine_text_features([]) == "unknown"
    assert set(TEXT_FEATURES) >= {"words", "bert", "tokens", "synthetic", "none", "mixed", "unknown"}


def test_synthetic_corpus_is_synthetic(synth):
    assert synth.text_features == "synthetic"
    with pytest.raises(DataError, match="text_features must be one of"):
        dataclasses.replace(synth, text_features="glove")


# ----------------------------------------------------------------------------- loaders


def _inputs(data, speaker=None, **kw) -> StoreInputs:
    return StoreInputs.from_store(open_store(data, speaker=speaker), speaker=speaker, **kw)


def _texts(inp: StoreInputs, split: str = "train") -> list[np.ndarray]:
    ds = inp.dataset(split, 1, 1 << 30)
    return [inp.interval(ds, i)[1] for i in np.unique(ds.window_interval).tolist()]


def test_pats_folder_bert_then_tokens(pats_bert, pats_tokens):
    inp = _inputs(pats_bert, "oliver")
    assert inp.text_features == "bert" and {t.shape[1] for t in _texts(inp)} == {768} and inp.text_dim == 768
    inp = _inputs(pats_tokens, "oliver")
    assert inp.text_features == "tokens" and {t.shape[1] for t in _texts(inp)} == {64}


def test_pats_text_is_packed_only_where_every_interval_has_it(tmp_path, pats_bert):
    """An interval without text/bert: the store keeps the tokens every interval has (one width)."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(pats_bert, root)
    first = sorted((root / "processed" / "oliver").glob("*.h5"))[0]
    _drop_key(first, "text/bert")
    assert _inputs(root, "oliver").text_features == "tokens"
    files = sorted((root / "processed" / "oliver").glob("*.h5"))
    _drop_key(files[0], "text/tokens")  # now no text key is in every interval
    inp = _inputs(root, "oliver")
    assert inp.text_features == "none" and not any(t.any() for t in _texts(inp))


def test_packed_store_bert_and_tokens(tmp_path, pats_bert):
    pack_pats(pats_bert, tmp_path / "tok.store", workers=1)
    assert _inputs(tmp_path / "tok.store", "oliver").text_features == "tokens"
    keys = ["pose/normalize", "audio/log_mel_400", "text/bert"]
    pack_pats(pats_bert, tmp_path / "bert.store", keys=keys, workers=1)
    inp = _inputs(tmp_path / "bert.store", "oliver")
    assert inp.text_features == "bert" and _texts(inp)[0].shape[1] == 768


def test_beat2_takes_are_words_or_none(tmp_path, beat2_dir):
    inp = _inputs(beat2_dir, "scott")
    assert inp.text_features == "words"
    # the vectors generate computes from the same TextGrid, at the take's 30 fps frames
    from gesturekit.features.text import read_transcript

    words = read_transcript(beat2_dir / "2_scott_0_1_1.TextGrid")
    train = _texts(inp)[0]
    want = words_at_frames(words, 2 * len(train), 30.0, train.shape[1])[::2]
    np.testing.assert_array_equal(train, want)
    assert train.any()
    bare = tmp_path / "bare"
    bare.mkdir()
    for ext in (".npz", ".wav"):  # no TextGrid: zeros
        (bare / f"2_scott_0_1_1{ext}").symlink_to(beat2_dir / f"2_scott_0_1_1{ext}")
    assert _inputs(bare, "scott").text_features == "none"


def test_clip_folder_round_trip_and_legacy(tmp_path, synth):
    out = write_clip_folder(tmp_path / "clips", synth)
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["text_features"] == "synthetic"
    assert _inputs(out).text_features == "synthetic"
    words = dataclasses.replace(synth, text_features="words")
    assert _inputs(write_clip_folder(tmp_path / "w", words)).text_features == "words"
    del meta["text_features"]  # written before gesturekit recorded it
    (out / "corpus.json").write_text(json.dumps(meta))
    assert read_clip_folder(out).text_features == "unknown"
    meta["text_features"] = "glove"
    (out / "corpus.json").write_text(json.dumps(meta))
    with pytest.raises(FormatError, match=r"corpus.json: text_features must be one of .*'glove'"):
        read_clip_folder(out)


# ----------------------------------------------------------------------------- model and pipeline


def test_fit_records_the_kind_and_old_bundles_read_unknown(tmp_path, pats_bert):
    fit(nn_config(), pats_bert, "oliver", tmp_path / "run", device="cpu")
    _, meta = load_model(tmp_path / "run")
    assert meta["text_features"] == "bert"
    record = json.loads((tmp_path / "run" / "model.json").read_text())
    assert record["meta"]["text_features"] == "bert"
    del record["meta"]["text_features"]
    (tmp_path / "run" / "model.json").write_text(json.dumps(record))
    _, meta = load_model(tmp_path / "run")
    assert meta["text_features"] == "unknown"


@pytest.fixture
def no_text_model(tmp_path, monkeypatch) -> None:
    """No local text model: neither $GESTUREKIT_TEXT_MODEL nor bert-base-uncased in the HF cache."""
    monkeypatch.delenv("GESTUREKIT_TEXT_MODEL", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))


def test_bert_model_refuses_a_transcript_without_a_text_model(tmp_path, pats_bert, wav, cli, no_text_model):
    run = tmp_path / "run"
    fit(nn_config(), pats_bert, "oliver", run, device="cpu")
    pipe = GesturePipeline.load(run)
    with pytest.raises(DataError) as err:
        pipe(wav, WORDS)
    msg = str(err.value)
    assert msg.startswith(f"{run}: this model was trained on stored contextual vectors (`text/bert`")
    assert "needs a local text model folder" in msg and "--text-model DIR" in msg
    assert "nothing is downloaded" in msg and "generate from the audio alone (no transcript)" in msg
    # from the audio alone it generates, and says its text input is one it never saw
    with pytest.warns(UserWarning, match="zeros, which it never saw in training"):
        poses = pipe(wav)
    assert poses.shape == (45, 52, 2) and np.all(np.isfinite(poses))
    tg = tmp_path / "words.json"
    tg.write_text(json.dumps([{"word": w.label, "start": w.start, "end": w.end} for w in WORDS]))
    r = cli("cospeech", "generate", run, "--audio", wav, "--transcript", tg, "--out", tmp_path / "gen")
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1 and "--text-model DIR" in r.err, r
    assert r.err.startswith("gesturekit: error: ") and not (tmp_path / "gen").exists()


def test_words_model_uses_the_transcript(tmp_path, synth, wav):
    corpus = dataclasses.replace(synth, text_features="words")
    fit(nn_config(), write_clip_folder(tmp_path / "clips", corpus), None, tmp_path / "run", device="cpu")
    pipe = GesturePipeline.load(tmp_path / "run")
    assert pipe.text_features == "words"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_words, without = pipe(wav, WORDS), pipe(wav)
    a, t = pipe.features(read_audio(wav), WORDS)
    assert t.shape == (45, 16)
    np.testing.assert_array_equal(t[5], hashed_word_vector("hello", 16))  # frame 5 centres at 0.37 s
    assert not t[12].any()  # "sil"
    np.testing.assert_array_equal(with_words, pipe.from_features(a, t))
    np.testing.assert_array_equal(without, pipe.from_features(a, np.zeros_like(t)))


def test_unknown_kind_warns_once(tmp_path, synth, wav):
    clips = write_clip_folder(tmp_path / "clips", dataclasses.replace(synth, text_features="unknown"))
    fit(nn_config(), clips, None, tmp_path / "run", device="cpu")
    pipe = GesturePipeline.load(tmp_path / "run")
    with pytest.warns(UserWarning, match="were not recorded") as rec:
        first = pipe(wav, WORDS)
        second = pipe(wav, WORDS)
    assert len([w for w in rec if "not recorded" in str(w.message)]) == 1
    np.testing.assert_array_equal(first, second)
    with warnings.catch_warnings():  # no words: zeros, as before
        warnings.simplefilter("error")
        pipe(wav)


def test_models_that_ignore_text_take_any_transcript(tmp_path, synth, wav):
    cfg = FitConfig(model="mean-pose", window=32, hop=16, num_clusters=0)
    fit(cfg, write_clip_folder(tmp_path / "clips", synth), None, tmp_path / "run", device="cpu")
    pipe = GesturePipeline.load(tmp_path / "run")
    assert pipe.text_features == "synthetic" and not pipe.reads_text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(pipe(wav, WORDS), pipe(wav))


def test_pats_models_take_a_transcript_made_as_pats_made_its_features(tmp_path, synth, wav, cli, monkeypatch):
    """With a local text model, a model trained on PATS's BERT vectors gets the transcript's word
    pieces' contextual vectors over their frames (the features module's PATS recipe); a model of
    another width is refused."""
    from conftest import minilm_dir
    from gesturekit.features.clip import speech_features
    from gesturekit.records import SegmentTier

    model_dir = minilm_dir()  # 384-d: stands in for bert-base-uncased (768-d, not available offline)
    rng = np.random.default_rng(0)
    clips = [
        dataclasses.replace(c, text=rng.normal(size=(len(c.pose), 384)).astype(np.float32)) for c in synth.clips
    ]
    corpus = dataclasses.replace(synth, clips=clips, text_features="bert")
    run = tmp_path / "run"
    fit(nn_config(), write_clip_folder(tmp_path / "clips", corpus), None, run, device="cpu")
    pipe = GesturePipeline.load(run, text_model=model_dir)
    audio = read_audio(wav)
    _, text = pipe.features(audio, WORDS)
    n = len(text)
    want = speech_features(audio, SegmentTier("words", WORDS), fps=pipe.fps, n_frames=n, model_dir=model_dir)
    np.testing.assert_allclose(text, want[0]["text/bert"], rtol=1e-5, atol=1e-5)
    assert np.abs(text).sum(1).min() > 0  # every frame carries a word piece's vector
    assert np.isfinite(pipe(wav, WORDS)).all()
    _, silent = pipe.features(audio, [Segment("sil", 0.0, 3.0)])  # nothing said: zeros, as between words
    assert not silent.any()
    # the default folder comes from $GESTUREKIT_TEXT_MODEL; the CLI takes --text-model
    monkeypatch.setenv("GESTUREKIT_TEXT_MODEL", str(model_dir))
    np.testing.assert_allclose(GesturePipeline.load(run).features(audio, WORDS)[1], text, rtol=1e-5, atol=1e-5)
    monkeypatch.delenv("GESTUREKIT_TEXT_MODEL")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    words = tmp_path / "words.json"
    words.write_text(json.dumps([{"word": w.label, "start": w.start, "end": w.end} for w in WORDS]))
    r = cli("cospeech", "generate", run, "--audio", wav, "--transcript", words, "--text-model", model_dir,
            "--out", tmp_path / "gen")  # fmt: skip
    assert r.code == 0, r
    # a model trained on 768-d vectors cannot take this 384-d text model's
    zeros = [dataclasses.replace(c, text=np.zeros((len(c.pose), 768), np.float32)) for c in synth.clips]
    wide = dataclasses.replace(synth, clips=zeros, text_features="bert")
    fit(nn_config(), write_clip_folder(tmp_path / "wide_clips", wide), None, tmp_path / "wide", device="cpu")
    with pytest.raises(DataError, match="gives 384-d vectors; this model was trained on 768-d ones"):
        GesturePipeline.load(tmp_path / "wide", text_model=model_dir)(wav, WORDS)
