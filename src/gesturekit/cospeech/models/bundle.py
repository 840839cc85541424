"""A trained co-speech model on disk (the model bundle): ``model.safetensors`` + ``model.json``.

:func:`save_model` writes, beside the weights, everything needed to use the model: its name and
config (``kwargs``: its config dataclass, :mod:`gesturekit.cospeech.models.config`, named by
``config_class``), how its text input was read (``text_mode``, ``text_dim``), the pose
and audio normalisers, the pose format, frame rate, window, mean pose, the k-means pose clusters,
and ``text_features`` (the kind of text features it was trained on). :func:`load_model` rebuilds
it. Training writes bundles (:mod:`gesturekit.cospeech.training.fit`), inference reads them
(:mod:`gesturekit.cospeech.inference.pipeline`); neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gesturekit.checkpoint import load_checkpoint, save_checkpoint
from gesturekit.config import config_to_dict
from gesturekit.cospeech.data.types import PoseFormat
from gesturekit.cospeech.models import MODELS, build_model, canonical_name, config_fields, make_config
from gesturekit.cospeech.models.config import LEGACY_DEFAULTS
from gesturekit.errors import DataError
from gesturekit.features.normalize import Normalizer

KIND = "gesturekit-cospeech-model"


def save_model(path: Path, model: nn.Module, name: str, config: Any, *, clusters: Any, pose_norm: Normalizer,
               audio_norm: Normalizer, pose_format: PoseFormat, fps: float, window: int, mean_pose: np.ndarray,
               text_features: str, text_mode: str, text_dim: int, extra: dict[str, Any]) -> None:  # fmt: skip
    """Write the bundle ``path`` (``.safetensors`` + ``.json``): ``config`` is the model's config
    dataclass (saved as ``kwargs``, its class as ``config_class``); ``clusters`` a fitted
    :class:`~gesturekit.cospeech.training.clusters.PoseClusters` or None; ``text_mode`` and
    ``text_dim`` how the model's text input was read (for every model, also those that ignore it)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if clusters is not None:
        tensors.update({f"clusters.{k}": torch.from_numpy(v) for k, v in clusters.arrays().items()})
    meta = {
        "kind": KIND, "model": name, "kwargs": config_to_dict(config), "config_class": type(config).__name__,
        "text_mode": text_mode, "text_dim": text_dim,
        "pose_norm": pose_norm.to_dict(), "audio_norm": audio_norm.to_dict(),
        "pose_format": pose_format.to_dict(), "fps": fps, "window": window,
        "mean_pose": mean_pose.tolist(), "clusters": clusters.to_dict() if clusters else None,
        "text_features": text_features, **extra,
    }  # fmt: skip
    save_checkpoint(path, tensors, meta)


def bundle_config(meta: dict[str, Any]) -> Any:
    """The model's config from a bundle's ``model.json`` meta. Saved with its config
    (``config_class``): exactly its keys, an unknown one is a :class:`ConfigError`. Saved before the
    configs: the constructor arguments of that time, those the config has (baselines and
    Speech2Gesture were given every option and ignored most), missing ones at that constructor's
    defaults (:data:`~gesturekit.cospeech.models.config.LEGACY_DEFAULTS`)."""
    name, kwargs = meta["model"], dict(meta["kwargs"])
    if "config_class" in meta:  # keys added since take their dataclass default: off, as before them
        return make_config(name, kwargs)
    spec = MODELS[canonical_name(name)]
    have = set(config_fields(name))
    return make_config(
        name, {**LEGACY_DEFAULTS.get(spec.config, {}), **{k: v for k, v in kwargs.items() if k in have}}
    )


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(model in eval mode, meta)`` from a run folder or a ``model`` checkpoint path.

    ``meta["text_features"]`` names the text features the model was trained on
    (:data:`~gesturekit.cospeech.data.types.TEXT_FEATURES`); ``"unknown"`` for bundles saved before
    gesturekit recorded it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model"
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != KIND:
        raise DataError("not a gesturekit co-speech model checkpoint", path=path)
    model = build_model(meta["model"], bundle_config(meta))
    sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    for k, v in sd.items():  # baselines have data-sized buffers
        cur = model.state_dict().get(k)
        if cur is not None and cur.shape != v.shape:
            parent, _, leaf = k.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, torch.empty_like(v))
    model.load_state_dict(sd)
    meta.setdefault("text_features", "unknown")
    meta.setdefault("text_mode", meta["kwargs"].get("text_mode", "features"))  # bundles before configs
    meta.setdefault("text_dim", meta["kwargs"].get("text_dim", 0))
    meta["cluster_arrays"] = {
        k[len("clusters.") :]: v.numpy() for k, v in tensors.items() if k.startswith("clusters.")
    }
    return model.to(device).eval(), meta
