"""``model_options.text_mode: tokens``: PATS's WordPiece token ids as the clips' text, a trainable
token embedding in the generator, and the checks around them (loaders, fit, sample, generate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store
from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import Corpus, FeatureClip, write_clip_folder
from gesturekit.cospeech.inference.pipeline import GesturePipeline
from gesturekit.cospeech.inference.sampling import sample_split
from gesturekit.cospeech.models.layers import TextEncoder
from gesturekit.cospeech.training.fit import FitConfig, ModelOptions, fit
from gesturekit.errors import ConfigError, DataError
from gesturekit.io.pats import PatsCorpus, read_pats_interval
from gesturekit.io.pats_write import make_synthetic_pats
from gesturekit.records import Audio, Segment

torch.set_num_threads(1)


def tiny_tokens(**kw) -> FitConfig:
    mo = ModelOptions(d=16, decoder_width=8, cc_stat_epoch=0, curriculum_epochs=1.0, text_mode="tokens")
    base = dict(model="ccnce", epochs=1, num_iters=2, batch_size=4, window=32, hop=16, num_clusters=3,
                min_epochs=0, seed=3, model_options=mo)  # fmt: skip
    base.update(kw)
    return FitConfig(**base)


@pytest.fixture(scope="module")
def pats(tmp_path_factory) -> Path:
    return make_synthetic_pats(
        tmp_path_factory.mktemp("pats") / "data", speakers=("oliver",), n_per_speaker=8, seed=4, bert=True
    )


@pytest.fixture(scope="module")
def tokens_run(tmp_path_factory, pats) -> Path:
    run = tmp_path_factory.mktemp("tok") / "run"
    fit(tiny_tokens(), pats, "oliver", run, device="cpu")
    return run


def _intervals(inp: StoreInputs, split: str):
    ds = inp.dataset(split, 1, 1 << 30)
    names = inp.store.index(split)["names"]
    return {names[i]: inp.interval(ds, i) for i in np.unique(ds.window_interval).tolist()}


def test_pats_token_ids_are_the_stored_ids_at_pose_frames(pats):
    inp = StoreInputs.from_store(open_store(pats, speaker="oliver"), text_mode="tokens", speaker="oliver")
    assert inp.text_features == "token-ids" and inp.text_dim == 1
    iv = PatsCorpus(pats).intervals(["oliver"])[0]
    stored = read_pats_interval(iv.path, ["text/tokens"]).streams["text/tokens"]  # 15 fps, like the pose
    _, text, pose = _intervals(inp, iv.split)[iv.interval_id]
    assert text.shape == (len(pose), 1) and text.dtype == np.float32
    np.testing.assert_array_equal(text[:, 0], stored[: len(pose)])
    assert text.max() >= 1000  # word pieces, not the hashed vectors of the default text
    assert StoreInputs.from_store(open_store(pats, speaker="oliver")).text_features == "bert"


def test_token_ids_need_a_source_that_has_them(tmp_path, beat2_dir):
    bare = tmp_path / "bare"  # a take without its TextGrid: no words, so no WordPiece ids
    bare.mkdir()
    for ext in (".npz", ".wav"):
        (bare / f"2_scott_0_1_1{ext}").symlink_to(beat2_dir / f"2_scott_0_1_1{ext}")
    store = open_store(bare, tmp_path / "cache")
    with pytest.raises(DataError, match="needs WordPiece token ids"):
        StoreInputs.from_store(store, text_mode="tokens")
    with pytest.raises(ConfigError, match="text_mode must be one of"):
        StoreInputs.from_store(store, text_mode="ids")
    # with its transcript the store has BEAT2's WordPiece ids, which a tokens model reads
    words = StoreInputs.from_store(open_store(beat2_dir, tmp_path / "cache"), text_mode="tokens")
    assert words.text_features == "token-ids" and words.text_key == "text/tokens"


def test_text_encoder_takes_ids_with_or_without_a_trailing_axis():
    torch.manual_seed(0)
    enc = TextEncoder(1, 8, "tokens")
    ids = torch.tensor([[0, 0, 1012, 1012, 7, 7, 7, 0]])
    assert torch.equal(enc(ids), enc(ids[..., None].float()))
    assert enc(ids).shape == (1, 8, 8)
    with pytest.raises(ConfigError, match="text_mode must be one of"):
        TextEncoder(1, 8, "wordpieces")


def test_fit_sample_and_generate_with_a_token_embedding(tmp_path, pats, tokens_run):
    pipe = GesturePipeline.load(tokens_run)
    assert pipe.text_features == "token-ids" and pipe.meta["kwargs"]["text_mode"] == "tokens"
    emb = pipe.model.speech.text.proj
    assert isinstance(emb, torch.nn.Embedding) and emb.num_embeddings == 30522
    res = sample_split(pipe, pats, "test", tmp_path / "s.h5", speaker="oliver")
    assert res["intervals"] >= 1 and res["frames"] > 0
    audio = Audio(np.random.default_rng(0).normal(0, 0.1, 16000 * 3).astype(np.float32), 16000)
    poses = pipe(audio)  # the audio alone: id 0 everywhere, as between words in PATS
    assert poses.shape[0] == 45 and np.isfinite(poses).all()


def test_a_transcript_becomes_word_piece_ids(tokens_run, tmp_path, monkeypatch):
    from conftest import minilm_dir
    from gesturekit.features.text import load_tokenizer, word_pieces
    from gesturekit.records import SegmentTier

    monkeypatch.delenv("GESTUREKIT_TEXT_MODEL", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    audio = Audio(np.random.default_rng(0).normal(0, 0.1, 16000 * 3).astype(np.float32), 16000)
    words = [Segment("hello", 0.2, 0.7), Segment("gesticulating", 1.0, 2.5)]
    with pytest.raises(DataError, match="needs a local text model folder"):
        GesturePipeline.load(tokens_run)(audio, words)
    pipe = GesturePipeline.load(tokens_run, text_model=minilm_dir())  # its tokenizer: BERT's uncased pieces
    _, text = pipe.features(audio, words)
    want = word_pieces(SegmentTier("words", words), load_tokenizer(minilm_dir()), 45, 15.0).frame_tokens()
    np.testing.assert_array_equal(text[:, 0], want)
    assert len(np.unique(want)) > 2  # "gesticulating" splits into several pieces over its frames
    assert np.isfinite(pipe(audio, words)).all()


def test_a_model_is_sampled_only_on_clips_of_its_text_kind(tmp_path, pats, tokens_run):
    bert_run = tmp_path / "bert"
    fit(tiny_tokens(model_options=ModelOptions(d=16, decoder_width=8, curriculum_epochs=1.0)), pats, "oliver",
        bert_run, device="cpu")  # fmt: skip
    pipe = GesturePipeline.load(bert_run)
    assert pipe.text_features == "bert"
    tokens_store = tmp_path / "tokens_clips"
    inp = StoreInputs.from_store(open_store(pats, speaker="oliver"), text_mode="tokens", speaker="oliver")
    clips = [FeatureClip(name, "oliver", split, a, t, p, 15.0)
             for split in inp.store.splits for name, (a, t, p) in _intervals(inp, split).items()]  # fmt: skip
    write_clip_folder(tokens_store, Corpus(clips, inp.pose_format, 15.0, "", "token-ids"))
    with pytest.raises(DataError, match="the model was trained on stored contextual vectors"):
        sample_split(pipe, tokens_store, "test", tmp_path / "s.h5", speaker="oliver")


def test_fit_refuses_text_that_does_not_fit_the_mode(tmp_path):
    syn = make_synthetic_corpus(n_train=3, n_dev=1, n_test=1, frames=64, seed=2)
    with pytest.raises(DataError, match="needs WordPiece token ids"):
        fit(tiny_tokens(), write_clip_folder(tmp_path / "syn", syn), None, tmp_path / "a", device="cpu")
    bad = [c for c in syn.clips]
    ids = [type(c)(c.clip_id, c.speaker, c.split, c.audio, np.full((len(c.pose), 1), 40000.0, np.float32),
                   c.pose, c.fps) for c in bad]  # fmt: skip
    corpus = write_clip_folder(
        tmp_path / "ids", Corpus(ids, syn.pose_format, syn.fps, "hand-made", "token-ids")
    )
    with pytest.raises(DataError, match="not WordPiece ids"):
        fit(tiny_tokens(), corpus, None, tmp_path / "b", device="cpu")
    with pytest.raises(DataError, match="only model_options.text_mode 'tokens' takes"):
        fit(FitConfig(model="ccnce", epochs=1, num_iters=1, window=32, hop=16), corpus, None, tmp_path / "c",
            device="cpu")  # fmt: skip
