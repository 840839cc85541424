"""Training, checkpoints, exact resume, sampling, generation and the CLI on tiny configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

import gesturekit.cospeech.training.fit as fit_module
import gesturekit.precision as precision_module
from gesturekit.checkpoint import load_checkpoint
from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store
from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import write_clip_folder
from gesturekit.cospeech.inference.pipeline import GesturePipeline, run_windows
from gesturekit.cospeech.models.bundle import load_model
from gesturekit.cospeech.training.fit import (
    FitConfig,
    ModelOptions,
    fit,
    model_arrays,
    predict,
    prepare,
)
from gesturekit.errors import ConfigError, DataError
from gesturekit.io.samples import read_samples
from gesturekit.render.encode import probe
from gesturekit.train.logging import read_metrics_csv
from gesturekit.train.state import latest_training_state

torch.set_num_threads(1)
OLD_RUN = Path(__file__).parent / "data" / "old_layout_run"


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


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("store-cache")


def test_fit_writes_the_engine_layout(tmp_path, clip_dir, cache):
    res = fit(tiny(), clip_dir, None, tmp_path, device="cpu", cache=cache)
    assert res["epochs"] == 2 and res["dev_key"] == "L1" and res["data"]["split_rule"] == "clips"
    for name in ("model.safetensors", "model.json", "config.yaml", "metrics.csv", "training.json",
                 "state/latest.json", "state/config.json"):  # fmt: skip
        assert (tmp_path / name).exists(), name
    assert not (tmp_path / "history.csv").exists() and not (tmp_path / "state.json").exists()
    assert any((tmp_path / "tensorboard").iterdir())
    rows = read_metrics_csv(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows if r["split"] == "val" and r["name"] == "L1"] == [0, 1]
    assert {"pose", "G_gan", "real_D", "fake_D", "lr_G"} <= {r["name"] for r in rows if r["split"] == "train"}
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["data"]["format"] == "clips" and summary["train_windows"] == res["train_windows"]


def _dev_prediction(run: Path, clip_dir: Path, cache: Path, cfg: FitConfig) -> np.ndarray:
    model, _ = load_model(run)
    prep = prepare(StoreInputs.from_store(open_store(clip_dir, cache)), cfg)
    audio, text, _, _, _ = model_arrays(prep, prep.dev.get_batch(np.arange(len(prep.dev))))
    return predict(model, audio, text, torch.device("cpu"))[0]


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path, clip_dir, cache):
    cfg = tiny(epochs=1)
    fit(cfg, clip_dir, None, tmp_path, device="cpu", cache=cache)
    _, meta = load_model(tmp_path)
    tensors, _ = load_checkpoint(tmp_path / "model")
    a = _dev_prediction(tmp_path, clip_dir, cache, cfg)
    b = _dev_prediction(tmp_path, clip_dir, cache, cfg)
    np.testing.assert_array_equal(a, b)
    assert meta["model"] == "ccnce" and meta["pose_format"]["kind"] == "pats" and meta["window"] == 32
    assert any(k.startswith("clusters.") for k in tensors)


def _final_state(run: Path) -> tuple[dict, dict]:
    return load_checkpoint(latest_training_state(run / "state"))


@pytest.fixture
def bf16_cpu(monkeypatch):
    """bf16 autocast on this CPU whatever its instructions (emulated where it has no bf16 fast path:
    slow, but the same arithmetic), so that the bf16 paths are tested on every machine."""
    monkeypatch.setattr(precision_module, "bf16_support", lambda device: (True, "test"))


@pytest.mark.parametrize(
    "schedule,precision", [("alternate", "fp32"), ("random", "fp32"), ("alternate", "bf16")]
)
def test_resume_after_a_kill_mid_epoch_is_bit_exact(tmp_path, clip_dir, cache, monkeypatch, bf16_cpu, schedule,
                                                   precision):  # fmt: skip
    """Killed after 5 batches (state saved every 2), resumed: every weight, optimiser moment, RNG,
    the cc_nce memory and the adversarial-weight counter end as in a run that never stopped
    (in bf16 mixed precision too)."""
    cfg = tiny(epochs=3, num_iters=3, checkpoint_every_steps=2, d_schedule=schedule, precision=precision)
    straight = tmp_path / "straight"
    fit(cfg, clip_dir, None, straight, device="cpu", cache=cache)

    class Killed(Exception):
        pass

    real = fit_module.GANSteps.batch
    calls = {"n": 0}

    def dying(self, *a, **kw):
        if calls["n"] == 5:
            raise Killed
        calls["n"] += 1
        return real(self, *a, **kw)

    parted = tmp_path / "parted"
    monkeypatch.setattr(fit_module.GANSteps, "batch", dying)
    with pytest.raises(Killed):
        fit(cfg, clip_dir, None, parted, device="cpu", cache=cache)
    monkeypatch.setattr(fit_module.GANSteps, "batch", real)
    assert json.loads((parted / "state" / "latest.json").read_text())["counters"]["step"] == 4
    _, meta = _final_state(parted)
    assert schedule == "random" or meta["structure"]["extra"]["stateful"]["cc"]["clusters"], (
        "the kill must fall where cc_nce holds a memory"
    )
    fit(cfg, clip_dir, None, parted, device="cpu", cache=cache, resume=True)
    a, meta_a = _final_state(straight)
    b, meta_b = _final_state(parted)
    assert set(a) == set(b) and len(a) > 100
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert meta_a == meta_b
    ma, _ = load_checkpoint(straight / "model")
    mb, _ = load_checkpoint(parted / "model")
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    rows = read_metrics_csv(parted / "metrics.csv")
    assert [r["step"] for r in rows] == [r["step"] for r in read_metrics_csv(straight / "metrics.csv")]
    assert json.loads((parted / "training.json").read_text())["precision"] == precision


def test_bf16_runs_repeat_exactly_and_stay_near_fp32(tmp_path, clip_dir, cache, bf16_cpu):
    """Same seed, same bf16 figures and weights; bf16 really computes in bfloat16 (not the fp32
    figures), its master weights and saved state stay float32, and its dev L1 is near fp32's."""
    runs = {}
    for name, prec in (("a", "bf16"), ("b", "bf16"), ("fp32", "fp32")):
        runs[name] = fit(tiny(precision=prec), clip_dir, None, tmp_path / name, device="cpu", cache=cache)
    assert runs["a"]["precision"] == "bf16" and runs["fp32"]["precision"] == "fp32"
    assert runs["a"]["dev_L1"] == runs["b"]["dev_L1"]
    ma, _ = load_checkpoint(tmp_path / "a" / "model")
    mb, _ = load_checkpoint(tmp_path / "b" / "model")
    mf, _ = load_checkpoint(tmp_path / "fp32" / "model")
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    assert any(not torch.equal(ma[k], mf[k]) for k in ma)
    state, _ = _final_state(tmp_path / "a")
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float32}
    assert abs(runs["a"]["dev_L1"] - runs["fp32"]["dev_L1"]) < 0.02 * runs["fp32"]["dev_L1"]


