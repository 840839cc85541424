"""The compiled encode + reconstruct of a frozen AE-CNMF (units/ops/_kernels/inference.py): the same
scores and reconstruction as plain torch convolutions, whatever the layer shapes, utterance length
or number of time chunks, and its use (or not) by NeuralUnitModel through gesturekit.units.ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gesturekit.features.normalize import Normalizer
from gesturekit.units import ops
from gesturekit.units.neural.api import NeuralUnitModel
from gesturekit.units.neural.models import NetConfig, build_net
from gesturekit.units.ops import _kernels
from gesturekit.units.ops._kernels import inference as fused

pytestmark = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")


def _net(channels: int, gestures: int, width: int, hidden: int, kernels: list[int], seed: int):
    torch.manual_seed(seed)
    net = build_net("ae", channels, NetConfig(gestures=gestures, width=width, hidden=hidden, kernels=kernels))
    with torch.no_grad():  # sparse scores, as after sparse training: most gestures silent most of the time
        net.encoder.convs[-1].bias.sub_(0.3)
        net.encoder.convs[-1].bias[::3] = -50.0  # some gestures that never fire
        net.decoder.param.normal_()
    return net.eval()


def _plain(net, x: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network in float64 with torch's own conv1d: scores (gestures, time), data (time, channels)."""
    net64 = net.double()
    with torch.no_grad():
        a = torch.from_numpy(((x - shift) / scale).T.copy())[None]
        for conv in net64.encoder.convs:
            a = F.conv1d(a, conv.weight, conv.bias, padding=conv.padding[0]).relu()
        y = ops.reconstruct(net64.decoder.gestures(), a, net64.decoder.centre)[0].numpy().T
    net.float()
    return a[0].numpy(), y * scale + shift


def _compiled(net, shift, scale) -> fused.FusedReconstruct:
    layers = [(c.weight.detach().numpy(), c.bias.detach().numpy()) for c in net.encoder.convs]
    gestures = net.decoder.gestures().detach().numpy()
    return fused.FusedReconstruct(layers, gestures, net.decoder.centre, shift, scale)


@pytest.mark.parametrize(
    "kernels, hidden, gestures, width",
    [([15, 3, 3], 12, 40, 10), ([5], 0, 7, 1), ([7, 3], 5, 9, 5), ([3, 1, 3], 3, 13, 4)],
)
@pytest.mark.parametrize("frames", [1, 2, 9, 300, 1001])
def test_fused_equals_plain_convolutions(kernels, hidden, gestures, width, frames):
    rng = np.random.default_rng(frames + len(kernels))
    channels = 6
    net = _net(channels, gestures, width, hidden, kernels, seed=frames)
    shift = rng.normal(size=channels).astype(np.float32)
    scale = rng.uniform(0.5, 3.0, size=channels).astype(np.float32)
    # smooth data in data units, with drifts so that gestures switch on and off
    t = np.arange(frames)[:, None]
    x = shift + scale * (
        np.sin(t / rng.uniform(3, 30, size=channels)) + 0.3 * rng.normal(size=(frames, channels))
    )
    h_ref, y_ref = _plain(net, x, shift.astype(np.float64), scale.astype(np.float64))
    kern = _compiled(net, shift, scale)
    for threads in (1, 3):
        h, y = kern.reconstruct(x, threads=threads)
        assert h.shape == (gestures, frames) and y.shape == (frames, channels)
        assert h.dtype == np.float32 and y.dtype == np.float32 and (h >= 0).all()
        tol = 1e-5 * (1 + np.abs(h_ref).max())
        np.testing.assert_allclose(h, h_ref, atol=tol)
        np.testing.assert_allclose(y, y_ref, atol=1e-5 * (1 + np.abs(y_ref).max()))
        np.testing.assert_array_equal(kern.encode(x, threads=threads), h)
    assert (h_ref.max(1) > 0).sum() < gestures  # the silent gestures were really left out


def test_time_chunks_give_the_same_bits_as_one_chunk():
    net = _net(12, 30, 10, 12, [15, 3, 3], seed=1)
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=(1300, 12)), 0).astype(np.float32) * 0.1
    kern = _compiled(net, np.zeros(12, np.float32), np.ones(12, np.float32))
    h1, y1 = kern.reconstruct(x, threads=1)
    for threads in (2, 5):  # chunks of 650 and 260 frames, each with its halo recomputed
        h, y = kern.reconstruct(x, threads=threads)
        np.testing.assert_array_equal(h, h1)
        np.testing.assert_array_equal(y, y1)
    assert len(x) // _kernels.MIN_CHUNK_FRAMES >= 5


def _model(net, channels: int, rng) -> NeuralUnitModel:
    data = [rng.normal(size=(200, channels)) * 3 + 1 for _ in range(2)]
    names = [f"c{i}" for i in range(channels)]
    return NeuralUnitModel(net, Normalizer("zscore").fit(data, channels=names), names, 200.0, {})


