"""The shared training engine: state checkpoints with exact resume, best-checkpoint tracking and
early stopping, TensorBoard + CSV logging, distributed helpers, schedules and a generic epoch loop.

Modules (each with one job, usable on their own):

- :mod:`~gesturekit.train.state` -- flatten model/optimiser/scheduler state and RNG states into
  safetensors + JSON (no pickle) and restore them exactly (:func:`save_training_state`,
  :func:`load_training_state`, :func:`capture_rng_state`, :func:`restore_rng_state`).
- :mod:`~gesturekit.train.tracking` -- :class:`BestTracker` (truly best value of a validation
  metric) and :class:`EarlyStopping` (patience, minimum epochs), both with ``state_dict``.
- :mod:`~gesturekit.train.logging` -- :class:`MetricLogger`: TensorBoard scalars/images and a CSV
  of every metric, rank-0 only, truncated consistently on resume.
- :mod:`~gesturekit.train.distributed` -- torchrun environment, DDP wrap, rank-aware helpers,
  :func:`distributed_run` (starts the process group and always tears it down).
- :mod:`~gesturekit.train.data` -- :class:`EpochSampler`: a seeded, resumable, rank-sharded order.
- :mod:`~gesturekit.train.optim` -- optimiser and LR-schedule factories, gradient clipping.
- :mod:`~gesturekit.train.loop` -- :class:`Trainer`: a generic epoch loop built on the above.
"""

from gesturekit.train.data import EpochSampler
from gesturekit.train.distributed import (
    DistInfo,
    cleanup_distributed,
    distributed_run,
    init_distributed,
    is_main_process,
    wrap_ddp,
)
from gesturekit.train.logging import MetricLogger
from gesturekit.train.optim import build_optimizer, build_scheduler, clip_gradients
from gesturekit.train.state import (
    capture_rng_state,
    flatten_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
    unflatten_state,
)
from gesturekit.train.tracking import BestTracker, EarlyStopping

__all__ = [
    "BestTracker",
    "DistInfo",
    "EarlyStopping",
    "EpochSampler",
    "MetricLogger",
    "build_optimizer",
    "build_scheduler",
    "capture_rng_state",
    "cleanup_distributed",
    "clip_gradients",
    "distributed_run",
    "flatten_state",
    "init_distributed",
    "is_main_process",
    "load_training_state",
    "restore_rng_state",
    "save_training_state",
    "unflatten_state",
    "wrap_ddp",
]
