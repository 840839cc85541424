"""Checkpoints and results without pickle: safetensors for tensors, JSON for the rest.

A checkpoint ``NAME`` is two files, ``NAME.safetensors`` (tensors) and ``NAME.json`` (config,
metadata, small state). Both are written atomically; the JSON is written last and names the
tensor file's checksum, so a reader never pairs a new JSON with an old tensor file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save as save_numpy_bytes
from safetensors.torch import load_file as load_torch
from safetensors.torch import save as save_torch_bytes

from gesturekit.errors import FormatError
from gesturekit.fsutil import atomic_write_bytes, atomic_write_json

FORMAT_VERSION = 1


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def save_checkpoint(
    path: str | Path,
    tensors: dict[str, torch.Tensor | np.ndarray],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``tensors`` and ``meta`` as ``path.safetensors`` + ``path.json``; returns the JSON path."""
    st_path, json_path = _paths(path)
    if tensors and all(isinstance(v, np.ndarray) for v in tensors.values()):
        blob = save_numpy_bytes({k: np.ascontiguousarray(v) for k, v in tensors.items()})
        kind = "numpy"
    else:
        as_torch = {
            k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
            .detach()
            .cpu()
            .contiguous()
            for k, v in tensors.items()
        }
        blob = save_torch_bytes(as_torch)
        kind = "torch"
    atomic_write_bytes(st_path, blob)
    record = {
        "format": "gesturekit-checkpoint",
        "format_version": FORMAT_VERSION,
        "tensor_file": st_path.name,
        "tensor_kind": kind,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "meta": meta or {},
    }
    atomic_write_json(json_path, record)
    return json_path


def load_checkpoint(
    path: str | Path, *, as_numpy: bool = False, verify: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(tensors, meta)``."""
    st_path, json_path = _paths(path)
    if not json_path.exists():
        raise FormatError(json_path, "checkpoint metadata not found")
    if not st_path.exists():
        raise FormatError(st_path, "checkpoint tensor file not found")
    try:
        record = json.loads(json_path.read_text())
    except json.JSONDecodeError as exc:
        raise FormatError(json_path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if record.get("format") != "gesturekit-checkpoint":
        raise FormatError(json_path, "not a gesturekit checkpoint")
    if verify:
        digest = hashlib.sha256(st_path.read_bytes()).hexdigest()
        if digest != record.get("sha256"):
            raise FormatError(st_path, "tensor file does not match its metadata (checksum differs)")
    try:
        tensors = load_numpy(str(st_path)) if as_numpy else load_torch(str(st_path))
    except Exception as exc:  # safetensors raises its own error types
        raise FormatError(st_path, f"unreadable safetensors file ({exc})") from None
    return tensors, record.get("meta", {})


def checkpoint_exists(path: str | Path) -> bool:
    st_path, json_path = _paths(path)
    return st_path.exists() and json_path.exists()
