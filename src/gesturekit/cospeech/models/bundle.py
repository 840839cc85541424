"""A trained co-speech model on disk (the model bundle): ``model.safetensors`` + ``model.json``.

:func:`save_model` writes, beside the weights, everything needed to use the model: its name and
config (``kwargs``: the constructor options, :mod:`gesturekit.cospeech.models.config`), the pose
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
from gesturekit.cospeech.data.types import PoseFormat
from gesturekit.cospeech.models import build_model
from gesturekit.errors import DataError
from gesturekit.features.normalize import Normalizer

KIND = "gesturekit-cospeech-model"


def save_model(path: Path, model: nn.Module, name: str, kwargs: dict[str, Any], *, clusters: Any,
               pose_norm: Normalizer, audio_norm: Normalizer, pose_format: PoseFormat, fps: float, window: int,
               mean_pose: np.ndarray, text_features: str, extra: dict[str, Any]) -> None:  # fmt: skip
    """Write the bundle ``path`` (``.safetensors`` + ``.json``); ``clusters``: a fitted
    :class:`~gesturekit.cospeech.training.clusters.PoseClusters` or None."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if clusters is not None:
        tensors.update({f"clusters.{k}": torch.from_numpy(v) for k, v in clusters.arrays().items()})
    meta = {
        "kind": KIND, "model": name, "kwargs": kwargs,
        "pose_norm": pose_norm.to_dict(), "audio_norm": audio_norm.to_dict(),
        "pose_format": pose_format.to_dict(), "fps": fps, "window": window,
        "mean_pose": mean_pose.tolist(), "clusters": clusters.to_dict() if clusters else None,
        "text_features": text_features, **extra,
    }  # fmt: skip
    save_checkpoint(path, tensors, meta)


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
    model = build_model(meta["model"], **meta["kwargs"])
    sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    for k, v in sd.items():  # baselines have data-sized buffers
        cur = model.state_dict().get(k)
        if cur is not None and cur.shape != v.shape:
            parent, _, leaf = k.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, torch.empty_like(v))
    model.load_state_dict(sd)
    meta.setdefault("text_features", "unknown")
    meta["cluster_arrays"] = {
        k[len("clusters.") :]: v.numpy() for k, v in tensors.items() if k.startswith("clusters.")
    }
    return model.to(device).eval(), meta