def test_unit_model_takes_the_fused_path_and_agrees_with_torch(monkeypatch):
    rng = np.random.default_rng(2)
    model = _model(_net(8, 20, 6, 0, [15, 3, 3], seed=2), 8, rng)
    assert model._infer._compiled is not None
    x = np.cumsum(rng.normal(size=(700, 8)), 0) * 0.3 + 1
    h, y = model.reconstruct(x)
    h_enc = model.encode(x)
    model._infer._compiled = None  # the torch backend (FrozenNet)
    h_t, y_t = model.reconstruct(x)
    np.testing.assert_allclose(h, h_t, atol=1e-5 * (1 + np.abs(h_t).max()))
    np.testing.assert_allclose(y, y_t, atol=1e-5 * (1 + np.abs(y_t).max()))
    np.testing.assert_array_equal(h_enc, h)
    monkeypatch.setattr(_kernels, "ENABLED", False)  # GESTUREKIT_FUSED=0
    assert _model(_net(8, 20, 6, 0, [5], seed=2), 8, rng)._infer._compiled is None


def test_models_it_cannot_run_keep_the_torch_path():
    rng = np.random.default_rng(3)
    torch.manual_seed(3)
    vae = build_net("vae", 4, NetConfig(gestures=5, width=3, kernels=[3]))
    assert _model(vae, 4, rng)._infer._compiled is None  # log-normal posterior means, not ReLU scores
    names = [f"c{i}" for i in range(4)]
    split = Normalizer("zscore", nonneg_split=True).fit([rng.normal(size=(100, 4))], channels=names)
    model = NeuralUnitModel(_net(8, 5, 3, 0, [3], seed=3), split, names, 200.0, {})
    assert model._infer._compiled is None  # each channel split in two: not an affine map of the data


