"""The compiled AE-CNMF training step (ops.compiled_ae_objective: loss and gradients) against
autograd on the torch backend, and when a training step takes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gesturekit.units import ops
from gesturekit.units.neural.config import LossConfig
from gesturekit.units.neural.data import make_batch
from gesturekit.units.neural.models import NetConfig, build_net
from gesturekit.units.neural.objective import compiled_step, objective, training_objective
from gesturekit.units.ops import _kernels

pytestmark = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")


def compiled(net, batch, cfg: LossConfig):
    """The compiled objective of an AE-CNMF on a batch."""
    layers, dec = net.encoder.layers(), net.decoder
    return ops.compiled_ae_objective(batch.x, batch.lengths, layers, dec.gestures(), dec.centre, cfg)


LENGTHS = [(37, 50, 12), (64,), (1, 2, 9), (30, 30)]
NETS = [  # (channels, gestures, width, kernels, hidden)
    (4, 20, 5, [5, 3, 3], 0),
    (3, 7, 4, [7], 0),
    (5, 12, 1, [3, 1, 3], 6),
    (12, 30, 10, [15, 3, 3], 0),
]


def _net(channels: int, gestures: int, width: int, kernels: list[int], hidden: int, decoder: str = "signed",
         silent: int = 0, seed: int = 0):  # fmt: skip
    torch.manual_seed(seed)
    net = build_net("ae", channels, NetConfig(gestures=gestures, width=width, kernels=kernels, hidden=hidden,
                                              decoder=decoder))  # fmt: skip
    with torch.no_grad():
        net.decoder.set_gestures(torch.randn(channels, gestures, width).abs() * 0.3)
        net.encoder.convs[-1].bias[:silent] -= 50.0  # gestures that never fire
    return net


def _batch(channels: int, lengths: tuple[int, ...], seed: int = 1):
    rng = np.random.default_rng(seed)
    return make_batch([rng.standard_normal((n, channels)).astype(np.float32) for n in lengths])


def _grads(net, fn) -> tuple[float, dict[str, float], list[torch.Tensor]]:
    net.zero_grad(set_to_none=True)
    loss, parts = fn()
    loss.backward()
    return (
        float(loss.detach()),
        {k: float(v) for k, v in parts.items()},
        [p.grad.clone() for p in net.parameters()],
    )


def _reference(net, batch, cfg: LossConfig):
    """The torch path's loss, parts and gradients, in float64."""
    import copy

    ref = copy.deepcopy(net).double()
    b = make_batch([batch.x[i, :, :n].T.numpy() for i, n in enumerate(batch.lengths.tolist())])
    b.x, b.mask = b.x.double(), b.mask.double()
    return _grads(ref, lambda: objective(ref(b.x, b.mask), b, cfg))


def _errors(parts, grads, parts_ref, grads_ref) -> tuple[float, float]:
    """Largest relative error of the loss parts and of any parameter's gradient."""
    assert parts.keys() == parts_ref.keys()
    e_parts = max(abs(parts[k] - parts_ref[k]) / max(abs(parts_ref[k]), 1e-3) for k in parts)
    e_grads = max(float((g.double() - r).abs().max() / r.abs().max().clamp_min(1e-12))
                  for g, r in zip(grads, grads_ref, strict=True))  # fmt: skip
    return e_parts, e_grads


def _assert_close(net, batch, cfg: LossConfig) -> None:
    """The compiled loss, parts and gradients are as close to float64 autograd as the float32 torch
    path is (within 4x, or 1e-6 / 2e-5 relative where that path is closer still)."""
    _, parts, grads = _grads(net, lambda: compiled(net, batch, cfg))
    _, parts32, grads32 = _grads(net, lambda: objective(net(batch.x, batch.mask), batch, cfg))
    _, parts_ref, grads_ref = _reference(net, batch, cfg)
    e_parts, e_grads = _errors(parts, grads, parts_ref, grads_ref)
    e_parts32, e_grads32 = _errors(parts32, grads32, parts_ref, grads_ref)
    assert e_parts <= max(4 * e_parts32, 1e-6)
    assert e_grads <= max(4 * e_grads32, 2e-5)


