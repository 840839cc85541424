"""Co-speech gesture models and the registry mapping model names to builders.

``build_model(name, pose_dim=..., text_dim=..., **options)`` makes a generator; every model's
``forward(audio (B, T, F), text (B, T, D), pose=None, labels=None, epoch=0)`` returns
``(poses (B, T, P), internal losses by name, extras)``. The reference's class names are
accepted as aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from gesturekit.cospeech.models.baselines import MeanPose, NearestNeighbour
from gesturekit.cospeech.models.generators import CCNCEGenerator, Speech2GestureGenerator
from gesturekit.cospeech.models.layers import VelocityDiscriminator
from gesturekit.errors import ConfigError


def _ccnce(contrastive: str) -> Callable[..., nn.Module]:
    def build(**kw: Any) -> nn.Module:
        kw["contrastive"] = contrastive
        if contrastive == "none":
            kw["curriculum"] = False
        return CCNCEGenerator(**kw)

    return build


MODELS: dict[str, Callable[..., nn.Module]] = {
    "ccnce": _ccnce("ccnce"),
    "ccnce-moco": _ccnce("moco"),
    "ccnce-patchwise": _ccnce("patchwise"),
    "mix": _ccnce("none"),
    "speech2gesture": Speech2GestureGenerator,
    "mean-pose": MeanPose,
    "nearest-neighbour": NearestNeighbour,
}
ALIASES = {
    "JointLateClusterSoftContrastiveGlobalDTW_G": "ccnce",
    "JointLateClusterSoftContrastive3_G": "ccnce-moco",
    "JointLateClusterSoftContrastive4_G": "ccnce-patchwise",
    "JointLateClusterSoftTransformer12_G": "mix",
    "Speech2Gesture_G": "speech2gesture",
}
# Options a builder accepts; others in a model config are ignored for it.
_GENERATOR_KEYS = set(
    CCNCEGenerator.__init__.__code__.co_varnames[1 : CCNCEGenerator.__init__.__code__.co_argcount]
)


def canonical_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise ConfigError(
            f"unknown model {name!r}; known: {sorted(MODELS)} (or reference names {sorted(ALIASES)})"
        )
    return name


def build_model(name: str, **kw: Any) -> nn.Module:
    name = canonical_name(name)
    if name.startswith("ccnce") or name == "mix":
        kw = {k: v for k, v in kw.items() if k in _GENERATOR_KEYS}
    return MODELS[name](**kw)


def is_trainable(model: nn.Module) -> bool:
    return getattr(model, "trainable", True)


def reads_text(model: nn.Module) -> bool:
    """Whether the model's output depends on its text input (audio-only models ignore it)."""
    return bool(getattr(model, "reads_text", True))


__all__ = [
    "ALIASES", "MODELS", "CCNCEGenerator", "MeanPose", "NearestNeighbour", "Speech2GestureGenerator",
    "VelocityDiscriminator", "build_model", "canonical_name", "is_trainable", "reads_text",
]  # fmt: skip
