"""Best-checkpoint tracking on a validation metric, and early stopping.

:class:`BestTracker` remembers the best value of one metric (``mode`` ``"min"`` or ``"max"``,
improvements must beat it by ``min_delta``; NaN never improves). :class:`EarlyStopping` counts
epochs without improvement and says when to stop (never before ``min_epochs``). Both have
``state_dict`` / ``load_state_dict`` so that they resume exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal


class _FieldState:
    """``state_dict`` / ``load_state_dict`` of a dataclass: its fields, as plain values."""

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


@dataclass
class BestTracker(_FieldState):
    """The best value seen so far of a metric and the epoch it was seen in."""

    mode: Literal["min", "max"] = "min"
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int = -1

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {self.mode!r}")

    def is_better(self, value: float) -> bool:
        if value is None or not math.isfinite(float(value)):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return float(value) < self.best - self.min_delta
        return float(value) > self.best + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record ``value`` of ``epoch``; True when it is a new best."""
        if self.is_better(value):
            self.best, self.best_epoch = float(value), int(epoch)
            return True
        return False


@dataclass
class EarlyStopping(_FieldState):
    """Stop after ``patience`` epochs without improvement, but not before ``min_epochs`` epochs.

    ``patience <= 0`` disables it.
    """

    patience: int = 10
    min_epochs: int = 0
    bad_epochs: int = 0
    stopped_epoch: int = -1

    def step(self, improved: bool, epoch: int) -> bool:
        """Record whether ``epoch`` (0-based) improved; True when training should stop now."""
        self.bad_epochs = 0 if improved else self.bad_epochs + 1
        if self.patience > 0 and self.bad_epochs >= self.patience and epoch + 1 >= self.min_epochs:
            self.stopped_epoch = int(epoch)
            return True
        return False
