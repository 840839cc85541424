"""A generic epoch loop on top of the training engine.

:class:`Trainer` owns the bookkeeping every model needs and nothing model-specific: it asks an
:class:`EpochSampler` for each epoch's batches, calls ``train_batch(indices, epoch)`` (which runs
the forward/backward passes and optimiser steps, typically through :meth:`Trainer.backward_step`,
and returns float metrics), averages them per epoch, runs ``validate(epoch)`` every epoch, keeps
the truly best epoch of the monitored validation metric (``on_best`` saves that model), steps the
LR schedules, stops early, logs to :class:`MetricLogger`, and saves the full training state
(end of every epoch, and every ``checkpoint_every_steps`` optimiser steps) so that a process
killed at any moment resumes from its last state with ``fit(..., resume=True)`` and ends with
bit-identical weights on the CPU. Several models and optimisers (e.g. a GAN) are supported:
they are just more entries in ``modules`` / ``optimizers``. Any other state a model's training
carries between batches (a contrastive memory and its own RNG, a loss-weight counter) goes in
``stateful``: objects with ``state_dict()`` / ``load_state_dict()`` saved and restored with the
rest, so a resume mid-epoch is exact for them too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gesturekit.runtime import log, progress
from gesturekit.train.data import EpochSampler
from gesturekit.train.distributed import DistInfo, broadcast_flag
from gesturekit.train.logging import MetricLogger
from gesturekit.train.optim import clip_gradients, current_lr, scheduler_step
from gesturekit.train.state import load_training_state, save_training_state
from gesturekit.train.tracking import BestTracker, EarlyStopping


@dataclass
class LoopConfig:
    """Loop settings: how long, what to monitor, when to stop and to checkpoint."""

    epochs: int = 100
    monitor: str = "loss"  # a key of the dict validate() returns
    mode: str = "min"  # "min" or "max"
    min_delta: float = 0.0
    patience: int = 20  # epochs without improvement before stopping (<= 0: never)
    min_epochs: int = 0
    grad_clip: float | None = None  # global L2 norm; None/0: no clipping
    checkpoint_every_steps: int = 0  # 0: only at the end of each epoch
    keep_states: int = 1
    progress: bool = True


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` did."""

    epochs_run: int
    steps: int
    best_value: float | None
    best_epoch: int
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class Trainer:
    """Epoch loop with validation, best tracking, early stopping, logging and exact resume."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        modules: Mapping[str, torch.nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        sampler: EpochSampler,
        config: LoopConfig | None = None,
        schedulers: Mapping[str, Any] | None = None,
        logger: MetricLogger | None = None,
        dist: DistInfo | None = None,
        stateful: Mapping[str, Any] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.stateful = dict(stateful or {})
        self.modules = dict(modules)
        self.optimizers = dict(optimizers)
        self.schedulers = dict(schedulers or {})
        self.sampler = sampler
        self.config = config or LoopConfig()
        self.logger = logger
        self.dist = dist or DistInfo()
        self.tracker = BestTracker(mode=self.config.mode, min_delta=self.config.min_delta)
        self.stopper = EarlyStopping(patience=self.config.patience, min_epochs=self.config.min_epochs)
        self.epoch = 0
        self.batch = 0
        self.step = 0
        self._sums: dict[str, float] = {}
        self._count = 0
        self._history: list[dict[str, float]] = []
        self.finished = False
        self.last_grad_norm = 0.0

    # -- helpers for train_batch ------------------------------------------------------------
    def backward_step(
        self, loss: torch.Tensor, optimizer: str | torch.optim.Optimizer, parameters: Any | None = None
    ) -> float:
        """``zero_grad``, ``backward``, clip to ``config.grad_clip``, ``step``; returns the grad norm."""
        opt = self.optimizers[optimizer] if isinstance(optimizer, str) else optimizer
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = parameters if parameters is not None else [p for g in opt.param_groups for p in g["params"]]
        norm = clip_gradients(params, self.config.grad_clip) if self.config.grad_clip else 0.0
        opt.step()
        self.last_grad_norm = norm
        return norm

    # -- state ------------------------------------------------------------------------------
    def _extra(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.state_dict(),
            "stopper": self.stopper.state_dict(),
            "sums": dict(self._sums),
            "count": self._count,
            "history": list(self._history),
            "finished": self.finished,
            "stateful": {k: obj.state_dict() for k, obj in self.stateful.items()},
        }

    def save_state(self) -> None:
        if not self.dist.is_main:
            return
        save_training_state(
            self.state_dir,
            modules=self.modules,
            optimizers=self.optimizers,
            schedulers=self.schedulers,
            counters={"epoch": self.epoch, "batch": self.batch, "step": self.step},
            extra=self._extra(),
            keep=self.config.keep_states,
        )

    def load_state(self) -> bool:
        """Restore the newest saved state; False when there is none."""
        got = load_training_state(
            self.state_dir, modules=self.modules, optimizers=self.optimizers, schedulers=self.schedulers
        )
        if got is None:
            return False
        c, extra = got["counters"], got["extra"]
        self.epoch, self.batch, self.step = int(c["epoch"]), int(c["batch"]), int(c["step"])
        self.tracker.load_state_dict(extra["tracker"])
        self.stopper.load_state_dict(extra["stopper"])
        self._sums = {k: float(v) for k, v in extra["sums"].items()}
        self._count = int(extra["count"])
        self._history = [dict(h) for h in extra["history"]]
        self.finished = bool(extra["finished"])
        stored = extra.get("stateful", {})
        if set(stored) != set(self.stateful):
            have = sorted(self.stateful)
            raise KeyError(f"training state holds extra state {sorted(stored)}; the run has {have}")
        for k, obj in self.stateful.items():
            obj.load_state_dict(stored[k])
        return True

    # -- loop -------------------------------------------------------------------------------
    def fit(
        self,
        train_batch: Callable[[list[int], int], Mapping[str, float]],
        validate: Callable[[int], Mapping[str, float]],
        *,
        on_best: Callable[[int, Mapping[str, float]], None] | None = None,
        on_epoch_end: Callable[[int, Mapping[str, float]], None] | None = None,
        resume: bool = False,
    ) -> FitResult:
        """Train until ``config.epochs`` or early stopping; see the module docstring."""
        t0 = time.perf_counter()
        if resume and self.load_state():
            log.info(f"resuming at epoch {self.epoch} batch {self.batch} (step {self.step})")
        cfg = self.config
        stopped = self.finished and self.stopper.stopped_epoch >= 0
        while not self.finished and self.epoch < cfg.epochs:
            for m in self.modules.values():
                m.train()
            epoch = self.epoch
            batches = self.sampler.batches(epoch, start=self.batch)
            n_total = self.sampler.num_batches(epoch)
            bar = progress(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}") if cfg.progress else batches
            for indices in bar:
                metrics = train_batch(indices, epoch)
                self.step += 1
                self.batch += 1
                for k, v in metrics.items():
                    self._sums[k] = self._sums.get(k, 0.0) + float(v)
                self._count += 1
                if (
                    cfg.checkpoint_every_steps
                    and self.step % cfg.checkpoint_every_steps == 0
                    and self.batch < n_total
                ):
                    self.save_state()
            train_means = {k: v / max(1, self._count) for k, v in self._sums.items()}
            for m in self.modules.values():
                m.eval()
            with torch.no_grad():
                val = dict(validate(epoch))
            if cfg.monitor not in val:
                raise KeyError(f"validate() returned {sorted(val)} without the monitored '{cfg.monitor}'")
            value = float(val[cfg.monitor])
            improved = self.tracker.update(value, epoch)
            if improved and on_best is not None and self.dist.is_main:
                on_best(epoch, val)
            for sched in self.schedulers.values():
                scheduler_step(sched, value if cfg.mode == "min" or not math.isfinite(value) else -value)
            stop = self.stopper.step(improved, epoch)
            stop = broadcast_flag(stop, self.dist)
            lrs = {f"lr_{k}": current_lr(o) for k, o in self.optimizers.items()}
            if self.logger is not None:
                self.logger.log({**train_means, **lrs}, step=self.step, epoch=epoch, split="train")
                self.logger.log(val, step=self.step, epoch=epoch, split="val")
                self.logger.flush()
            row = {"epoch": float(epoch), **{f"train/{k}": v for k, v in train_means.items()}}
            row.update({f"val/{k}": float(v) for k, v in val.items()})
            self._history.append(row)
            if on_epoch_end is not None and self.dist.is_main:
                on_epoch_end(epoch, val)
            self.epoch += 1
            self.batch = 0
            self._sums, self._count = {}, 0
            if stop or self.epoch >= cfg.epochs:
                self.finished = True
                stopped = stop
            self.save_state()
        return FitResult(
            epochs_run=self.epoch,
            steps=self.step,
            best_value=self.tracker.best,
            best_epoch=self.tracker.best_epoch,
            stopped_early=stopped,
            history=list(self._history),
            seconds=time.perf_counter() - t0,
        )
