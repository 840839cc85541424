"""Neural CNMF networks: shapes, the convolutive sum, masking, non-negativity, the KL term."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gesturekit.units.neural.data import make_batch
from gesturekit.units.neural.losses import hoyer_per_frame, hoyer_per_gesture, sparsity_terms
from gesturekit.units.neural.models import AECNMF, VAECNMF, ConvDecoder, NetConfig, build_net


@pytest.mark.parametrize("width", [41, 10, 1])
def test_decoder_equals_explicit_double_sum(width):
    torch.manual_seed(0)
    dec = ConvDecoder(3, 4, width)
    w = torch.randn(3, 4, width)
    dec.set_gestures(w)
    h = torch.rand(2, 4, 30)
    got = dec(h)
    c = (width - 1) // 2
    want = torch.zeros(2, 3, 30)
    for t in range(30):
        for k in range(width):
            s = t - k + c
            if 0 <= s < 30:
                want[:, :, t] += torch.einsum("ag,bg->ba", w[:, :, k], h[:, :, s])
    assert torch.allclose(got, want, atol=1e-5)


def test_impulse_plays_gesture_forward_from_centre():
    dec = ConvDecoder(2, 3, 5)
    w = torch.randn(2, 3, 5)
    dec.set_gestures(w)
    h = torch.zeros(1, 3, 20)
    h[0, 1, 10] = 1.0
    out = dec(h)[0]
    assert torch.allclose(out[:, 8:13], w[:, 1, :], atol=1e-6)
    assert out[:, :8].abs().max() == 0 and out[:, 13:].abs().max() == 0


@pytest.mark.parametrize("method", ["ae", "vae"])
def test_shapes_and_nonnegative_scores(method):
    net = build_net(method, 12, NetConfig(gestures=7, width=9)).eval()
    x = torch.randn(3, 12, 50)
    out = net(x)
    assert out["x_hat"].shape == (3, 12, 50) and out["h"].shape == (3, 7, 50)
    assert (out["h"] >= 0).all()
    if method == "vae":
        assert out["kl"].shape == (3, 7, 50)


@pytest.mark.parametrize("method", ["ae", "vae"])
def test_padded_batch_equals_each_utterance_alone(method):
    torch.manual_seed(1)
    net = build_net(method, 4, NetConfig(gestures=5, width=7)).eval()
    arrays = [
        np.random.default_rng(i).normal(size=(n, 4)).astype(np.float32) for i, n in enumerate((40, 25, 33))
    ]
    b = make_batch(arrays)
    out = net(b.x, b.mask)
    for i, a in enumerate(arrays):
        alone = net(torch.from_numpy(a.T.copy())[None])
        n = len(a)
        assert torch.allclose(out["h"][i, :, :n], alone["h"][0], atol=1e-5)
        assert torch.allclose(out["x_hat"][i, :, :n], alone["x_hat"][0], atol=1e-5)
        assert out["h"][i, :, n:].abs().sum() == 0 and out["x_hat"][i, :, n:].abs().sum() == 0


@pytest.mark.parametrize("kind", ["softplus", "exp"])
def test_nonneg_decoder_gestures_stay_nonnegative_under_training(kind):
    torch.manual_seed(0)
    net = AECNMF(6, NetConfig(gestures=4, width=5, decoder=kind))
    w0 = torch.rand(6, 4, 5)
    net.decoder.set_gestures(w0)
    assert torch.allclose(net.decoder.gestures(), w0.clamp_min(1e-6), atol=1e-5)
    x = torch.rand(2, 6, 40)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)  # large steps try to push gestures negative
    for _ in range(6):
        opt.zero_grad()
        (net(x)["x_hat"] + 10).square().mean().backward()  # wants x_hat as negative as possible
        opt.step()
        assert (net.decoder.gestures() >= 0).all()
    assert (net(x)["x_hat"] >= 0).all()


def test_kl_matches_monte_carlo():
    torch.manual_seed(0)
    cfg = NetConfig(gestures=1, width=1, prior_rate=2.0)
    net = VAECNMF(1, cfg)
    mu, log_sigma = torch.tensor([-1.0, 0.3]), torch.tensor([-0.5, 0.2])
    exact = net.kl(mu, log_sigma)
    n = 400_000
    eps = torch.randn(n, 2, dtype=torch.float64)
    sigma = log_sigma.double().exp()
    z = mu.double() + sigma * eps
    h = z.exp()
    log_q = -0.5 * eps**2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi) - z  # log-normal density
    log_p = math.log(2.0) - 2.0 * h
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(exact.double(), mc, atol=0.02), (exact, mc)
    assert (net.kl(torch.randn(100), torch.randn(100).clamp(-3, 1)) >= -1e-5).all()  # KL >= 0


def test_vae_mean_and_samples():
    torch.manual_seed(0)
    net = build_net("vae", 3, NetConfig(gestures=2, width=3))
    x = torch.randn(1, 3, 20)
    mu, ls = net.posterior(x)
    draws = torch.stack([net.sample_scores(mu, ls) for _ in range(4000)])
    assert (draws > 0).all()
    mean = net.posterior_mean(mu, ls)
    assert torch.allclose(draws.mean(0), mean, rtol=0.15, atol=0.02)
    net.eval()
    assert torch.equal(net(x)["h"], mean)


def test_hoyer_extremes_and_masking():
    h = torch.zeros(1, 6, 4)
    h[0, 2, :] = 1.0  # one gesture active at every frame
    assert torch.allclose(hoyer_per_frame(h), torch.ones(1, 4), atol=1e-4)
    flat = torch.ones(1, 6, 4)
    assert torch.allclose(hoyer_per_frame(flat), torch.zeros(1, 4), atol=1e-4)
    mask = torch.ones(1, 1, 4)
    assert torch.allclose(hoyer_per_gesture(flat, mask), torch.zeros(1, 6), atol=1e-4)
    # padding must not change any statistic
    padded = torch.cat([torch.rand(1, 6, 10), torch.rand(1, 6, 5) * 100], -1)
    m = torch.cat([torch.ones(1, 1, 10), torch.zeros(1, 1, 5)], -1)
    a = sparsity_terms(padded * m, m)
    b = sparsity_terms(padded[..., :10], torch.ones(1, 1, 10))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


@pytest.mark.parametrize("width", [10, 7, 1])
def test_hand_written_decoder_backward_passes_gradcheck(width):
    from gesturekit.units import ops

    torch.manual_seed(0)
    h = torch.rand(2, 3, 12, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, width, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h, w: ops.reconstruct(w, h, (width - 1) // 2), (h, w))


def test_first_encoder_layer_gemm_equals_conv1d_with_gradients():
    torch.manual_seed(0)
    net = AECNMF(5, NetConfig(gestures=4, width=3, kernels=[7, 3])).double()
    x = torch.randn(3, 5, 40, dtype=torch.float64)
    h = net.encode(x)  # grad enabled and x needs none: the first layer runs as im2col + matmul
    h.square().sum().backward()
    grads = [p.grad.clone() for p in net.encoder.parameters()]
    net.zero_grad()
    z = x
    for conv in net.encoder.convs:  # the plain nn.Conv1d path
        z = torch.relu(torch.nn.functional.conv1d(z, conv.weight, conv.bias, padding=conv.padding[0]))
    assert torch.allclose(h, z)
    z.square().sum().backward()
    for got, p in zip(grads, net.encoder.parameters(), strict=True):
        assert torch.allclose(got, p.grad)


@pytest.mark.parametrize("padded", [False, True])
def test_fused_score_norms_gradient_equals_autograd(padded, monkeypatch):
    from gesturekit.units import ops

    torch.manual_seed(0)
    h0 = torch.relu(torch.randn(3, 5, 20, dtype=torch.float64))
    mask = torch.ones(3, 1, 20, dtype=torch.float64)
    if padded:
        mask[1, :, 12:] = 0
        h0 = h0 * mask
    h = h0.clone().requires_grad_()
    fused = sparsity_terms(h, mask)
    sum(fused.values()).backward()

    def plain_norms(h, m):  # the four sums by plain autograd
        hm = h if m is None else h * m
        return h.sum(1), h.square().sum(1), hm.sum(-1), hm.square().sum(-1)

    monkeypatch.setattr(ops, "score_norms", plain_norms)
    h2 = h0.clone().requires_grad_()
    plain = sparsity_terms(h2, mask)
    sum(plain.values()).backward()
    for k in fused:
        assert torch.allclose(fused[k], plain[k])
    assert torch.allclose(h.grad, h2.grad)
    assert torch.allclose(hoyer_per_gesture(h0, mask).mean(), fused["S_t"])


def test_dead_gesture_shortcuts_give_the_plain_gradients(monkeypatch):
    """Gestures with no positive score in a batch are skipped in the last encoder layer's
    backward and in the decoder; every parameter's gradient must equal the plain path's."""
    from gesturekit.units import ops
    from gesturekit.units.ops import _torch

    torch.manual_seed(0)
    net = AECNMF(5, NetConfig(gestures=8, width=5, kernels=[7, 3])).double()
    with torch.no_grad():
        net.encoder.convs[-1].bias[[0, 3, 5]] = -1e3  # three gestures never fire
    x = torch.randn(3, 5, 40, dtype=torch.float64)
    mask = torch.ones(3, 1, 40, dtype=torch.float64)
    mask[2, :, 25:] = 0

    def loss_and_grads() -> tuple[torch.Tensor, list[torch.Tensor]]:
        net.zero_grad()
        out = net(x, mask)
        loss = ((out["x_hat"] - x) * mask).square().sum() + sum(sparsity_terms(out["h"], mask).values())
        loss.backward()
        return out["h"].detach(), [p.grad.clone() for p in net.parameters()]

    h, fast = loss_and_grads()
    assert (h.amax((0, 2)) > 0).sum() == 5  # the shortcut really runs (5 of 8 used < 75 %)
    monkeypatch.setattr(ops, "_prune_scores", lambda relu_scores, h: False)
    monkeypatch.setattr(
        _torch.ConvReLU, "apply", lambda z, w, b, p: torch.relu(torch.nn.functional.conv1d(z, w, b, padding=p))
    )
    _, plain = loss_and_grads()
    for (name, _), got, want in zip(net.named_parameters(), fast, plain, strict=True):
        assert torch.allclose(got, want), name
    assert plain[-1].abs().sum() > 0  # the decoder's gestures do get a gradient


@pytest.mark.parametrize("signed_input", [False, True])
def test_relu_conv1d_skips_only_channels_that_cannot_fire(signed_input):
    from gesturekit.units.ops._torch import bound_weights, channels_that_can_fire, relu_conv1d

    torch.manual_seed(0)
    x = torch.randn(2, 6, 50)
    x = x if signed_input else x.relu()
    w = torch.randn(20, 6, 3)
    b = torch.randn(20)
    dense = torch.relu(torch.nn.functional.conv1d(x, w, b, padding=1))  # every channel can fire
    assert torch.allclose(relu_conv1d(x, w, b, 1), dense, atol=1e-6)
    b[:12] -= 200.0  # these cannot reach zero from inputs of this size; the rest can
    can = channels_that_can_fire(x, bound_weights(w), b)
    plain = torch.relu(torch.nn.functional.conv1d(x, w, b, padding=1))
    assert not can[:12].any() and can[12:].all()
    assert (plain.amax((0, 2)) > 0)[can].any() and (plain[:, ~can] == 0).all()  # the proof holds
    assert torch.allclose(relu_conv1d(x, w, b, 1), plain)
    w[3, 0, 0] = float("nan")  # a broken weight must show, not be pruned away
    assert relu_conv1d(x, w, b, 1)[:, 3].isnan().any()
