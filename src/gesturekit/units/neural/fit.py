"""Training of the neural CNMF (``gesturekit units fit --method ae|vae``).

:func:`fit_neural` is the ``fit`` of the ``ae`` / ``vae`` methods in the unit-method registry
(:mod:`gesturekit.units.methods` makes the run folder, the split, the config file, the final
metrics and figures). It trains an :class:`~gesturekit.units.neural.models.AECNMF` or
``VAECNMF`` with the shared engine (:mod:`gesturekit.train`): validation every epoch on the
held-out files, the truly best epoch of the monitored validation metric saved as the run's model,
early stopping, LR schedule, gradient clipping, TensorBoard + CSV logs (``metrics.csv``,
``tensorboard/``, reconstruction/score/gesture figures as images), the resumable training state
in ``state/`` (exact resume with ``resume=True``), a summary in ``training.json``, and DDP when
launched by torchrun.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gesturekit.config import config_to_dict
from gesturekit.errors import ConfigError, DataError
from gesturekit.features.normalize import Normalizer
from gesturekit.fsutil import atomic_write_json
from gesturekit.records import EMARecording
from gesturekit.runtime import log, resolve_device, seed_everything, set_threads
from gesturekit.train import EpochSampler, MetricLogger, build_optimizer, build_scheduler
from gesturekit.train.distributed import (
    DistInfo,
    all_reduce_sum,
    distributed_device,
    distributed_run,
    init_distributed,
    wrap_ddp,
)
from gesturekit.train.loop import LoopConfig, Trainer
from gesturekit.train.state import resume_point
from gesturekit.units.methods import fit_normalizer
from gesturekit.units.metrics import channel_r
from gesturekit.units.neural.api import NeuralUnitModel
from gesturekit.units.neural.config import NeuralUnitsConfig
from gesturekit.units.neural.data import (
    UtteranceSet,
    build_set,
    crop_offsets,
    epoch_items,
    item_batch,
    make_batch,
    phone_inventory,
)
from gesturekit.units.neural.kmeans import kmeans_gestures
from gesturekit.units.neural.models import AECNMF, build_net
from gesturekit.units.neural.objective import kl_weight, objective, training_objective

MONITORS = {"loss": "min", "r": "max", "rmse": "min", "l1": "min", "elbo": "max"}
# options that may differ between an interrupted run and its resumption
RESUMABLE_CHANGES = {"epochs", "threads", "figures", "device", "precision"}  # units always compute in fp32


def _check_config(cfg: NeuralUnitsConfig, normalizer: Normalizer) -> None:
    if cfg.method not in ("ae", "vae"):
        raise ConfigError(f"neural method must be ae or vae, not {cfg.method!r}")
    if cfg.train.monitor not in MONITORS:
        raise ConfigError(f"train.monitor must be one of {sorted(MONITORS)}, not {cfg.train.monitor!r}")
    if cfg.train.monitor == "elbo" and cfg.method != "vae":
        raise ConfigError("train.monitor elbo needs --method vae")
    if cfg.net.decoder not in ("signed", "softplus", "exp"):
        raise ConfigError(f"net.decoder must be signed, softplus or exp, not {cfg.net.decoder!r}")
    if cfg.net.decoder != "signed" and not (normalizer.nonneg_split or normalizer.method == "minmax"):
        raise ConfigError(
            f"net.decoder={cfg.net.decoder} makes non-negative gestures, which need non-negative data: "
            "add --nonneg-split true (the +/- split) or --normalize minmax"
        )
    if cfg.gestures < 1 or cfg.width < 1:
        raise ConfigError("gestures and width must be at least 1")


def _init_gestures(net: AECNMF, cfg: NeuralUnitsConfig, train: UtteranceSet, normalizer: Normalizer) -> None:
    kind = cfg.init.kind
    if kind == "random":
        return
    if kind == "kmeans":
        w = kmeans_gestures(
            train.arrays,
            cfg.gestures,
            cfg.width,
            max_windows=cfg.init.max_windows,
            iters=cfg.init.iters,
            seed=cfg.seed,
        )
    elif kind == "cnmf":
        w = _cnmf_gestures(cfg, normalizer)
    else:
        raise ConfigError(f"unknown init.kind '{kind}'; use kmeans, cnmf or random")
    if cfg.net.decoder != "signed" and (w < 0).any():
        w = w.clamp_min(0)  # non-negative data has non-negative centres up to round-off
    net.decoder.set_gestures(w * cfg.init.scale)


def _cnmf_gestures(cfg: NeuralUnitsConfig, normalizer: Normalizer) -> torch.Tensor:
    """Gestures of a fitted classic CNMF run (same gestures, width and normalised channels)."""
    from gesturekit.units.model import UnitModel

    if not cfg.init.cnmf_run:
        raise ConfigError("init.kind is cnmf but init.cnmf_run names no run folder")
    model = UnitModel.load(cfg.init.cnmf_run)
    w = np.asarray(model.gestures, dtype=np.float32)
    if w.shape[1:] != (cfg.gestures, cfg.width):
        raise ConfigError(
            f"{cfg.init.cnmf_run}: its gestures are {w.shape[1:]} (gestures, width); this run asks for "
            f"{(cfg.gestures, cfg.width)}"
        )
    if model.normalizer.output_channels() != normalizer.output_channels():
        raise ConfigError(
            f"{cfg.init.cnmf_run}: works on channels {model.normalizer.output_channels()}, this run on "
            f"{normalizer.output_channels()} (use the same --normalize / --nonneg-split)"
        )
    scale = np.asarray(model.normalizer.scale) / np.asarray(normalizer.scale)  # to this run's units
    if normalizer.nonneg_split:
        scale = np.repeat(scale, 2)
    return torch.from_numpy(w * scale[:, None, None].astype(np.float32))


def _batches(data: UtteranceSet, size: int) -> list[list[int]]:
    order = np.argsort(data.lengths, kind="stable")  # similar lengths together: little padding
    return [order[i : i + size].tolist() for i in range(0, len(order), size)]


@torch.no_grad()
def run_utterances(net: AECNMF, data: UtteranceSet, device: torch.device, batch_size: int = 8):
    """Scores ``(time, gestures)`` and reconstructions ``(time, channels)`` (normalised) per utterance."""
    net.eval()
    hs: list[Any] = [None] * len(data)
    xs: list[Any] = [None] * len(data)
    for idx in _batches(data, batch_size):
        b = make_batch([data.arrays[i] for i in idx]).to(device)
        out = net(b.x, b.mask)
        for j, i in enumerate(idx):
            n = int(b.lengths[j])
            hs[i] = out["h"][j, :, :n].T.cpu().numpy()
            xs[i] = out["x_hat"][j, :, :n].T.cpu().numpy()
    return hs, xs


def linear_probe(train_h, train_ids, val_h, val_ids, n_classes: int, ridge: float = 1e-2) -> dict[str, float]:
    """Frame-phone accuracy of a ridge-regression linear probe from ``log1p(scores)`` to phones.

    ``*_h`` are lists of ``(time, gestures)``, ``*_ids`` lists of per-frame phone ids (``-1``:
    no label, left out). Also returns the majority-class accuracy for reference.
    """

    def stack(hs, ids):
        pairs = [(h[i >= 0], i[i >= 0]) for h, i in zip(hs, ids, strict=True) if i is not None]
        if not pairs:
            return None, None
        return np.log1p(np.maximum(np.concatenate([p[0] for p in pairs]), 0)), np.concatenate(
            [p[1] for p in pairs]
        )

    xtr, ytr = stack(train_h, train_ids)
    xva, yva = stack(val_h, val_ids)
    if xtr is None or xva is None or len(ytr) == 0 or len(yva) == 0:
        return {}
    xtr1 = np.hstack([xtr, np.ones((len(xtr), 1))])
    xva1 = np.hstack([xva, np.ones((len(xva), 1))])
    a = xtr1.T @ xtr1 + ridge * len(xtr1) * np.eye(xtr1.shape[1])
    coef = np.linalg.solve(a, xtr1.T @ np.eye(n_classes)[ytr])
    acc = float((np.argmax(xva1 @ coef, 1) == yva).mean())
    majority = float((yva == np.bincount(ytr, minlength=n_classes).argmax()).mean())
    return {"probe_frame_acc": acc, "probe_majority_acc": majority}


def _hparams(cfg: NeuralUnitsConfig, normalizer: Normalizer, phone_set: list[str]) -> dict[str, Any]:
    return {
        "net": config_to_dict(cfg.net_config()),
        "in_channels": normalizer.n_out,
        "phone_set": list(phone_set),
        "centred": True,
        "config": config_to_dict(cfg),
    }


def fit_neural(
    train_records: list[EMARecording],
    val_records: list[EMARecording],
    cfg: NeuralUnitsConfig,
    run_dir: str | Path | None,
    resume: bool = False,
) -> NeuralUnitModel:
    """Train on ``train_records``, validate every epoch on ``val_records``; the best model.

    ``run_dir`` must exist (the method registry's ``fit_run`` creates it); with ``resume`` the
    newest state in ``run_dir/state`` is continued exactly. Under torchrun the process group
    lives for this call only (:func:`~gesturekit.train.distributed.distributed_run`).
    """
    # the DDP wrapper lives in _fit_neural's frame, gone before the group is torn down
    with distributed_run(resolve_device(cfg.device)):
        return _fit_neural(train_records, val_records, cfg, run_dir, resume)


def _fit_neural(
    train_records: list[EMARecording],
    val_records: list[EMARecording],
    cfg: NeuralUnitsConfig,
    run_dir: str | Path | None,
    resume: bool,
) -> NeuralUnitModel:
    if run_dir is None:
        raise ConfigError("neural methods need a run folder for their checkpoints")
    run_dir = Path(run_dir)
    t_start = time.perf_counter()
    if not train_records:
        raise DataError("no training recordings")
    if not val_records:
        raise ConfigError("neural methods validate every epoch: hold out files with --val-fraction (e.g. 0.25)")
    normalizer = fit_normalizer(cfg, train_records)
    _check_config(cfg, normalizer)
    set_threads(cfg.threads)
    base_device = resolve_device(cfg.device)
    dist = init_distributed(base_device)
    device = distributed_device(base_device, dist)
    seed_everything(cfg.seed)

    channels = list(train_records[0].channels)
    rate_hz = float(train_records[0].rate_hz)
    phone_set = phone_inventory(train_records) if cfg.net.phone_head else []
    if cfg.net.phone_head and not phone_set:
        raise DataError("net.phone_head is on but the training recordings carry no phone labels")
    train = build_set(train_records, normalizer, phone_set)
    val = build_set(val_records, normalizer, phone_set)
    net = build_net(cfg.method, normalizer.n_out, cfg.net_config(), n_phones=len(phone_set))
    _init_gestures(net, cfg, train, normalizer)
    net.to(device)
    model = wrap_ddp(net, dist, device)
    hparams = _hparams(cfg, normalizer, phone_set)

    other = [p for n, p in net.named_parameters() if not n.startswith("decoder.")]
    opt = build_optimizer(
        [{"params": other, "weight_decay": cfg.optim.weight_decay},
         {"params": list(net.decoder.parameters()), "weight_decay": 0.0}],
        cfg.optim.name, lr=cfg.optim.lr,
    )  # fmt: skip
    mode = MONITORS[cfg.train.monitor]
    sched = build_scheduler(
        opt, cfg.optim.schedule, epochs=cfg.epochs, warmup_epochs=cfg.optim.warmup_epochs,
        step_size=cfg.optim.step_size, gamma=cfg.optim.gamma, factor=cfg.optim.factor,
        patience=cfg.optim.patience, mode=mode,
    )  # fmt: skip
    seg = cfg.data.segment_len
    items = epoch_items(len(train), cfg.data.items_per_epoch or len(train))
    sampler = EpochSampler(
        len(items), cfg.train.batch_size, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size
    )
    loop_cfg = LoopConfig(
        epochs=cfg.epochs, monitor=cfg.train.monitor, mode=mode, patience=cfg.train.patience,
        min_epochs=cfg.train.min_epochs, grad_clip=cfg.optim.grad_clip,
        checkpoint_every_steps=cfg.train.checkpoint_every_steps, progress=cfg.train.progress,
    )  # fmt: skip
    state_dir = run_dir / "state"
    resume_step = resume_point(
        state_dir, config_to_dict(cfg), RESUMABLE_CHANGES, resume=resume, is_main=dist.is_main
    )
    logger = MetricLogger(run_dir, enabled=dist.is_main, resume_step=resume_step)
    trainer = Trainer(
        state_dir, modules={"net": net}, optimizers={"opt": opt}, schedulers={"sched": sched},
        sampler=sampler, config=loop_cfg, logger=logger, dist=dist,
    )  # fmt: skip
    cache: dict[int, np.ndarray] = {}

    def offsets_for(epoch: int) -> np.ndarray:
        if epoch not in cache:
            cache.clear()
            cache[epoch] = crop_offsets(train.lengths[items], seg, cfg.seed, epoch)
        return cache[epoch]

    def train_batch(indices: list[int], epoch: int) -> dict[str, float]:
        batch = item_batch(train, items, indices, offsets_for(epoch), seg).to(device)
        loss, parts = training_objective(model, net, batch, cfg.loss, beta_kl=kl_weight(cfg.loss, epoch))
        if not torch.isfinite(loss):
            raise DataError(f"training diverged: non-finite loss at epoch {epoch} (try a lower optim.lr)")
        trainer.backward_step(loss, "opt")
        return {k: float(v) for k, v in parts.items()}

    def validate(epoch: int) -> dict[str, float]:
        sums: dict[str, float] = {}
        frames = 0.0
        for idx in _batches(val, 8):
            b = make_batch([val.arrays[i] for i in idx], [val.phones[i] for i in idx] if val.labelled else None)
            b = b.to(device)
            _, parts = objective(net(b.x, b.mask), b, cfg.loss, beta_kl=cfg.loss.w_kl)
            n = float(b.mask.sum())
            frames += n
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
        keys = sorted(sums)
        totals = torch.tensor([frames] + [sums[k] for k in keys], dtype=torch.float64)
        all_reduce_sum(totals, dist)
        metrics = {k: float(totals[i + 1] / totals[0]) for i, k in enumerate(keys)}
        _, xs = run_utterances(net, val, device)
        x = np.concatenate([r.data for r in val_records]).astype(np.float64)
        y = np.concatenate([normalizer.inverse_transform(v) for v in xs]).astype(np.float64)
        metrics.update(r=float(np.mean(channel_r(x, y))), rmse=float(np.sqrt(np.mean((y - x) ** 2))),
                       l1=float(np.mean(np.abs(y - x))))  # fmt: skip
        return metrics

    def current_model() -> NeuralUnitModel:
        import copy

        return NeuralUnitModel(copy.deepcopy(net).cpu(), normalizer, channels, rate_hz, hparams)

    def save_best(epoch: int, val_metrics: dict[str, float]) -> None:
        current_model().save(run_dir)

    def on_epoch_end(epoch: int, val_metrics: dict[str, float]) -> None:
        every = cfg.train.figures_every
        if cfg.figures and every and (epoch + 1) % every == 0:
            log_figures(current_model(), val_records[:1], run_dir / "figures", logger, trainer.step)

    result = trainer.fit(train_batch, validate, on_best=save_best, on_epoch_end=on_epoch_end, resume=resume)
    logger.close()
    if not dist.is_main:
        return current_model()
    best = NeuralUnitModel.load(run_dir)
    summary: dict[str, Any] = {
        "method": cfg.method,
        "monitor": cfg.train.monitor,
        "best_value": result.best_value,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "seconds_this_process": time.perf_counter() - t_start,
        "best_val": next((h for h in result.history if int(h["epoch"]) == result.best_epoch), {}),
    }
    if phone_set:
        train_h, _ = run_utterances(best.net, train, torch.device("cpu"))
        val_h, _ = run_utterances(best.net, val, torch.device("cpu"))
        summary.update(linear_probe(train_h, train.phones, val_h, val.phones, len(phone_set)))
    atomic_write_json(run_dir / "training.json", summary)
    log.info(
        "best epoch %d of %d: val %s %.4g", result.best_epoch + 1, result.epochs_run, cfg.train.monitor,
        result.best_value if result.best_value is not None else float("nan"),
    )  # fmt: skip
    return best  # type: ignore[return-value]


def log_figures(model: NeuralUnitModel, recs: list[EMARecording], out_dir: Path, logger: MetricLogger,
                step: int) -> None:  # fmt: skip
    """Draw the standard run figures and log each PNG to TensorBoard as an image."""
    import matplotlib.image as mpimg

    from gesturekit.units.plots import run_figures

    for path in run_figures(model, recs, out_dir):
        img = mpimg.imread(path)
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        logger.log_image(f"figures/{path.stem}", img, step=step)


__all__ = ["DistInfo", "fit_neural", "linear_probe", "run_utterances"]
