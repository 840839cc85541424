"""Seeding, device choice, logging and progress bars: the run-time settings every command shares."""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import torch

from gesturekit.errors import ConfigError

T = TypeVar("T")
log = logging.getLogger("gesturekit")


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Fix Python's, NumPy's and torch's generators (and cuDNN's choices) from one seed."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` takes CUDA when present; ``"cuda"`` without a GPU is an error, not a fallback."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is available")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"unknown device '{name}'; use cpu, cuda, cuda:N or auto")
    return torch.device(name)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is logged: notebooks and test runners swap (and
    close) the stream a handler would otherwise keep."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(verbosity: int = 0) -> None:
    """0: warnings and info lines of gesturekit; 1+: debug. Quiet (-q) is verbosity -1."""
    level = logging.INFO if verbosity == 0 else logging.DEBUG if verbosity > 0 else logging.WARNING
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:
    """A tqdm progress bar on stderr, hidden when stderr is not a terminal or GESTUREKIT_QUIET is set."""
    from tqdm.auto import tqdm

    disable = bool(os.environ.get("GESTUREKIT_QUIET")) or not sys.stderr.isatty()
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, disable=disable, **kwargs)


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(int(n))


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run the block on ``n`` intra-op threads (None: leave the count), then restore the count."""
    before = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
