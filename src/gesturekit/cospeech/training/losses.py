"""The losses the trainer puts around a generator: reconstruction by name, adversarial with its weight
schedule. (The contrastive terms a generator computes itself are in
:mod:`gesturekit.cospeech.models.contrastive`.)
"""

from __future__ import annotations

import torch
from torch import nn

from gesturekit.errors import ConfigError


def loss_by_name(name: str, **kwargs) -> nn.Module:  # noqa: ANN003
    """Any ``torch.nn`` loss by class name (``"L1Loss"``, ``"MSELoss"``, ``"SmoothL1Loss"``...)."""
    cls = getattr(nn, name, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, nn.Module) or not name.endswith("Loss"):
        raise ConfigError(f"unknown loss {name!r}: give the name of a torch.nn loss class, e.g. L1Loss")
    return cls(**kwargs)


# ----------------------------------------------------------------------------- adversarial


class LambdaSchedule:
    """Adversarial weights: start at ``start``, + ``step`` every ``interval`` GAN forwards, cap ``max``."""

    def __init__(
        self, start: float = 1.0, step: float = 0.1, maximum: float = 2.0, interval: int = 300
    ) -> None:
        self.start, self.step, self.maximum, self.interval = start, step, maximum, interval
        self.count = 0

    @property
    def value(self) -> float:
        return min(self.maximum, self.start + self.step * (self.count // (self.interval + 1)))

    def tick(self) -> None:
        self.count += 1

    def state_dict(self) -> dict:
        return {"count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])


def adversarial(criterion: nn.Module, scores: torch.Tensor, real: bool) -> torch.Tensor:
    """``criterion(scores, 1 or 0)`` (the reference uses its reconstruction loss, L1, here)."""
    return criterion(scores, torch.full_like(scores, 1.0 if real else 0.0))
