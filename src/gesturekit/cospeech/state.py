"""Nested training state <-> (tensors, JSON): so optimiser and RNG states go into safetensors + JSON.

``flatten_state(obj)`` walks dicts/lists; tensors and numpy arrays become entries of a flat
tensor dict keyed by their path, everything else stays in a JSON-able skeleton with
``{"__tensor__": key}`` placeholders. ``unflatten_state`` reverses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def flatten_state(obj: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    tensors: dict[str, torch.Tensor] = {}

    def walk(x: Any, path: str) -> Any:
        if isinstance(x, torch.Tensor):
            tensors[path] = x.detach().cpu().contiguous()
            return {"__tensor__": path}
        if isinstance(x, np.ndarray):
            tensors[path] = torch.from_numpy(np.ascontiguousarray(x))
            return {"__ndarray__": path}
        if isinstance(x, dict):
            return {
                "__dict__": [
                    [walk(k, f"{path}.k{i}"), walk(v, f"{path}.{i}")] for i, (k, v) in enumerate(x.items())
                ]
            }
        if isinstance(x, (list, tuple)):
            return {
                "__list__" if isinstance(x, list) else "__tuple__": [
                    walk(v, f"{path}.{i}") for i, v in enumerate(x)
                ]
            }
        if isinstance(x, (np.integer, np.floating)):
            return x.item()
        return x

    return walk(obj, prefix), tensors


def unflatten_state(skel: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skel, dict):
        if "__tensor__" in skel:
            return tensors[skel["__tensor__"]]
        if "__ndarray__" in skel:
            return tensors[skel["__ndarray__"]].numpy()
        if "__dict__" in skel:
            return {unflatten_state(k, tensors): unflatten_state(v, tensors) for k, v in skel["__dict__"]}
        if "__list__" in skel:
            return [unflatten_state(v, tensors) for v in skel["__list__"]]
        if "__tuple__" in skel:
            return tuple(unflatten_state(v, tensors) for v in skel["__tuple__"])
    return skel