@pytest.mark.parametrize("net_args", NETS)
@pytest.mark.parametrize("lengths", LENGTHS)
def test_loss_and_gradients_match_autograd(net_args, lengths) -> None:
    net = _net(*net_args, silent=net_args[1] // 3)
    _assert_close(net, _batch(net_args[0], lengths), LossConfig())


@pytest.mark.parametrize("reconstruction", ["l1", "mse"])
@pytest.mark.parametrize("sparse", [True, False])
def test_loss_options_match_autograd(reconstruction: str, sparse: bool) -> None:
    cfg = LossConfig(
        reconstruction=reconstruction, sparse=sparse, w_c=3.0, beta_c=0.7, w_t=20.0, w_Et=2.0, w_Ec=5.0
    )
    net = _net(4, 20, 5, [5, 3, 3], 0, silent=5)
    _assert_close(net, _batch(4, (37, 50, 12)), cfg)


@pytest.mark.parametrize("decoder", ["softplus", "exp"])
def test_nonnegative_decoders_chain_through_autograd(decoder: str) -> None:
    net = _net(4, 20, 5, [5, 3, 3], 0, decoder=decoder, silent=5)
    _assert_close(net, _batch(4, (37, 50, 12)), LossConfig())


def test_silent_scores_give_the_torch_path_values() -> None:
    """No gesture fires: only the biases of the layers before get no gradient from the scores."""
    net = _net(4, 10, 5, [5, 3, 3], 0, silent=10)
    _assert_close(net, _batch(4, (20, 8)), LossConfig())


def test_gradients_do_not_depend_on_the_thread_count() -> None:
    net = _net(12, 30, 10, [15, 3, 3], 0, silent=10)
    batch = _batch(12, (300, 280, 300, 100, 290))
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            runs.append(_grads(net, lambda: compiled(net, batch, LossConfig())))
    finally:
        torch.set_num_threads(before)
    for loss, _, grads in runs[1:]:
        assert loss == runs[0][0]
        assert all(torch.equal(g, g0) for g, g0 in zip(grads, runs[0][2], strict=True))


def test_training_objective_takes_the_compiled_path_only_where_it_applies(monkeypatch) -> None:
    net = _net(4, 20, 5, [5, 3, 3], 0)
    batch = _batch(4, (20, 8))
    calls = []
    original = ops.compiled_ae_objective
    monkeypatch.setattr(ops, "compiled_ae_objective", lambda *a: calls.append(1) or original(*a))
    training_objective(net, net, batch, LossConfig())
    assert calls == [1]
    assert not compiled_step(torch.nn.Sequential(net), net, batch)  # a distributed wrapper
    vae = build_net("vae", 4, NetConfig(gestures=5, width=3, kernels=[3]))
    assert not compiled_step(vae, vae, batch)
    with_head = build_net("ae", 4, NetConfig(gestures=5, width=3, kernels=[3]), n_phones=3)
    assert not compiled_step(with_head, with_head, batch)
    with torch.no_grad():
        assert not compiled_step(net, net, batch)
    monkeypatch.setattr(_kernels, "ENABLED", False)  # GESTUREKIT_FUSED=0
    assert not compiled_step(net, net, batch)
    loss, _ = training_objective(net, net, batch, LossConfig())  # the torch path
    assert calls == [1] and loss.requires_grad


def test_a_batch_that_does_not_fit_the_network_is_refused() -> None:
    net = _net(4, 20, 5, [5, 3, 3], 0)
    batch = _batch(3, (20, 8))
    with pytest.raises(ValueError, match="does not fit the network"):
        compiled(net, batch, LossConfig())
    batch = _batch(4, (20, 8))
    batch.lengths = torch.tensor([25, 8])
    with pytest.raises(ValueError, match="does not fit the network"):
        compiled(net, batch, LossConfig())
    with pytest.raises(ValueError, match="unknown reconstruction"):
        compiled(net, _batch(4, (20, 8)), LossConfig(reconstruction="huber"))


def test_a_first_compile_is_announced_once(tmp_path, monkeypatch) -> None:
    import logging
    import os
    from types import SimpleNamespace

    source, index = tmp_path / "kernels.py", tmp_path / "kernels.nbi"
    source.write_text("")
    index.write_text("")
    kernel = SimpleNamespace(
        py_func=SimpleNamespace(__code__=SimpleNamespace(co_filename=str(source))),
        _cache=SimpleNamespace(_cache_file=SimpleNamespace(_index_path=str(index))),
    )
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    monkeypatch.setattr(_kernels, "_announced", set())
    _kernels.log.addHandler(handler)
    level = _kernels.log.level
    _kernels.log.setLevel(logging.INFO)
    try:
        os.utime(index, (1, 2e9))  # a cache newer than its source: loaded, nothing to say
        _kernels.announce_compile("test kernels", 5, kernel)
        assert said == []
        os.utime(index, (1, 1))  # a stale cache (or none): compiled now, said once
        _kernels.announce_compile("more kernels", 5, kernel)
        _kernels.announce_compile("more kernels", 5, kernel)
        index.unlink()
        _kernels.announce_compile("other kernels", 5, kernel)
        assert said == [
            "compiling the more kernels (first use only: about 5 s; cached on disk afterwards)",
            "compiling the other kernels (first use only: about 5 s; cached on disk afterwards)",
        ]
    finally:
        _kernels.log.removeHandler(handler)
        _kernels.log.setLevel(level)


def test_gestures_that_do_not_fit_the_encoder_are_refused() -> None:
    net = _net(4, 20, 5, [5, 3, 3], 0)
    net.decoder.param = torch.nn.Parameter(torch.zeros(4, 19, 5))  # one gesture short of the scores
    with pytest.raises(ValueError, match="do not chain"):
        compiled(net, _batch(4, (20, 8)), LossConfig())