def test_shapes_that_do_not_chain_are_refused_before_any_kernel_runs():
    net = _net(6, 9, 5, 0, [5, 3], seed=4)
    kern = _compiled(net, np.zeros(6, np.float32), np.ones(6, np.float32))
    with pytest.raises(ValueError, match=r"expected \(time, 6\) data"):
        kern.reconstruct(np.zeros((50, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected \(time, 6\) data"):
        kern.encode(np.zeros(50, np.float32))
    layers = [(c.weight.detach().numpy(), c.bias.detach().numpy()) for c in net.encoder.convs]
    gestures = net.decoder.gestures().detach().numpy()
    with pytest.raises(ValueError, match="encoder layer 1"):
        fused.FusedReconstruct([layers[1], layers[0]], gestures, 2, np.zeros(6), np.ones(6))  # 9 into 6
    with pytest.raises(ValueError, match="gestures"):
        fused.FusedReconstruct(layers, gestures[:, :4], 2, np.zeros(6), np.ones(6))
    with pytest.raises(ValueError, match="gestures"):
        fused.FusedReconstruct(layers, gestures, 2, np.zeros(5), np.ones(5))
    import numba

    before = numba.get_num_threads()
    kern.reconstruct(np.zeros((600, 6), np.float32), threads=2)
    assert numba.get_num_threads() == before  # the caller's Numba setting is left as it was


def _scores(rng, gestures: int, frames: int, density: float, signed: bool = False) -> np.ndarray:
    """Scores with a share ``density`` of non-zero entries (non-negative unless ``signed``)."""
    h = rng.exponential(size=(gestures, frames)) * (rng.random((gestures, frames)) < density)
    if signed:
        h *= rng.choice([-1.0, 1.0], size=h.shape)
    return h.astype(np.float32)


@pytest.mark.parametrize("frames", [1, 2, 40, 300, 1001])
@pytest.mark.parametrize(
    "density, signed", [(1.0, False), (0.25, False), (0.02, False), (0.3, True), (0.0, False)]
)
def test_decoder_equals_the_torch_decoder(frames, density, signed):
    rng = np.random.default_rng(frames)
    channels, gestures, width = 6, 11, 9
    gest = rng.normal(size=(channels, gestures, width)).astype(np.float32)
    shift = rng.normal(size=channels).astype(np.float32)
    scale = rng.uniform(0.5, 3.0, size=channels).astype(np.float32)
    h = _scores(rng, gestures, frames, density, signed)
    for centre in (0, 4, 8):
        h64, g64 = torch.from_numpy(h.astype(np.float64))[None], torch.from_numpy(gest.astype(np.float64))
        with torch.no_grad():  # float64 reference
            ref = ops.reconstruct(g64, h64, centre)[0].numpy().T
        ref = ref * scale + shift
        dec = fused.FusedDecoder(gest, centre, shift, scale)
        y1 = dec.decode(h, threads=1)
        assert y1.shape == (frames, channels) and y1.dtype == np.float32
        np.testing.assert_allclose(y1, ref, atol=1e-5 * (1 + np.abs(ref).max()))
        for threads in (2, 3):  # time chunks with their halos: the same bits
            np.testing.assert_array_equal(dec.decode(h, threads=threads), y1)


def test_decoder_refuses_scores_and_shapes_that_do_not_fit():
    gest = np.zeros((6, 5, 3), np.float32)
    dec = fused.FusedDecoder(gest, 1, np.zeros(6), np.ones(6))
    with pytest.raises(ValueError, match=r"expected \(5, time\) scores"):
        dec.decode(np.zeros((4, 10), np.float32))
    with pytest.raises(ValueError, match="gestures"):
        fused.FusedDecoder(gest, 1, np.zeros(5), np.ones(5))
    with pytest.raises(ValueError, match="centre 3"):
        fused.FusedDecoder(gest, 3, np.zeros(6), np.ones(6))


@pytest.mark.parametrize("kind", ["ae", "vae", "ae_split"])
def test_unit_model_decode_is_compiled_and_agrees_with_torch(kind):
    rng = np.random.default_rng(5)
    torch.manual_seed(5)
    names = [f"c{i}" for i in range(4)]
    data = [rng.normal(size=(300, 4)) * 2 + 1]
    if kind == "ae_split":  # normalised units out of the kernel, the +/- split undone by the normaliser
        norm = Normalizer("zscore", nonneg_split=True).fit(data, channels=names)
        net = build_net("ae", 8, NetConfig(gestures=9, width=7, kernels=[3]))
    else:
        norm = Normalizer("zscore").fit(data, channels=names)
        net = build_net(kind, 4, NetConfig(gestures=9, width=7, kernels=[3]))
    model = NeuralUnitModel(net.eval(), norm, names, 200.0, {})
    assert model._infer._decoder is not None
    for density in (1.0, 0.2):
        h = _scores(rng, 9, 777, density)
        y = model.decode(h)
        model_decoder, model._infer._decoder = model._infer._decoder, None  # the torch path
        y_t = model.decode(h)
        model._infer._decoder = model_decoder
        assert y.shape == y_t.shape == (777, 4)
        np.testing.assert_allclose(y, y_t, atol=1e-5 * (1 + np.abs(y_t).max()))


@pytest.fixture
def parallel_decodes(monkeypatch) -> list[int]:
    """Numba's thread count at each call of the parallel decoder (the serial path never calls it)."""
    import numba

    seen: list[int] = []
    real = fused._decode_run

    def spy(*args):  # noqa: ANN002
        seen.append(numba.get_num_threads())
        return real(*args)

    monkeypatch.setattr(fused, "_decode_run", spy)
    return seen


def test_numba_threads_follow_torch_and_are_restored(parallel_decodes):
    import numba

    pool = numba.config.NUMBA_NUM_THREADS
    rng = np.random.default_rng(6)
    dec = fused.FusedDecoder(rng.normal(size=(6, 5, 3)).astype(np.float32), 1, np.zeros(6), np.ones(6))
    h = _scores(rng, 5, 4 * _kernels.MIN_CHUNK_FRAMES, 0.3)
    torch_before, numba_before = torch.get_num_threads(), numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        torch.set_num_threads(pool)
        dec.decode(h, torch.get_num_threads())
        assert numba.get_num_threads() == 1  # restored
        torch.set_num_threads(1)
        numba.set_num_threads(pool)
        dec.decode(h, torch.get_num_threads())  # one thread: the serial kernel, no parallel region
        assert numba.get_num_threads() == pool
        with _kernels.numba_threads(1):
            assert numba.get_num_threads() == 1
        with pytest.raises(KeyError), _kernels.numba_threads(1):
            raise KeyError("restored on errors too")
        assert numba.get_num_threads() == pool
    finally:
        torch.set_num_threads(torch_before)
        numba.set_num_threads(numba_before)
    assert parallel_decodes == ([pool] if pool > 1 else [])


def test_unit_model_decodes_short_scores_on_one_thread(monkeypatch, parallel_decodes):
    import numba

    monkeypatch.setattr(ops, "ONE_THREAD_FRAMES", 600)
    rng = np.random.default_rng(7)
    model = _model(_net(6, 5, 3, 0, [3], seed=7), 6, rng)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model.decode(_scores(rng, 5, 600, 0.3))  # short: one thread, no parallel region, as on the torch path
        assert parallel_decodes == []
        model.decode(_scores(rng, 5, 601, 0.3))  # longer: torch's thread count
        assert parallel_decodes == [min(2, numba.config.NUMBA_NUM_THREADS)]
    finally:
        torch.set_num_threads(before)
