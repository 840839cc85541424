"""Optimiser and learning-rate-schedule factories, and gradient clipping.

``build_optimizer(params, "adam", lr=1e-3)``; ``build_scheduler(opt, "cosine", epochs=50,
warmup_epochs=2)`` (``constant`` | ``step`` | ``exponential`` | ``cosine`` | ``plateau``), stepped
once per epoch with :func:`scheduler_step` (which passes the validation metric to ``plateau``).
Every scheduler's ``state_dict`` round-trips through :mod:`gesturekit.train.state`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from gesturekit.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "step", "exponential", "cosine", "plateau")


def build_optimizer(
    params: Iterable[Any],
    name: str = "adam",
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """An optimiser over ``params`` (tensors or param-group dicts)."""
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    raise ConfigError(f"unknown optimiser '{name}'; use one of {list(OPTIMIZERS)}")


@dataclass
class WarmupCosine:
    """LR factor: linear warm-up over ``warmup`` epochs, then cosine decay to ``floor`` at ``total``.

    A callable object (not a lambda) so that ``LambdaLR.state_dict`` stores it.
    """

    total: int
    warmup: int = 0
    floor: float = 0.0

    def __call__(self, epoch: int) -> float:
        if self.warmup > 0 and epoch < self.warmup:
            return (epoch + 1) / (self.warmup + 1)
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (epoch - self.warmup) / span)
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    name: str = "constant",
    *,
    epochs: int = 100,
    warmup_epochs: int = 0,
    step_size: int = 5,
    gamma: float = 0.8,
    factor: float = 0.9,
    patience: int = 4,
    min_lr_ratio: float = 0.0,
    mode: str = "min",
) -> Any:
    """An epoch-level LR schedule (see module docstring for the names)."""
    name = name.lower()
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, WarmupCosine(total=10**9, warmup=warmup_epochs, floor=1.0)
        )
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, WarmupCosine(total=epochs, warmup=warmup_epochs, floor=min_lr_ratio)
        )
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=factor, patience=patience, threshold=1e-4
        )
    raise ConfigError(f"unknown LR schedule '{name}'; use one of {list(SCHEDULES)}")


def scheduler_step(scheduler: Any, metric: float | None = None) -> None:
    """Advance an epoch-level schedule; ``plateau`` needs the validation ``metric``."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if metric is not None and math.isfinite(metric):
            scheduler.step(metric)
    else:
        scheduler.step()


def clip_gradients(parameters: Iterable[torch.Tensor], max_norm: float | None) -> float:
    """Clip the global gradient norm to ``max_norm`` (``None``/0: measure only); returns the norm."""
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    limit = float(max_norm) if max_norm and max_norm > 0 else float("inf")
    norm = torch.nn.utils.clip_grad_norm_(params, limit, foreach=True)
    return float(norm)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])
