"""Co-speech gesture models, their configs and the registry mapping model names to them.

``build_model(name, config)`` makes a model from its config (:mod:`gesturekit.cospeech.models.config`:
one dataclass per model, or a mapping of its keys; keyword options on top); every model's
``forward(audio (B, T, F), text (B, T, D), pose=None, labels=None, epoch=0)`` returns
``(poses (B, T, P), internal losses by name, extras)``. The reference's class names are
accepted as aliases. :func:`config_from_options` is how training makes a model's config from the
user's :class:`~gesturekit.cospeech.models.config.ModelOptions` and what the data decide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from gesturekit.config import config_from_dict, config_to_dict
from gesturekit.cospeech.models.baselines import MeanPose, NearestNeighbour
from gesturekit.cospeech.models.config import (
    CCNCEConfig,
    MeanPoseConfig,
    ModelOptions,
    NearestNeighbourConfig,
    Speech2GestureConfig,
)
from gesturekit.cospeech.models.generators import CCNCEGenerator, Speech2GestureGenerator
from gesturekit.cospeech.models.layers import VelocityDiscriminator
from gesturekit.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A model name's class, its config class, and the config values the name fixes."""

    model: type[nn.Module]
    config: type
    fixed: dict[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "ccnce": ModelSpec(CCNCEGenerator, CCNCEConfig, {"contrastive": "ccnce"}),
    "ccnce-moco": ModelSpec(CCNCEGenerator, CCNCEConfig, {"contrastive": "moco"}),
    "ccnce-patchwise": ModelSpec(CCNCEGenerator, CCNCEConfig, {"contrastive": "patchwise"}),
    "mix": ModelSpec(CCNCEGenerator, CCNCEConfig, {"contrastive": "none", "curriculum": False}),
    "speech2gesture": ModelSpec(Speech2GestureGenerator, Speech2GestureConfig),
    "mean-pose": ModelSpec(MeanPose, MeanPoseConfig),
    "nearest-neighbour": ModelSpec(NearestNeighbour, NearestNeighbourConfig),
}

ALIASES = {
    "JointLateClusterSoftContrastiveGlobalDTW_G": "ccnce",
    "JointLateClusterSoftContrastive3_G": "ccnce-moco",
    "JointLateClusterSoftContrastive4_G": "ccnce-patchwise",
    "JointLateClusterSoftTransformer12_G": "mix",
    "Speech2Gesture_G": "speech2gesture",
}


def canonical_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise ConfigError(
            f"unknown model {name!r}; known: {sorted(MODELS)} (or reference names {sorted(ALIASES)})"
        )
    return name


def config_fields(name: str) -> list[str]:
    """The keys of model ``name``'s config."""
    return [f.name for f in dataclasses.fields(MODELS[canonical_name(name)].config)]


def make_config(name: str, config: Any = None, **options: Any) -> Any:
    """Model ``name``'s config from ``config`` (its config dataclass or a mapping) with ``options``
    on top, and the values the name fixes (``ccnce-moco``: ``contrastive="moco"``). A key the
    config does not have is a :class:`ConfigError` naming it."""
    name = canonical_name(name)
    spec = MODELS[name]
    values = config_to_dict(config) if dataclasses.is_dataclass(config) else dict(config or {})
    values.update(options)
    unknown = sorted(set(values) - set(config_fields(name)))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for model {name!r} ({spec.config.__name__}); "
            f"known: {config_fields(name)}"
        )
    return config_from_dict(spec.config, {**values, **spec.fixed}, prefix=f"{name}.")


def build_model(name: str, config: Any = None, **options: Any) -> nn.Module:
    """Model ``name`` built from its config (see :func:`make_config`)."""
    return MODELS[canonical_name(name)].model(make_config(name, config, **options))


def config_from_options(name: str, options: ModelOptions | Mapping[str, Any], **run: Any) -> Any:
    """Model ``name``'s config from the training options and what the data and the run decide
    (``run``: ``pose_dim``, ``text_dim``, ``audio_dim``, ``num_clusters``, ``window``, ``seed``,
    ``curriculum_iters``): the keys its config has. The CCNCE family takes them all,
    ``speech2gesture`` ``d`` and ``dropout`` of the options, the baselines none of them."""
    have = set(config_fields(name))
    values = config_to_dict(options) if dataclasses.is_dataclass(options) else dict(options)
    known = [f.name for f in dataclasses.fields(ModelOptions)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown model option(s) {unknown}; known: {known}")
    return make_config(name, {k: v for k, v in {**values, **run}.items() if k in have})


def is_trainable(model: nn.Module) -> bool:
    return getattr(model, "trainable", True)


def reads_text(model: nn.Module) -> bool:
    """Whether the model's output depends on its text input (audio-only models ignore it)."""
    return bool(getattr(model, "reads_text", True))


__all__ = [
    "ALIASES", "MODELS", "CCNCEConfig", "CCNCEGenerator", "MeanPose", "MeanPoseConfig", "ModelOptions",
    "ModelSpec", "NearestNeighbour", "NearestNeighbourConfig", "Speech2GestureConfig",
    "Speech2GestureGenerator", "VelocityDiscriminator", "build_model", "canonical_name", "config_fields",
    "config_from_options", "is_trainable", "make_config", "reads_text",
]  # fmt: skip
