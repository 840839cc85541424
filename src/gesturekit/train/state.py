"""Full training state on disk without pickle, and exact resume.

A training state is the nested ``state_dict`` of every model, optimiser and LR scheduler, the
RNG states of Python, NumPy and torch (CPU and CUDA), counters (epoch, step, position in the
epoch) and any small extra state (best-metric tracker, early stopping). :func:`flatten_state`
splits such a nested structure into a flat ``{key: tensor}`` dict (stored as safetensors) and a
JSON skeleton that names each tensor; :func:`unflatten_state` rebuilds it exactly (integer dict
keys, tuples, NumPy arrays and non-finite floats included).

:func:`save_training_state` writes ``DIR/state-<step>.safetensors`` + ``.json`` through
:func:`gesturekit.checkpoint.save_checkpoint` (atomic, checksummed) and only then moves the
``DIR/latest.json`` pointer, so a process killed at any moment leaves the previous complete
state in place. :func:`load_training_state` restores everything into live objects.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gesturekit.checkpoint import load_checkpoint, save_checkpoint
from gesturekit.errors import FormatError
from gesturekit.fsutil import atomic_write_json

STATE_KIND = "gesturekit-training-state"
POINTER = "latest.json"


# ----------------------------------------------------------------------------- flatten / unflatten
def flatten_state(obj: Any, prefix: str = "") -> tuple[dict[str, torch.Tensor], Any]:
    """Split a nested structure into ``(tensors, skeleton)``.

    Tensors and NumPy arrays go to ``tensors`` under their path (``a/b/0``); the JSON-able
    skeleton holds everything else and ``{"__tensor__": key}`` / ``{"__ndarray__": key,
    "dtype": ...}`` markers in their place. Dicts with non-string keys, and tuples, are tagged
    so that :func:`unflatten_state` restores them exactly.
    """
    tensors: dict[str, torch.Tensor] = {}

    def key_for(path: str) -> str:
        k = path or "_"
        while k in tensors:
            k += "_"
        return k

    def walk(x: Any, path: str) -> Any:
        if isinstance(x, torch.Tensor):
            k = key_for(path)
            tensors[k] = x.detach().cpu().contiguous()
            return {"__tensor__": k}
        if isinstance(x, np.ndarray):
            k = key_for(path)
            arr = np.ascontiguousarray(x)
            if arr.dtype in (np.uint32, np.uint16, np.int32, np.int16, np.int8):
                t = torch.from_numpy(arr.astype(np.int64))
            else:
                t = torch.from_numpy(arr.copy())
            tensors[k] = t
            return {"__ndarray__": k, "dtype": str(arr.dtype)}
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, Mapping):
            if all(isinstance(k, str) for k in x) and not any(k.startswith("__") for k in x):
                return {k: walk(v, f"{path}/{k}" if path else k) for k, v in x.items()}
            items = []
            for k, v in x.items():
                if not isinstance(k, (str, int, float, bool)) and k is not None:
                    raise TypeError(f"cannot store dict key {k!r} of type {type(k).__name__}")
                items.append([k, walk(v, f"{path}/{k}" if path else str(k))])
            return {"__items__": items}
        if isinstance(x, tuple):
            return {"__tuple__": [walk(v, f"{path}/{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, torch.dtype):
            return {"__dtype__": str(x).removeprefix("torch.")}
        raise TypeError(f"cannot store a {type(x).__name__} in a training state (at '{path}')")

    skeleton = walk(obj, prefix)
    return tensors, skeleton


def unflatten_state(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if "__tensor__" in x:
                return tensors[x["__tensor__"]]
            if "__ndarray__" in x:
                return tensors[x["__ndarray__"]].numpy().astype(np.dtype(x["dtype"]))
            if "__items__" in x:
                return {k: walk(v) for k, v in x["__items__"]}
            if "__tuple__" in x:
                return tuple(walk(v) for v in x["__tuple__"])
            if "__dtype__" in x:
                return getattr(torch, x["__dtype__"])
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(skeleton)


# ----------------------------------------------------------------------------- RNG
def capture_rng_state() -> dict[str, Any]:
    """The current states of Python's, NumPy's and torch's (CPU and every CUDA device) generators."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Put back generator states captured by :func:`capture_rng_state` (after a round trip)."""
    py = state["python"]
    random.setstate((py[0], tuple(int(v) for v in py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state(
        (npst[0], np.asarray(npst[1], dtype=np.uint32), int(npst[2]), int(npst[3]), float(npst[4]))
    )
    torch.set_rng_state(state["torch"].to(torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [t.to(torch.uint8) for t in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


# ----------------------------------------------------------------------------- save / load
def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The bare module inside a DistributedDataParallel/DataParallel wrapper (or itself)."""
    return getattr(module, "module", module)


def _state_of(obj: Any) -> Any:
    if isinstance(obj, torch.nn.Module):
        return unwrap(obj).state_dict()
    return obj.state_dict()


def save_training_state(
    directory: str | Path,
    *,
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    counters: Mapping[str, int] | None = None,
    extra: Mapping[str, Any] | None = None,
    keep: int = 1,
) -> Path:
    """Write one complete training state into ``directory`` and point ``latest.json`` at it.

    ``counters`` should hold at least ``epoch`` and ``step`` (``step`` names the file); ``extra``
    may hold anything :func:`flatten_state` accepts (e.g. ``tracker.state_dict()``). The RNG
    states are captured here. ``keep`` older states are kept (at least the newest one).
    Returns the JSON path of the new state. Call it on one rank only.
    """
    directory = Path(directory)
    counters = dict(counters or {})
    step = int(counters.get("step", 0))
    payload = {
        "modules": {k: _state_of(m) for k, m in modules.items()},
        "optimizers": {k: _state_of(o) for k, o in (optimizers or {}).items()},
        "schedulers": {k: _state_of(s) for k, s in (schedulers or {}).items()},
        "rng": capture_rng_state(),
        "counters": counters,
        "extra": dict(extra or {}),
    }
    tensors, skeleton = flatten_state(payload)
    name = f"state-{step:010d}"
    json_path = save_checkpoint(directory / name, tensors, {"kind": STATE_KIND, "structure": skeleton})
    atomic_write_json(directory / POINTER, {"latest": name, "counters": counters})
    _prune(directory, keep=max(1, keep), current=name)
    return json_path


def _prune(directory: Path, keep: int, current: str) -> None:
    names = sorted({p.name.split(".")[0] for p in directory.glob("state-*.json")})
    old = [n for n in names if n != current][: max(0, len(names) - keep)]
    for n in old:
        for suffix in (".json", ".safetensors"):
            (directory / (n + suffix)).unlink(missing_ok=True)


def latest_training_state(directory: str | Path) -> Path | None:
    """The newest complete state in ``directory`` (by the pointer file), or None."""
    directory = Path(directory)
    pointer = directory / POINTER
    if not pointer.exists():
        return None
    import json

    try:
        name = json.loads(pointer.read_text())["latest"]
    except (ValueError, KeyError):
        raise FormatError(pointer, "training-state pointer is damaged") from None
    return directory / name


def load_training_state(
    directory: str | Path,
    *,
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    restore_rng: bool = True,
) -> dict[str, Any] | None:
    """Restore the newest state of ``directory`` into the given live objects.

    Returns ``{"counters": ..., "extra": ...}`` or None when the folder holds no state. Every
    object named in the state must be given (and vice versa): a mismatch is an error, not a
    silent partial resume.
    """
    path = latest_training_state(directory)
    if path is None:
        return None
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != STATE_KIND:
        raise FormatError(path.with_suffix(".json"), "not a gesturekit training state")
    payload = unflatten_state(meta["structure"], tensors)
    for group, live in (
        ("modules", modules),
        ("optimizers", optimizers or {}),
        ("schedulers", schedulers or {}),
    ):
        stored = payload[group]
        if set(stored) != set(live):
            raise FormatError(
                path.with_suffix(".json"),
                f"training state holds {group} {sorted(stored)} but the run has {sorted(live)}",
            )
        for k, obj in live.items():
            target = unwrap(obj) if isinstance(obj, torch.nn.Module) else obj
            target.load_state_dict(stored[k])
    if restore_rng:
        restore_rng_state(payload["rng"])
    return {"counters": payload["counters"], "extra": payload["extra"], "path": path}


def check_resume_config(
    state_dir: str | Path,
    config: Mapping[str, Any],
    resumable: set[str],
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """A resumed run must use the interrupted run's options, except those in ``resumable``.

    Compares ``config`` with ``state_dir/config.json`` (written by :func:`save_resume_config` when
    the run started; passed through ``upgrade`` first, which renames the keys of older versions)
    and raises :class:`~gesturekit.errors.ConfigError` naming the options that differ.
    """
    import json

    from gesturekit.errors import ConfigError

    pointer = Path(state_dir) / "config.json"
    if not pointer.exists():
        return
    before = json.loads(pointer.read_text())
    if upgrade is not None:
        before = upgrade(before)
    now = dict(config)
    diff = sorted(k for k in set(before) | set(now) if k not in resumable and before.get(k) != now.get(k))
    if diff:
        where = Path(state_dir).parent
        raise ConfigError(f"{where}: --resume with options that differ from the interrupted run: {diff}")


def save_resume_config(state_dir: str | Path, config: Mapping[str, Any]) -> None:
    """Record the options a run started with (for :func:`check_resume_config`)."""
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(state_dir) / "config.json", dict(config))


def resume_point(
    state_dir: str | Path,
    config: Mapping[str, Any],
    resumable: set[str],
    *,
    resume: bool,
    is_main: bool,
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> int | None:
    """Where a run starts: the step of the newest state when resuming one (its options checked by
    :func:`check_resume_config`), else None, the run's options recorded first (rank 0)."""
    if resume and latest_training_state(state_dir) is not None:
        check_resume_config(state_dir, config, resumable, upgrade)
        import json

        return int(json.loads((Path(state_dir) / POINTER).read_text())["counters"]["step"])
    if is_main:
        save_resume_config(state_dir, config)
    return None
