"""Shapes of every registered co-speech model, the exactness of the aligned fusion, the U-Net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gesturekit.cospeech.models import (
    MODELS,
    ModelOptions,
    VelocityDiscriminator,
    build_model,
    canonical_name,
    config_from_options,
)
from gesturekit.cospeech.models.layers import AlignedFusionLayer, AudioEncoder2D, UNet1D, token_positions
from gesturekit.errors import ConfigError

torch.set_num_threads(1)
B, T, F, D, P, K = 3, 64, 64, 12, 10, 4


def _batch():
    g = torch.Generator().manual_seed(0)
    audio, text, pose = (
        torch.randn(B, T, F, generator=g),
        torch.randn(B, T, D, generator=g),
        torch.randn(B, T, P),
    )
    return audio, text, pose, torch.randint(0, K, (B, T), generator=g)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_maps_speech_to_pose_windows(name):
    audio, text, pose, labels = _batch()
    opts = ModelOptions(d=16, moco_queue=8)
    cfg = config_from_options(name, opts, pose_dim=P, text_dim=D, audio_dim=F, num_clusters=K, window=T)
    m = build_model(name, cfg)
    if hasattr(m, "fit") and not list(m.parameters()):
        m.fit(audio.numpy(), text.numpy(), pose.numpy())
    m.train()
    out, losses, extras = m(audio, text, pose, labels, epoch=5)
    assert out.shape == (B, T, P)
    assert all(torch.isfinite(v) for v in losses.values())
    if name.startswith("ccnce") or name == "mix":
        assert extras["logits"].shape == (B, T, K)
        assert "cluster_ce" in losses
    m.eval()
    with torch.no_grad():
        assert m(audio, text)[0].shape == (B, T, P)


def test_reference_names_are_aliases_and_unknown_names_fail():
    assert canonical_name("JointLateClusterSoftContrastiveGlobalDTW_G") == "ccnce"
    assert canonical_name("JointLateClusterSoftTransformer12_G") == "mix"
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("nope", pose_dim=4)


def test_paper_configuration_size():
    """The generator without BERT: the reference's 128.5 M minus its 109.7 M BERT, give or take the
    unused MoCo copy of the U-Net the reference also carries."""
    reference = dict(d=256, audio_encoder="conv2d", classifier_layers=6, decoder_layers=4, decoder_width=0)
    g = build_model("ccnce", pose_dim=96, text_dim=768, num_clusters=8, **reference)
    n = sum(p.numel() for p in g.parameters()) / 1e6
    assert 14.0 < n < 19.0


def test_discriminator_scores_velocity_patches():
    d = VelocityDiscriminator(P)
    x = torch.randn(B, T, P)
    assert d(x).shape == (B, 12)
    # a constant offset does not change velocities, so it does not change the scores
    d.eval()
    torch.testing.assert_close(d(x), d(x + 5.0))


def test_aligned_fusion_equals_masked_cross_attention():
    """Cross-attention where each frame may see only its own token == out_proj(v_proj(token))."""
    torch.manual_seed(0)
    d, heads, L = 16, 4, 5
    layer = AlignedFusionLayer(d, heads, ff=2, dropout=0.0).eval()
    mha = nn.MultiheadAttention(d, heads, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight[2 * d :] = layer.v_proj.weight
        mha.in_proj_bias[2 * d :] = layer.v_proj.bias
        mha.out_proj.weight.copy_(layer.out_proj.weight)
        mha.out_proj.bias.copy_(layer.out_proj.bias)
    x = torch.randn(2, T, d)
    mem = torch.randn(2, L, d)
    token_of = torch.stack(
        [torch.arange(T) * L // T, torch.clamp(torch.arange(T) // 7, max=L - 1)]
    )  # per sample
    blocked = token_of[:, :, None] != torch.arange(L)[None, None, :]  # (B, T, L)
    ref = mha(x, mem, mem, attn_mask=blocked.repeat_interleave(heads, 0), need_weights=False)[0]
    aligned = torch.gather(mem, 1, token_of[:, :, None].expand(-1, -1, d))
    ours = layer.out_proj(layer.v_proj(aligned))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_token_positions_count_changes():
    ids = torch.tensor([[5, 5, 7, 7, 7, 5, 0, 0]])
    assert token_positions(ids).tolist() == [[0, 0, 1, 1, 1, 2, 3, 3]]
    feats = torch.tensor([[[1.0], [1.0], [2.0]]])
    assert token_positions(feats).tolist() == [[0, 0, 1]]


def test_unet_needs_multiple_of_32_and_keeps_shape():
    u = UNet1D(8, 5)
    assert u(torch.randn(2, 8, 64)).shape == (2, 8, 64)
    with pytest.raises(ValueError, match="multiple of 32"):
        u(torch.randn(2, 8, 40))


def test_audio_encoder_keeps_frame_rate():
    enc = AudioEncoder2D(16)
    assert enc(torch.randn(2, 64, 64)).shape == (2, 16, 64)


def test_every_config_file_loads_and_builds_its_model():
    from importlib import resources

    from gesturekit.config import load_config
    from gesturekit.cospeech.training.fit import FitConfig

    # the co-speech presets are the YAML files at the top of the package's configs folder
    top = resources.files("gesturekit") / "configs"
    names = sorted(e.name.removesuffix(".yaml") for e in top.iterdir() if e.name.endswith(".yaml"))
    assert {"ccnce", "mix", "ccnce_moco", "ccnce_patchwise", "speech2gesture", "ccnce_fullwidth"} <= set(names)
    for name in names:
        cfg = load_config(FitConfig, name, [])
        m = build_model(cfg.model, config_from_options(cfg.model, cfg.model_options, pose_dim=96, text_dim=768,
                                                       num_clusters=cfg.num_clusters))  # fmt: skip
        assert sum(p.numel() for p in m.parameters()) > 0, name
    full = load_config(FitConfig, "ccnce_fullwidth", [])
    assert full.model_options.d == 256 and full.model_options.audio_encoder == "conv2d"


def test_output_smoothing_is_a_unit_gain_low_pass_inside_the_generator():
    from gesturekit.cospeech.models.config import CCNCEConfig
    from gesturekit.cospeech.models.generators import CCNCEGenerator
    from gesturekit.cospeech.models.layers import GaussianSmoothing

    sm = GaussianSmoothing(1.0)
    t = torch.arange(64, dtype=torch.float32)
    const = torch.full((2, 64, 3), 0.7)
    torch.testing.assert_close(sm(const), const)  # a still pose passes unchanged, edges included
    nyquist = ((-1.0) ** t)[None, :, None]  # frame-to-frame jitter
    slow = torch.sin(2 * torch.pi * t / 32)[None, :, None]  # a 2 s gesture at 15 fps
    assert sm(nyquist)[:, 8:-8].abs().max() < 0.02  # exp(-pi^2 sigma^2 / 2) = 0.007, kernel cut at 3 sigma
    assert (sm(slow)[:, 8:-8] - slow[:, 8:-8]).abs().max() < 0.05
    cfg = dict(pose_dim=6, text_dim=8, audio_dim=8, num_clusters=3, window=32, d=16, use_text=False)
    torch.manual_seed(0)
    g = CCNCEGenerator(CCNCEConfig(**cfg, output_smoothing=1.0)).eval()
    audio = torch.randn(2, 32, 8)
    out, _, _ = g(audio)
    g.smooth = None  # the same weights without the filter
    raw, _, _ = g(audio)
    assert out.shape == raw.shape == (2, 32, 6)
    assert out.diff(n=3, dim=1).abs().mean() < 0.5 * raw.diff(n=3, dim=1).abs().mean()
    with pytest.raises(ConfigError, match="output_smoothing"):
        CCNCEGenerator(CCNCEConfig(**cfg, output_smoothing=1.0, causal=True))
    with pytest.raises(ConfigError, match="output_smoothing"):
        CCNCEGenerator(CCNCEConfig(**cfg, output_smoothing=-1.0))
