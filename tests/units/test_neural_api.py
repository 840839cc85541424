"""The trained neural model as a UnitModel: load, encode/decode in data units, checkpoint round
trips, the fast inference path, VAE sampling, bad input, and the units CLI on ae/vae runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gesturekit.errors import DataError
from gesturekit.io import read_ema
from gesturekit.units.methods import fit_run
from gesturekit.units.model import UnitModel
from gesturekit.units.neural import NeuralUnitModel, NeuralUnitsConfig


def _tiny(method: str) -> NeuralUnitsConfig:
    cfg = NeuralUnitsConfig(method=method, gestures=6, width=7, epochs=2, val_fraction=0.25, seed=3)
    cfg.net.kernels = [5, 3]
    cfg.data.segment_len = 100
    cfg.data.items_per_epoch = 6
    cfg.train.batch_size = 3
    cfg.train.progress = False
    cfg.train.figures_every = 0
    cfg.init.max_windows = 1000
    cfg.init.iters = 5
    cfg.figures = False
    return cfg


@pytest.fixture(scope="module")
def runs(mngu0_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("neural_runs")
    out = {}
    for method in ("ae", "vae"):
        fit_run([mngu0_dir], _tiny(method), root / method)
        out[method] = root / method
    return out


@pytest.mark.parametrize("method", ["ae", "vae"])
def test_load_encode_decode_in_data_units(runs, method, mngu0_dir):
    model = UnitModel.load(runs[method])
    assert isinstance(model, NeuralUnitModel) and model.method == method
    rec = read_ema(sorted(mngu0_dir.glob("*.npy"))[0])
    h = model.encode(rec)
    assert h.shape == (6, rec.frames) and h.dtype == np.float32 and (h >= 0).all()
    y = model.decode(h)
    assert y.shape == (rec.frames, 12)
    assert np.array_equal(model.encode(rec.data), h)  # an array (time, channels) in data units
    h2, y2 = model.reconstruct(rec)
    assert np.allclose(h2, h) and np.allclose(y2, y, atol=1e-5)
    # the fast inference path computes what the network computes
    xn = model.normalise(rec)
    with torch.no_grad():
        t = torch.from_numpy(xn.T.copy())[None]
        h_net = model.net.encode(t)[0].numpy()
        y_net = model.net.decode(torch.from_numpy(h)[None])[0].T.numpy()
    assert np.allclose(h, h_net, rtol=1e-4, atol=1e-5)
    assert np.allclose(model.decode_normalised(h), y_net, rtol=1e-4, atol=1e-5)
    # data units: zero scores decode to the normaliser's origin (the training mean posture)
    zero = model.decode(np.zeros((6, 20), dtype=np.float32))
    assert np.allclose(zero, model.normalizer.inverse_transform(np.zeros((20, 12))), atol=1e-5)
    assert np.allclose(y, model.normalizer.inverse_transform(model.decode_normalised(h)), atol=1e-5)


@pytest.mark.parametrize("method", ["ae", "vae"])
def test_checkpoint_round_trip(runs, method, tmp_path, mngu0_dir):
    model = UnitModel.load(runs[method])
    model.save(tmp_path / "copy")
    again = UnitModel.load(tmp_path / "copy")
    a, b = model.tensors(), again.tensors()
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert again.channels == model.channels and again.rate_hz == model.rate_hz
    rec = read_ema(sorted(mngu0_dir.glob("*.npy"))[1])
    assert np.array_equal(model.encode(rec), again.encode(rec))
    meta = json.loads((tmp_path / "copy" / "model.json").read_text())["meta"]
    assert meta["method"] == method and "normalizer" in meta


def test_vae_sampling_and_ae_refusal(runs, mngu0_dir):
    rec = read_ema(sorted(mngu0_dir.glob("*.npy"))[0])
    vae = UnitModel.load(runs["vae"])
    s = vae.sample(rec, n=3, seed=1)
    assert s.shape == (3, 6, rec.frames) and (s > 0).all()
    assert np.array_equal(s, vae.sample(rec, n=3, seed=1)) and not np.array_equal(s[0], s[1])
    with pytest.raises(DataError, match="variational"):
        UnitModel.load(runs["ae"]).sample(rec)


def test_bad_input_is_a_clear_error(runs):
    model = UnitModel.load(runs["ae"])
    with pytest.raises(DataError, match=r"\(time, 12\)"):
        model.encode(np.zeros((50, 11)))
    bad = np.zeros((50, 12))
    bad[3, 4] = np.nan
    with pytest.raises(DataError, match="NaN"):
        model.encode(bad)
    with pytest.raises(DataError, match=r"scores must be \(6, time\)"):
        model.decode(np.zeros((5, 20)))


def test_units_cli_on_neural_runs(runs, cli, tmp_path, mngu0_dir):
    files = sorted(mngu0_dir.glob("*.npy"))[:2]
    r = cli("units", "evaluate", str(runs["vae"]), *map(str, files), "--json")
    assert r.code == 0, r.err
    got = json.loads(r.out)
    assert got["files"] == 2 and -1 <= got["mean_channel_r"] <= 1 and got["rmse"] > 0
    r = cli("units", "plot", str(runs["ae"]), str(files[0]), "--out", str(tmp_path / "fig"))
    assert r.code == 0, r.err
    pngs = sorted(p.name for p in (tmp_path / "fig").glob("*.png"))
    assert "gestures.png" in pngs and any(p.startswith("reconstruction_") for p in pngs)
    assert all((tmp_path / "fig" / p).stat().st_size > 1000 for p in pngs)
    # the run folder of a fitted model: metrics, split, training summary, TensorBoard, CSV
    for name in ("metrics.json", "split.json", "training.json", "metrics.csv", "config.yaml"):
        assert (runs["ae"] / name).exists(), name
    assert any((runs["ae"] / "tensorboard").iterdir())


def test_units_decompose_cli(runs, cli, tmp_path, mngu0_dir):
    f = sorted(mngu0_dir.glob("*.npy"))[0]
    out = tmp_path / "dec"
    r = cli("units", "decompose", str(runs["vae"]), str(f), "--out", str(out), "--samples", "2", "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    entry = summary["files"][0]
    h = np.load(out / entry["scores"])
    y = np.load(out / entry["reconstruction"])
    s = np.load(out / entry["samples"])
    assert h.shape == (6, entry["frames"]) and y.shape == (entry["frames"], 12) and s.shape == (2, *h.shape)
    model = UnitModel.load(runs["vae"])
    assert np.allclose(h, model.encode(read_ema(f)), atol=1e-6)
    again = cli("units", "decompose", str(runs["vae"]), str(f), "--out", str(out))
    assert again.code == 1 and "--overwrite" in again.err  # never silently replaced
    refused = cli("units", "decompose", str(runs["ae"]), str(f), "--out", str(tmp_path / "x"), "--samples", "1")
    assert refused.code == 1 and "variational" in refused.err


def test_plot_defaults_to_the_run_figures_folder(runs, cli, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["ae"], run)
    r = cli("units", "plot", str(run))
    assert r.code == 0, r.err
    names = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert "gestures.png" in names and any(n.startswith("scores_") for n in names)


def test_tensorboard_gets_scalars_and_figure_images(mngu0_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gesturekit.units.neural import fit_neural

    recs = [read_ema(p) for p in sorted(mngu0_dir.glob("*.npy"))[:4]]
    cfg = _tiny("ae")
    cfg.epochs = 1
    cfg.figures = True
    cfg.train.figures_every = 1
    fit_neural(recs[:3], recs[3:], cfg, tmp_path)
    acc = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = acc.Tags()
    assert "figures/gestures" in tags["images"]
    assert any(t.startswith("figures/reconstruction_") for t in tags["images"])
    assert {"train/loss", "val/loss", "val/r"} <= set(tags["scalars"])


def test_readme_neural_python_example_runs(runs, monkeypatch):
    import re

    from conftest import REPO

    text = (REPO / "README.md").read_text()
    start = text.index("## Gestural units: neural")
    code = re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)
    monkeypatch.chdir(REPO)
    scope: dict = {}
    exec(compile(code.replace('"runs/ae_mngu0"', repr(str(runs["ae"]))), "README.md", "exec"), scope)
    assert scope["scores"].shape == (6, 1269) and scope["recon"].shape == (1269, 12)


def _frozen(net, affine=None):
    """The torch backend's frozen network of ``net`` (affine: ``(shift, scale)`` ``(channels, 1)``)."""
    from gesturekit.units.neural.models import VAECNMF
    from gesturekit.units.ops._torch import FrozenNet

    head = net.mean_scores if isinstance(net, VAECNMF) else None
    dec = net.decoder
    return FrozenNet(net.encoder.layers(), net.encoder.final_relu, head, dec.gestures(), dec.centre, affine)


