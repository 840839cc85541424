"""Training, checkpoints, exact resume, sampling, generation and the CLI on tiny configs."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

from gesturekit.checkpoint import load_checkpoint
from gesturekit.cospeech.data import write_clip_folder
from gesturekit.cospeech.fit import FitConfig, ModelOptions, fit, load_model, predict_windows, prepare
from gesturekit.cospeech.pipeline import GesturePipeline, run_windows
from gesturekit.cospeech.samples import read_samples
from gesturekit.cospeech.synthetic import make_synthetic_corpus
from gesturekit.errors import ConfigError, DataError
from gesturekit.render.encode import probe

torch.set_num_threads(1)


def tiny(**kw) -> FitConfig:
    mo = ModelOptions(d=16, cc_stat_epoch=0, curriculum_epochs=1.0, moco_queue=8)
    base = dict(epochs=2, num_iters=2, batch_size=4, window=32, hop=16, num_clusters=3, min_epochs=0,
                seed=3, model_options=mo)  # fmt: skip
    base.update(kw)
    return FitConfig(**base)


@pytest.fixture(scope="module")
def corpus():
    return make_synthetic_corpus(n_train=4, n_dev=1, n_test=1, frames=64, seed=0)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory, corpus):
    return write_clip_folder(tmp_path_factory.mktemp("clips") / "synth", corpus)


def test_fit_writes_model_state_history_and_tensorboard(tmp_path, corpus):
    res = fit(tiny(), "", None, tmp_path, device="cpu", corpus=corpus)
    assert res["epochs"] == 2 and res["dev_key"] == "L1"
    for name in (
        "model.safetensors",
        "model.json",
        "state.safetensors",
        "state.json",
        "config.yaml",
        "history.csv",
    ):
        assert (tmp_path / name).exists(), name
    assert any((tmp_path / "tb").iterdir())
    assert len((tmp_path / "history.csv").read_text().strip().splitlines()) == 3


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path, corpus):
    cfg = tiny(epochs=1)
    fit(cfg, "", None, tmp_path, device="cpu", corpus=corpus)
    model, meta = load_model(tmp_path)
    prep = prepare(corpus, cfg)
    tensors, _ = load_checkpoint(tmp_path / "model")
    fresh, _ = load_model(tmp_path)
    a, _ = predict_windows(model, prep.dev, torch.device("cpu"))
    b, _ = predict_windows(fresh, prep.dev, torch.device("cpu"))
    np.testing.assert_array_equal(a, b)
    assert meta["model"] == "ccnce" and meta["pose_format"]["kind"] == "pats"
    assert any(k.startswith("clusters.") for k in tensors)


def test_resume_continues_exactly(tmp_path, corpus):
    """1 epoch + resume for 1 more == 2 epochs straight: every weight, optimiser moment and RNG."""
    straight = tmp_path / "straight"
    fit(tiny(epochs=2), "", None, straight, device="cpu", corpus=corpus)
    parted = tmp_path / "parted"
    fit(tiny(epochs=1), "", None, parted, device="cpu", corpus=corpus)
    fit(tiny(epochs=2), "", None, parted, device="cpu", corpus=corpus, resume=True)
    a, meta_a = load_checkpoint(straight / "state")
    b, meta_b = load_checkpoint(parted / "state")
    assert set(a) == set(b) and len(a) > 100
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert meta_a == meta_b


def test_baselines_fit_without_epochs(tmp_path, corpus):
    res = fit(tiny(model="nearest-neighbour"), "", None, tmp_path / "nn", device="cpu", corpus=corpus)
    assert res["epochs"] == 0 and "dev_L1" in res
    pipe = GesturePipeline.load(tmp_path / "nn")
    clip = corpus.split("test")[0]
    assert pipe.from_features(clip.audio, clip.text).shape == (len(clip.pose), 52, 2)


def test_windows_are_stitched_without_seams():
    class Echo(torch.nn.Module):  # output = input: stitching must give the input back exactly
        def forward(self, a, t):
            return a, {}, {}

    x = np.random.default_rng(0).normal(size=(101, 3)).astype(np.float32)
    out = run_windows(Echo(), x, np.zeros((101, 1), np.float32), 32, torch.device("cpu"))
    np.testing.assert_allclose(out, x, rtol=1e-5, atol=1e-6)


def test_cli_fit_sample_generate(cli, tmp_path, clip_dir, beat2_dir):
    run = tmp_path / "run"
    sets = ["window=32", "batch_size=4", "num_clusters=3", "model_options.d=16"]
    opts = [x for s in sets for x in ("--set", s)]
    r = cli("cospeech", "fit", "--data", clip_dir, "--model", "mix", "--epochs", "1", "--num-iters", "1", *opts,
            "--threads", "1", "--out", run)  # fmt: skip
    assert r.code == 0, r
    assert json.loads(r.out)["epochs"] == 1
    # the run folder is not overwritten without being asked
    r = cli("cospeech", "fit", "--data", clip_dir, "--epochs", "1", "--out", run)
    assert r.code == 1 and "--resume" in r.err
    r = cli("cospeech", "sample", run, "--data", clip_dir, "--split", "test", "--out", tmp_path / "s.h5")
    assert r.code == 0, r
    s = read_samples(tmp_path / "s.h5")
    assert len(s.items) == 1 and s.items[0].generated.shape == s.items[0].ground_truth.shape == (64, 52, 2)
    ref = tmp_path / "ref"
    r = cli("cospeech", "sample", run, "--data", clip_dir, "--layout", "reference", "--out", ref)
    assert r.code == 0, r
    files = list((ref / "keypoints" / "test").rglob("*.h5"))
    with h5py.File(files[0]) as f:
        arr = f["pose/normalize"][()]
    assert arr.shape == (64, 2, 52) and np.all(arr[:, :, 0] == 0)
    wav = beat2_dir / "2_scott_0_1_1.wav"
    # the model learned the synthetic corpus's own word embeddings, which no transcript gives:
    # a transcript is refused in one line, and nothing is written
    r = cli("cospeech", "generate", run, "--audio", wav, "--transcript", beat2_dir / "2_scott_0_1_1.TextGrid",
            "--out", tmp_path / "gen_words")  # fmt: skip
    assert r.code == 1 and r.out == "" and len(r.err.strip().splitlines()) == 1, r
    assert str(run) in r.err and "synthetic corpus's own word embeddings" in r.err and "audio alone" in r.err
    assert not (tmp_path / "gen_words").exists()
    with pytest.warns(UserWarning, match="without a transcript its text input is zeros"):
        r = cli("cospeech", "generate", run, "--audio", wav, "--out", tmp_path / "gen")
    assert r.code == 0, r
    with np.load(tmp_path / "gen" / "poses.npz") as z:
        assert z["poses"].shape == (int(64.097 * 15), 52, 2)
        assert float(z["fps"]) == 15.0 and len(z["joint_names"]) == 52 and len(z["parents"]) == 52
    # --render draws the generated poses with the recording's sound
    y, sr = sf.read(wav, dtype="float32")
    short = tmp_path / "short.wav"
    sf.write(short, y[: sr * 3], sr)
    with pytest.warns(UserWarning, match="zeros"):
        r = cli("cospeech", "generate", run, "--audio", short, "--render", "--out", tmp_path / "gen_video")
    assert r.code == 0, r
    video = Path(json.loads(r.out)["video"])
    assert video.suffix == ".mp4" and video.parent == tmp_path / "gen_video"
    info = probe(video)
    assert info.video_streams == 1 and info.audio_streams == 1 and abs(info.duration - 3.0) < 1 / 15 + 0.05


def test_cli_errors_are_one_line(cli, tmp_path):
    r = cli("cospeech", "fit", "--data", tmp_path / "nowhere", "--out", tmp_path / "o")
    assert r.code == 1 and "not found" in r.err
    r = cli("cospeech", "generate", tmp_path, "--audio", tmp_path / "x.wav", "--out", tmp_path / "g")
    assert r.code == 1 and "checkpoint" in r.err


def test_bad_config_values_are_errors(tmp_path, corpus):
    with pytest.raises(ConfigError, match="dev_key"):
        fit(tiny(dev_key="banana"), "", None, tmp_path, device="cpu", corpus=corpus)
    short = make_synthetic_corpus(n_train=1, n_dev=1, n_test=1, frames=20)
    with pytest.raises(DataError, match="long enough"):
        fit(tiny(), "", None, tmp_path / "b", device="cpu", corpus=short)


def test_beat2_folder_through_the_cli(cli, tmp_path, beat2_dir):
    run = tmp_path / "run"
    sets = ["window=32", "batch_size=4", "num_clusters=3", "model_options.d=16"]
    opts = [x for s in sets for x in ("--set", s)]
    r = cli("cospeech", "fit", "--data", beat2_dir, "--speaker", "scott", "--model", "mix", "--epochs", "1",
            "--num-iters", "1", *opts, "--threads", "1", "--out", run)  # fmt: skip
    assert r.code == 0, r
    assert json.loads(r.out)["train_windows"] > 0
    pipe = GesturePipeline.load(run)
    assert pipe.pose_format.kind == "smplx6d" and len(pipe.joint_names) == 55
    wav = Path(beat2_dir) / "2_scott_0_1_1.wav"
    rot = pipe(wav)
    assert rot.shape == (int(64.097 * 15), 55, 3) and np.all(np.isfinite(rot))
    r = cli("cospeech", "generate", run, "--audio", wav, "--out", tmp_path / "gen")
    assert r.code == 0, r
    with np.load(tmp_path / "gen" / "poses.npz") as z:
        assert z["poses"].shape == rot.shape  # joint positions (metres) on the generic skeleton
        np.testing.assert_allclose(z["rotations_axis_angle"], rot, atol=1e-5)
        assert 0.1 < np.abs(z["poses"][:, 20] - z["poses"][:, 0]).max() < 2.0  # a wrist, metres from the pelvis
    # trained on the takes' hashed word vectors: a transcript gives those, and they reach the model
    assert pipe.text_features == "words"
    tg = wav.with_suffix(".TextGrid")
    r = cli("cospeech", "generate", run, "--audio", wav, "--transcript", tg, "--out", tmp_path / "gen_words")
    assert r.code == 0 and r.err == "", r
    with np.load(tmp_path / "gen_words" / "poses.npz") as z:
        assert z["poses"].shape == rot.shape and not np.allclose(z["rotations_axis_angle"], rot, atol=1e-3)
    r = cli("cospeech", "sample", run, "--data", beat2_dir, "--split", "test", "--out", tmp_path / "s.h5")
    assert r.code == 0, r
    s = read_samples(tmp_path / "s.h5")
    assert s.units == "m" and s.items[0].generated.shape[1:] == (55, 3) and s.items[0].start_s > 40