def test_generation_in_bf16_is_close_to_fp32(tmp_path, clip_dir, cache, bf16_cpu, cli):
    run = tmp_path / "run"
    sets = [x for s in ("window=32", "hop=16", "num_clusters=3", "model_options.d=16") for x in ("--set", s)]
    r = cli("cospeech", "fit", "--data", clip_dir, "--cache", cache, "--epochs", "1", "--num-iters", "2",
            "--batch-size", "4", *sets, "--precision", "bf16", "--threads", "1", "--out", run)  # fmt: skip
    assert r.code == 0, r
    assert json.loads((run / "training.json").read_text())["precision"] == "bf16"
    rng = np.random.default_rng(0)
    pipe = GesturePipeline.load(run)
    audio = rng.normal(size=(200, pipe.audio_norm.n_out)).astype(np.float32)
    text = np.zeros((200, pipe.text_dim), np.float32)
    poses = {p: GesturePipeline.load(run, precision=p).from_features(audio, text) for p in ("fp32", "bf16")}
    assert GesturePipeline.load(run, precision="bf16").precision == "bf16"
    diff = np.abs(poses["bf16"] - poses["fp32"]).mean() / np.abs(poses["fp32"]).mean()
    assert 0 < diff < 0.02, diff
    r = cli("cospeech", "sample", run, "--data", clip_dir, "--split", "test", "--cache", cache,
            "--precision", "bf16", "--out", tmp_path / "s.h5")  # fmt: skip
    assert r.code == 0, r


def test_an_old_layout_run_still_samples_and_generates_but_refuses_resume(cli, tmp_path, clip_dir, cache,
                                                                          beat2_dir):  # fmt: skip
    run = tmp_path / "old"
    shutil.copytree(OLD_RUN, run)
    r = cli("cospeech", "sample", run, "--data", clip_dir, "--cache", cache, "--out", tmp_path / "s.h5")
    assert r.code == 0, r
    s = read_samples(tmp_path / "s.h5")
    assert len(s.items) == 1 and s.items[0].generated.shape == (64, 52, 2)
    with pytest.warns(UserWarning, match="zeros"):
        r = cli(
            "cospeech", "generate", run, "--audio", beat2_dir / "2_scott_0_1_1.wav", "--out", tmp_path / "g"
        )
    assert r.code == 0, r
    before = sorted(p.name for p in run.iterdir())
    r = cli("cospeech", "fit", "--data", clip_dir, "--cache", cache, "--resume", "--out", run)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r
    assert "before the shared training engine" in r.err and "--resume cannot continue" in r.err
    assert sorted(p.name for p in run.iterdir()) == before


def test_baselines_fit_without_epochs(tmp_path, corpus, clip_dir, cache):
    res = fit(tiny(model="nearest-neighbour"), clip_dir, None, tmp_path / "nn", device="cpu", cache=cache)
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