@pytest.mark.parametrize("method", ["ae", "vae"])
def test_fast_inference_equals_the_network_dense_and_sparse_scores(method):
    from gesturekit.units.neural.models import NetConfig, build_net

    torch.manual_seed(0)
    net = build_net(method, 12, NetConfig(gestures=20, width=7, kernels=[5, 3])).eval()
    fast = _frozen(net)
    x = torch.randn(1, 12, 300)
    with torch.no_grad():
        assert torch.allclose(fast.encode(x), net.encode(x), rtol=1e-5, atol=1e-6)
        h = torch.relu(torch.randn(1, 20, 300))
        assert torch.allclose(fast.decode(h), net.decode(h), rtol=1e-5, atol=1e-5)
        h[:, 10:] = 0  # half the gestures unused: the pruned product gives the same sum
        assert torch.allclose(fast.decode(h), net.decode(h), rtol=1e-5, atol=1e-5)
        h[:, 3:] = 0  # few gestures used: a conv1d on them gives the same sum
        assert torch.allclose(fast.decode(h), net.decode(h), rtol=1e-5, atol=1e-5)
        assert torch.allclose(fast.decode(torch.zeros(1, 20, 50)), torch.zeros(1, 12, 50))


@pytest.mark.parametrize(("kernels", "frames"), [([5, 3], 300), ([3, 5], 300), ([3, 5], 2), ([5], 40)])
def test_fast_inference_pruned_scores_and_data_units(kernels, frames):
    """The last layer computes only the gestures that can fire; the decoder, given those rows,
    and the decoder to data units (scale and shift folded in) give the network's figures."""
    from gesturekit.units.neural.models import NetConfig, build_net

    torch.manual_seed(0)
    net = build_net("ae", 12, NetConfig(gestures=20, width=7, kernels=kernels)).eval()
    with torch.no_grad():
        net.encoder.convs[-1].bias[2:] -= 100.0  # 18 gestures can never fire on this input
        net.encoder.convs[-1].bias[:2] += 1.0
    shift, scale = torch.randn(12, 1), torch.rand(12, 1) + 0.5
    fast = _frozen(net, (shift, scale))
    x = torch.randn(1, 12, frames)
    with torch.no_grad():
        h, rows, hr = fast.encode_rows(x)
        assert rows is not None and rows.tolist() == [0, 1] and torch.equal(hr, h[0, :2])
        assert torch.allclose(h, net.encode(x), rtol=1e-5, atol=1e-6) and h.shape == (1, 20, frames)
        h2, y = fast.reconstruct(x)  # data units
        assert torch.equal(h2, h)
        assert torch.allclose(y, net.decode(h) * scale + shift, rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            net.encoder.convs[-1].bias[:2] -= 100.0  # no gesture can fire: zeros, the mean posture
        fast = _frozen(net, (shift, scale))
        h, y = fast.reconstruct(x)
        assert not h.any() and torch.allclose(y[0], shift.expand(12, frames))
        for used in (20, 10, 3, 0):  # the dense, pruned-product, few-gesture and empty paths
            s = torch.randn(1, 20, 80)  # signed scores: a negative row counts as used
            s[:, used:] = 0
            want = net.decode(s) * scale + shift
            assert torch.allclose(fast.decode(s, data_units=True), want, rtol=1e-5, atol=1e-5)
            assert torch.allclose(fast.decode(s), net.decode(s), rtol=1e-5, atol=1e-5)
        s = torch.zeros(1, 20, 80)
        s[0, 4] = -1.0  # an all-negative row is used too
        assert torch.allclose(fast.decode(s), net.decode(s), atol=1e-6) and fast.decode(s).abs().amax() > 0


def test_fast_inference_rests_the_bound_after_it_prunes_too_little():
    """After the bound fails to remove a quarter of the gestures, the next ``BOUND_REST``
    utterances run the plain last layer, then the bound is tried again; the scores are the
    network's throughout."""
    from gesturekit.units.neural.models import NetConfig, build_net
    from gesturekit.units.ops import _torch

    torch.manual_seed(0)
    net = build_net("ae", 12, NetConfig(gestures=20, width=7, kernels=[5, 3])).eval()
    with torch.no_grad():
        net.encoder.convs[-1].bias[2:] -= 100.0  # 18 gestures cannot fire on a moderate input
        net.encoder.convs[-1].bias[:2] += 1.0
    fast = _frozen(net)
    quiet = torch.randn(1, 12, 100)
    loud = 1e4 * quiet  # so large that the bound rules out no gesture
    with torch.no_grad():
        h, rows, _ = fast.encode_rows(loud)
        assert rows is None and torch.allclose(h, net.encode(loud), rtol=1e-5, atol=1e-2)
        want = net.encode(quiet)
        for _ in range(_torch.BOUND_REST):  # resting: the plain layer
            h, rows, _ = fast.encode_rows(quiet)
            assert rows is None and torch.allclose(h, want, rtol=1e-5, atol=1e-6)
        h, rows, hr = fast.encode_rows(quiet)  # tried again: it prunes
        assert rows is not None and rows.tolist() == [0, 1] and torch.allclose(h, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("used", [16, 20, 25])
def test_fast_decode_of_a_few_of_many_gestures(used):
    """Few used gestures of 100 (both the conv1d and the explicit im2col product branch)."""
    from gesturekit.units.neural.models import NetConfig, build_net

    torch.manual_seed(0)
    net = build_net("ae", 12, NetConfig(gestures=100, width=10, kernels=[5, 3])).eval()
    shift, scale = torch.randn(12, 1), torch.rand(12, 1) + 0.5
    fast = _frozen(net, (shift, scale))
    h = torch.zeros(1, 100, 200)
    h[0, torch.randperm(100)[:used]] = torch.rand(used, 200)
    with torch.no_grad():
        want = net.decode(h)
        assert torch.allclose(fast.decode(h), want, rtol=1e-5, atol=1e-5)
        assert torch.allclose(fast.decode(h, data_units=True), want * scale + shift, rtol=1e-5, atol=1e-5)


def test_short_utterances_run_on_one_thread_and_restore_the_count():
    from gesturekit.units import ops

    n = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with ops.small_input_threads(1000):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with ops.small_input_threads(ops.ONE_THREAD_FRAMES + 1):  # long inputs keep the threads
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(n)
