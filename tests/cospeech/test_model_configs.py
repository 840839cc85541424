"""One config dataclass per model: built from it, strict about keys, saved with the weights, and the
bundles saved before the configs still load."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from gesturekit.config import config_to_dict, load_config
from gesturekit.cospeech.data.types import PATS_FORMAT
from gesturekit.cospeech.models import (
    MODELS,
    CCNCEConfig,
    ModelOptions,
    Speech2GestureConfig,
    build_model,
    config_from_options,
    make_config,
)
from gesturekit.cospeech.models.bundle import load_model, save_model
from gesturekit.cospeech.training.fit import FitConfig, model_config
from gesturekit.errors import ConfigError
from gesturekit.features.normalize import Normalizer

torch.set_num_threads(1)
P = PATS_FORMAT.pose_dim


@pytest.mark.parametrize(
    ("name", "key"),
    [("ccnce", "colour"), ("mix", "colour"), ("speech2gesture", "num_clusters"), ("mean-pose", "d"),
     ("nearest-neighbour", "moco_queue")],
)  # fmt: skip
def test_a_key_the_model_config_lacks_is_an_error_naming_it(name: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'.*{name}"):
        build_model(name, pose_dim=4, **{key: 1})


def test_a_missing_required_key_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="pose_dim"):
        make_config("ccnce", {"d": 8})


def test_the_model_is_built_from_its_config_and_keeps_it() -> None:
    m = build_model("ccnce-moco", CCNCEConfig(pose_dim=6, d=8, moco_queue=4, window=8, contrastive="ccnce"))
    assert isinstance(m.config, CCNCEConfig)
    assert (m.config.contrastive, m.config.d, m.d, m.pose_dim) == ("moco", 8, 8, 6)  # the name fixes the form
    mix = build_model("mix", pose_dim=6, d=8, curriculum=True)
    assert mix.config.contrastive == "none" and mix.curriculum is False


def test_the_ccnce_config_defaults_are_the_training_options_defaults() -> None:
    """``cospeech fit`` (FitConfig.model_options) and a model built directly get the same model."""
    opts = {f.name: getattr(ModelOptions(), f.name) for f in fields(ModelOptions)}
    built = build_model("ccnce", pose_dim=P).config
    assert {k: getattr(built, k) for k in opts} == opts
    assert FitConfig().model_options == ModelOptions()
    trained = model_config(FitConfig(), P, 64, 768, iters_per_epoch=100)
    assert trained == make_config("ccnce", pose_dim=P, curriculum_iters=500, seed=FitConfig().seed)


def test_training_gives_each_model_the_options_its_config_has() -> None:
    opts = ModelOptions(d=8, dropout=0.25, cc_form="reference")
    s2g = config_from_options("speech2gesture", opts, pose_dim=4, text_dim=3, num_clusters=2, window=8)
    assert s2g == Speech2GestureConfig(pose_dim=4, d=8, dropout=0.25)
    nn_cfg = config_from_options("nearest-neighbour", opts, pose_dim=4, text_dim=3, window=8)
    assert config_to_dict(nn_cfg) == {"pose_dim": 4, "audio_dim": 64, "text_dim": 3, "window": 8}
    with pytest.raises(ConfigError, match="colour"):
        config_from_options("ccnce", {"colour": 1}, pose_dim=4)


def test_every_preset_gives_its_model_a_config() -> None:
    for name in ("ccnce", "ccnce_fullwidth", "ccnce_stream", "mix", "speech2gesture"):
        cfg = load_config(FitConfig, name, [])
        config = model_config(cfg, P, 64, 768, iters_per_epoch=10)
        assert isinstance(config, MODELS[cfg.model].config), name
    full = model_config(load_config(FitConfig, "ccnce_fullwidth", []), P, 64, 768, iters_per_epoch=10)
    assert (full.d, full.audio_encoder, full.classifier_layers, full.decoder_width) == (256, "conv2d", 6, 256)


def _save(tmp_path: Path, name: str, config: object) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = build_model(name, config)
    norm = Normalizer("zscore").fit([np.random.default_rng(0).standard_normal((20, P))])
    audio_norm = Normalizer("zscore").fit([np.random.default_rng(1).standard_normal((20, 64))])
    save_model(
        tmp_path / "model", model, name, model.config, clusters=None, pose_norm=norm, audio_norm=audio_norm,
        pose_format=PATS_FORMAT, fps=15.0, window=16, mean_pose=np.zeros(P), text_features="words",
        text_mode="features", text_dim=12, extra={},
    )  # fmt: skip
    return model, tmp_path / "model.json"


def test_the_bundle_saves_the_config_and_rebuilds_the_same_model(tmp_path: Path) -> None:
    config = make_config("ccnce", pose_dim=P, text_dim=12, d=8, decoder_width=8, window=32, num_clusters=3)
    model, meta_path = _save(tmp_path, "ccnce", config)
    meta = json.loads(meta_path.read_text())["meta"]
    assert meta["config_class"] == "CCNCEConfig" and meta["kwargs"] == config_to_dict(config)
    loaded, meta = load_model(tmp_path)
    assert loaded.config == config and (meta["text_dim"], meta["text_mode"]) == (12, "features")
    audio, text = torch.randn(1, 32, 64), torch.randn(1, 32, 12)
    model.eval()
    torch.testing.assert_close(loaded(audio, text)[0], model(audio, text)[0])


def test_a_bundle_config_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    _, meta_path = _save(tmp_path, "speech2gesture", make_config("speech2gesture", pose_dim=P, d=8))
    doc = json.loads(meta_path.read_text())
    doc["meta"]["kwargs"]["colour"] = 1
    meta_path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="colour"):
        load_model(tmp_path)


def test_a_bundle_saved_before_the_configs_loads_with_that_time_defaults(tmp_path: Path) -> None:
    """Then every model got every option (baselines and Speech2Gesture ignored most) and keys it
    lacked took the constructor's defaults (Speech2Gesture: d 256)."""
    model, meta_path = _save(tmp_path, "speech2gesture", make_config("speech2gesture", pose_dim=P, d=256))
    doc = json.loads(meta_path.read_text())
    old = doc["meta"]
    for k in ("config_class", "text_mode", "text_dim"):
        old.pop(k)
    old["kwargs"] = {**config_to_dict(ModelOptions()), "pose_dim": P, "text_dim": 12, "num_clusters": 8}
    old["kwargs"].pop("d")  # d was not given: the constructor's 256
    old["kwargs"].pop("curriculum_epochs")
    meta_path.write_text(json.dumps(doc))
    loaded, meta = load_model(tmp_path)
    assert loaded.config == Speech2GestureConfig(pose_dim=P, d=256, dropout=0.0)
    assert (meta["text_dim"], meta["text_mode"]) == (12, "features")
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_a_bundle_saved_before_output_smoothing_loads_without_the_filter(tmp_path: Path) -> None:
    """``output_smoothing`` came after bundles saved their config: one without the key is rebuilt
    as it was trained (no filter), whatever the option's default is now."""
    config = make_config("ccnce", pose_dim=P, text_dim=12, d=8, decoder_width=8, window=32, num_clusters=3,
                         output_smoothing=0.0)  # fmt: skip
    model, meta_path = _save(tmp_path, "ccnce", config)
    doc = json.loads(meta_path.read_text())
    doc["meta"]["kwargs"].pop("output_smoothing")
    meta_path.write_text(json.dumps(doc))
    loaded, _ = load_model(tmp_path)
    assert loaded.config.output_smoothing == 0.0 and loaded.smooth is None
    smoothed = make_config("ccnce", pose_dim=P, text_dim=12, d=8, decoder_width=8, window=32, num_clusters=3,
                           output_smoothing=1.5)  # fmt: skip
    _save(tmp_path / "s", "ccnce", smoothed)
    assert load_model(tmp_path / "s")[0].config.output_smoothing == 1.5
