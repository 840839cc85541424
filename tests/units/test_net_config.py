"""One config per neural units model: ``NetConfig`` is the model's constructor argument, the
``net`` section of a training config and what is saved with the weights; an unknown key is an
error; models saved before it became so still load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gesturekit.checkpoint import save_checkpoint
from gesturekit.config import config_to_dict, load_config
from gesturekit.errors import ConfigError
from gesturekit.features.normalize import Normalizer
from gesturekit.units.model import UnitModel, checkpoint_path
from gesturekit.units.neural import NeuralUnitsConfig
from gesturekit.units.neural.models import NetConfig, build_net

CHANNELS = [f"c{i}" for i in range(4)]


def _old_format_meta(norm: Normalizer, method: str, net: dict) -> dict:
    """A checkpoint meta exactly as the code before the single config wrote it: ``hparams.net`` is
    the old ``NetConfig`` (no ``phone_head``), ``hparams.config.net`` the old ``ArchConfig``."""
    arch = {k: net[k] for k in ("hidden", "kernels", "decoder", "prior_rate", "phone_hidden", "phone_layers")}
    return {
        "method": method,
        "channels": CHANNELS,
        "rate_hz": 200.0,
        "normalizer": norm.to_dict(),
        "hparams": {
            "net": net,
            "in_channels": 4,
            "phone_set": [],
            "centred": True,
            "config": {
                "method": method,
                "gestures": net["gestures"],
                "width": net["width"],
                "net": {**arch, "phone_head": False},
            },  # fmt: skip
        },
    }


@pytest.mark.parametrize("method", ["ae", "vae"])
def test_a_model_saved_in_the_old_format_loads_and_runs(tmp_path, method):
    net_dict = {"gestures": 5, "width": 7, "hidden": 0, "kernels": [5, 3], "decoder": "signed",
                "prior_rate": 1.0, "phone_hidden": 128, "phone_layers": 2,
                "min_log_sigma": -6.0, "max_log_sigma": 2.0}  # fmt: skip
    torch.manual_seed(0)
    net = build_net(method, 4, NetConfig(**net_dict))
    rng = np.random.default_rng(0)
    norm = Normalizer("zscore").fit([rng.normal(size=(200, 4))], channels=CHANNELS)
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    tensors["gestures"] = net.decoder.gestures().detach().numpy()
    save_checkpoint(checkpoint_path(tmp_path), tensors, _old_format_meta(norm, method, net_dict))

    model = UnitModel.load(tmp_path)
    assert model.net.cfg == NetConfig(**net_dict)  # the missing phone_head takes its default
    assert all(torch.equal(model.net.state_dict()[k], v) for k, v in net.state_dict().items())
    x = rng.normal(size=(60, 4))
    with torch.no_grad():
        want = net.eval().encode(torch.from_numpy(norm.transform(x).T.astype(np.float32).copy())[None])[0]
    np.testing.assert_allclose(model.encode(x), want.numpy(), rtol=1e-5, atol=1e-6)


def test_an_unknown_network_key_in_a_saved_model_is_named(tmp_path):
    net_dict = config_to_dict(NetConfig(gestures=3, width=3, kernels=[3]))
    net = build_net("ae", 4, NetConfig(**net_dict))
    norm = Normalizer("zscore").fit([np.random.default_rng(1).normal(size=(50, 4))], channels=CHANNELS)
    tensors = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    tensors["gestures"] = net.decoder.gestures().detach().numpy()
    save_checkpoint(checkpoint_path(tmp_path), tensors, _old_format_meta(norm, "ae", {**net_dict, "depth": 9}))
    with pytest.raises(ConfigError, match=r"model.json: hparams.net: unknown network option\(s\) \['depth'\]"):
        UnitModel.load(tmp_path)


def test_the_training_config_net_section_is_the_model_config():
    cfg = load_config(NeuralUnitsConfig, None, ["net.kernels=[7,3]", "net.decoder=exp"], gestures=6, width=9)
    assert isinstance(cfg.net, NetConfig)
    assert cfg.net_config() == NetConfig(gestures=6, width=9, kernels=[7, 3], decoder="exp")
    assert config_to_dict(cfg)["net"] == config_to_dict(cfg.net_config())  # saved as the model's
    cfg.width = 11  # set after construction: the network follows the shared option
    assert cfg.net_config().width == 11
    with pytest.raises(ConfigError, match=r"net.depth"):
        load_config(NeuralUnitsConfig, None, ["net.depth=3"])
    with pytest.raises(ConfigError, match=r"'net.gestures' \(12\) disagrees with 'gestures' \(6\)"):
        load_config(NeuralUnitsConfig, None, ["net.gestures=12"], gestures=6)