def test_cli_fit_sample_generate(cli, tmp_path, clip_dir, beat2_dir, cache):
    run = tmp_path / "run"
    sets = ["window=32", "batch_size=4", "num_clusters=3", "model_options.d=16"]
    opts = [x for s in sets for x in ("--set", s)]
    r = cli("cospeech", "fit", "--data", clip_dir, "--model", "mix", "--epochs", "1", "--num-iters", "1", *opts,
            "--threads", "1", "--cache", cache, "--out", run)  # fmt: skip
    assert r.code == 0, r
    assert json.loads(r.out)["epochs"] == 1
    # the run folder is not overwritten without being asked
    r = cli("cospeech", "fit", "--data", clip_dir, "--epochs", "1", "--out", run)
    assert r.code == 1 and "--resume" in r.err
    r = cli("cospeech", "sample", run, "--data", clip_dir, "--split", "test", "--cache", cache,
            "--out", tmp_path / "s.h5")  # fmt: skip
    assert r.code == 0, r
    s = read_samples(tmp_path / "s.h5")
    assert len(s.items) == 1 and s.items[0].generated.shape == s.items[0].ground_truth.shape == (64, 52, 2)
    ref = tmp_path / "ref"
    r = cli(
        "cospeech", "sample", run, "--data", clip_dir, "--layout", "reference", "--cache", cache, "--out", ref
    )
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


def test_bad_config_values_are_errors(tmp_path, clip_dir, cache):
    with pytest.raises(ConfigError, match="dev_key"):
        fit(tiny(dev_key="banana"), clip_dir, None, tmp_path, device="cpu", cache=cache)
    with pytest.raises(ConfigError, match="precision must be one of"):
        fit(tiny(precision="fp16"), clip_dir, None, tmp_path, device="cpu", cache=cache)
    short = write_clip_folder(
        tmp_path / "short", make_synthetic_corpus(n_train=1, n_dev=1, n_test=1, frames=20)
    )
    with pytest.raises(DataError, match="long enough"):
        fit(tiny(), short, None, tmp_path / "b", device="cpu", cache=cache)


def test_beat2_folder_through_the_cli(cli, tmp_path, beat2_dir, cache):
    run = tmp_path / "run"
    sets = ["window=32", "batch_size=4", "num_clusters=3", "model_options.d=16"]
    opts = [x for s in sets for x in ("--set", s)]
    r = cli("cospeech", "fit", "--data", beat2_dir, "--speaker", "scott", "--model", "mix", "--epochs", "1",
            "--num-iters", "1", *opts, "--threads", "1", "--cache", cache, "--out", run)  # fmt: skip
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
    r = cli("cospeech", "sample", run, "--data", beat2_dir, "--split", "test", "--cache", cache,
            "--out", tmp_path / "s.h5")  # fmt: skip
    assert r.code == 0, r
    s = read_samples(tmp_path / "s.h5")
    assert s.units == "m" and s.items[0].generated.shape[1:] == (55, 3) and s.items[0].start_s > 40


def test_beat2_download_layout_trains_on_the_train_take_and_samples_the_whole_test_take(
    cli, tmp_path, realdata
):
    """train_test_split.csv names one take train and the other test (no dev): fit trains on the
    first take only (its windows), keeps the last epoch's model, and sample gives the whole second
    take: 1804 frames at 30 fps = 902 at 15 fps."""
    from beat2_fixtures import link_real_takes, write_split_csv

    lang = link_real_takes(realdata, tmp_path / "beat_english_v2.0.0")
    write_split_csv(lang, [("2_scott_0_1_1", "train"), ("2_scott_0_2_2", "test")])
    run, cache = tmp_path / "run", tmp_path / "cache"
    sets = ["window=32", "batch_size=8", "num_clusters=3", "model_options.d=16"]
    opts = [x for s in sets for x in ("--set", s)]
    r = cli("cospeech", "fit", "--data", lang, "--epochs", "1", "--num-iters", "1", *opts, "--threads", "1",
            "--cache", cache, "--out", run)  # fmt: skip
    assert r.code == 0, r
    res = json.loads(r.out)
    assert res["data"]["split_rule"] == "csv" and res["dev_windows"] == 0 and res["best"] is None
    store = open_store(lang, cache)
    assert store.index("train")["names"] == ["2_scott_0_1_1"] and "dev" not in store.splits
    frames = int(np.floor(store.durations("train")[0] * 15 + 1e-6))
    assert res["train_windows"] == (frames - 32) // 5 + 1  # the windows of the first take alone
    assert "dev_L1" not in res and json.loads((run / "model.json").read_text())["meta"]["best_epoch"] == 0
    r = cli("cospeech", "sample", run, "--data", lang, "--split", "test", "--cache", cache,
            "--out", tmp_path / "s.h5")  # fmt: skip
    assert r.code == 0, r
    s = read_samples(tmp_path / "s.h5")
    assert [i.interval_id for i in s.items] == ["2_scott_0_2_2"]
    assert s.items[0].generated.shape == s.items[0].ground_truth.shape == (902, 55, 3)
    # the take's words (TextGrid, silences dropped) travel with it, so render and report show them
    words = s.items[0].words
    assert words is not None and words[0].label == "so" and abs(words[0].start - 1.45) < 1e-6
    assert all(w.label.strip() for w in words) and words[-1].end <= 902 / 15 + 1
