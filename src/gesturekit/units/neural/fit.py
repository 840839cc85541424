"""Training of the neural CNMF (``gesturekit units fit --method ae|vae``).

:func:`fit_neural` trains an :class:`~gesturekit.units.neural.models.AECNMF` or ``VAECNMF`` on
EMA recordings with the shared engine (:mod:`gesturekit.train`): validation every epoch on
held-out utterances, the truly best epoch of the monitored validation metric saved as the run's
model, early stopping, LR schedule, gradient clipping, TensorBoard + CSV logs with figures, exact
resume (``resume=True``) and DDP under torchrun. The run folder holds ``config.yaml``,
``split.json``, ``model.safetensors`` + ``model.json`` (the best model), ``metrics.json``,
``metrics.csv``, ``tensorboard/``, ``figures/*.png`` and ``state/`` (the resumable state).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gesturekit.checkpoint import save_checkpoint
from gesturekit.config import config_to_dict, save_config
from gesturekit.errors import ConfigError, DataError
from gesturekit.features.normalize import Normalizer
from gesturekit.fsutil import atomic_write_json
from gesturekit.records import EMARecording
from gesturekit.runtime import resolve_device, seed_everything, set_threads
from gesturekit.train import EpochSampler, MetricLogger, build_optimizer, build_scheduler
from gesturekit.train.distributed import (
    all_reduce_sum,
    distributed_device,
    init_distributed,
    wrap_ddp,
)
from gesturekit.train.loop import LoopConfig, Trainer
from gesturekit.train.state import unwrap
from gesturekit.units.neural import figures
from gesturekit.units.neural.config import NeuralUnitsConfig
from gesturekit.units.neural.data import (
    UtteranceSet,
    build_set,
    check_recordings,
    crop_offsets,
    epoch_items,
    item_batch,
    make_batch,
    phone_inventory,
)
from gesturekit.units.neural.kmeans import kmeans_gestures
from gesturekit.units.neural.losses import active_per_frame
from gesturekit.units.neural.models import AECNMF, build_net
from gesturekit.units.neural.objective import kl_weight, objective

MONITORS = {"loss": "min", "r": "max", "rmse": "min", "l1": "min", "elbo": "max"}


def split_recordings(
    records: list[EMARecording], val_fraction: float, seed: int
) -> tuple[list[EMARecording], list[EMARecording]]:
    """A seeded held-out split by utterance (at least one on each side)."""
    if len(records) < 2:
        raise DataError(f"need at least 2 recordings for a train/validation split, got {len(records)}")
    n_val = min(len(records) - 1, max(1, round(val_fraction * len(records))))
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(int(seed))).tolist()
    val_idx = set(order[:n_val])
    return [r for i, r in enumerate(records) if i not in val_idx], [
        r for i, r in enumerate(records) if i in val_idx
    ]


def channel_r(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r per column of two ``(time, channels)`` arrays (0 for a constant column)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    den = np.sqrt((xc**2).sum(0) * (yc**2).sum(0))
    return np.where(den > 0, (xc * yc).sum(0) / np.where(den > 0, den, 1), 0.0)


def _init_gestures(net: AECNMF, cfg: NeuralUnitsConfig, train: UtteranceSet, normalizer: Normalizer) -> None:
    kind = cfg.init.kind
    if kind == "random":
        return
    if kind == "kmeans":
        w = kmeans_gestures(
            train.arrays, cfg.net.gestures, cfg.net.width,
            max_windows=cfg.init.max_windows, iters=cfg.init.iters, seed=cfg.seed,
        )  # fmt: skip
    elif kind == "cnmf":
        w = _cnmf_gestures(cfg, normalizer)
    else:
        raise ConfigError(f"unknown gesture initialisation '{kind}'; use kmeans, cnmf or random")
    net.decoder.set_gestures(w * cfg.init.scale)


def _cnmf_gestures(cfg: NeuralUnitsConfig, normalizer: Normalizer) -> torch.Tensor:
    """Gestures of a fitted classic CNMF run, in this run's normalised channel space."""
    from gesturekit.units.neural.api import load_unit_model

    if not cfg.init.cnmf_run:
        raise ConfigError("init.kind is cnmf but init.cnmf_run names no run folder")
    model = load_unit_model(cfg.init.cnmf_run)
    w = np.asarray(model.components_, dtype=np.float32)  # (model channels, gestures, width)
    if w.shape[1:] != (cfg.net.gestures, cfg.net.width):
        raise ConfigError(
            f"{cfg.init.cnmf_run}: CNMF gestures are {w.shape[1:]} (gestures, width) but this run "
            f"asks for {(cfg.net.gestures, cfg.net.width)}"
        )
    if w.shape[0] != normalizer.n_out:
        raise ConfigError(
            f"{cfg.init.cnmf_run}: CNMF works on {w.shape[0]} channels but this run on {normalizer.n_out}"
        )
    return torch.from_numpy(w)


def _batches(data: UtteranceSet, size: int) -> list[list[int]]:
    order = np.argsort(data.lengths)  # similar lengths together: little padding
    return [order[i : i + size].tolist() for i in range(0, len(order), size)]


@torch.no_grad()
def run_utterances(net: AECNMF, data: UtteranceSet, device: torch.device, batch_size: int = 8):
    """Scores and reconstructions (normalised space) of every utterance: lists of ``(time, .)``."""
    net.eval()
    hs: list[np.ndarray] = [None] * len(data)  # type: ignore[list-item]
    xs: list[np.ndarray] = [None] * len(data)  # type: ignore[list-item]
    for idx in _batches(data, batch_size):
        b = make_batch([data.arrays[i] for i in idx]).to(device)
        out = unwrap(net)(b.x, b.mask)
        for j, i in enumerate(idx):
            n = int(b.lengths[j])
            hs[i] = out["h"][j, :, :n].T.cpu().numpy()
            xs[i] = out["x_hat"][j, :, :n].T.cpu().numpy()
    return hs, xs


def reconstruction_metrics(
    originals: list[np.ndarray], recons: list[np.ndarray], channels: list[str]
) -> dict[str, Any]:
    """r (per channel over all frames), RMSE, L1 and explained variance, in the data's units."""
    x = np.concatenate(originals).astype(np.float64)
    y = np.concatenate(recons).astype(np.float64)
    r = channel_r(x, y)
    err = y - x
    return {
        "r": float(r.mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "l1": float(np.abs(err).mean()),
        "explained_variance": float(1 - err.var(0).sum() / max(x.var(0).sum(), 1e-12)),
        "channel_r": {c: float(v) for c, v in zip(channels, r, strict=True)},
    }


def hoyer_stats(hs: list[np.ndarray]) -> dict[str, float]:
    """Mean Hoyer sparseness per frame / per gesture and active gestures per frame over utterances."""
    from gesturekit.units.neural.losses import hoyer_per_frame, hoyer_per_gesture

    sc, st, act, n = 0.0, 0.0, 0.0, 0
    for h in hs:
        t = torch.from_numpy(np.ascontiguousarray(h.T))[None]
        m = torch.ones(1, 1, t.shape[-1])
        sc += float(hoyer_per_frame(t).sum())
        st += float(hoyer_per_gesture(t, m).mean()) * t.shape[-1]
        act += float(active_per_frame(t, m)) * t.shape[-1]
        n += t.shape[-1]
    return {"S_c": sc / n, "S_t": st / n, "active_per_frame": act / n}


def linear_probe(train_h, train_ids, val_h, val_ids, n_classes: int, ridge: float = 1e-2) -> dict[str, float]:
    """Frame-phone accuracy of a ridge-regression linear probe from scores to one-hot phones."""

    def stack(hs, ids):
        hs2 = [h[i >= 0] for h, i in zip(hs, ids, strict=True) if i is not None]
        y = [i[i >= 0] for i in ids if i is not None]
        if not hs2:
            return None, None
        return np.log1p(np.maximum(np.concatenate(hs2), 0)), np.concatenate(y)

    xtr, ytr = stack(train_h, train_ids)
    xva, yva = stack(val_h, val_ids)
    if xtr is None or xva is None or len(ytr) == 0 or len(yva) == 0:
        return {}
    xtr1 = np.hstack([xtr, np.ones((len(xtr), 1))])
    xva1 = np.hstack([xva, np.ones((len(xva), 1))])
    onehot = np.eye(n_classes)[ytr]
    a = xtr1.T @ xtr1 + ridge * len(xtr1) * np.eye(xtr1.shape[1])
    coef = np.linalg.solve(a, xtr1.T @ onehot)
    acc = float((np.argmax(xva1 @ coef, 1) == yva).mean())
    majority = float((yva == np.bincount(ytr, minlength=n_classes).argmax()).mean())
    return {"probe_frame_acc": acc, "probe_majority_acc": majority}


def model_meta(cfg: NeuralUnitsConfig, channels: list[str], rate_hz: float, normalizer: Normalizer,
               phone_set: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "method": cfg.method,
        "channels": list(channels),
        "rate_hz": float(rate_hz),
        "normalizer": normalizer.to_dict(),
        "hparams": {
            "net": config_to_dict(cfg.net),
            "in_channels": normalizer.n_out,
            "phone_set": list(phone_set),
            "config": config_to_dict(cfg),
        },
        **(extra or {}),
    }


def fit_neural(
    cfg: NeuralUnitsConfig,
    train_records: list[EMARecording],
    val_records: list[EMARecording],
    run_dir: str | Path,
    *,
    resume: bool = False,
) -> dict[str, Any]:
    """Train on ``train_records``, validate on ``val_records``; returns the final metrics.

    ``run_dir`` must exist (see :func:`gesturekit.fsutil.prepare_run_dir`); with ``resume`` the
    newest state in ``run_dir/state`` is continued exactly.
    """
    run_dir = Path(run_dir)
    t_start = time.perf_counter()
    if cfg.method not in ("ae", "vae"):
        raise ConfigError(f"neural method must be ae or vae, not {cfg.method!r}")
    if cfg.train.monitor not in MONITORS:
        raise ConfigError(f"train.monitor must be one of {sorted(MONITORS)}, not {cfg.train.monitor!r}")
    if cfg.net.decoder != "signed" and not cfg.data.nonneg and cfg.data.normalize != "minmax":
        raise ConfigError(
            f"net.decoder={cfg.net.decoder} makes non-negative gestures; it needs non-negative data "
            "(data.nonneg: true for the +/- split, or data.normalize: minmax)"
        )
    if not train_records or not val_records:
        raise DataError("need at least one training and one validation recording")
    if cfg.threads:
        set_threads(cfg.threads)
    base_device = resolve_device(cfg.device)
    dist = init_distributed(base_device)
    device = distributed_device(base_device, dist)
    seed_everything(cfg.seed)

    channels = list(train_records[0].channels)
    rate_hz = float(train_records[0].rate_hz)
    train_records = check_recordings(train_records, channels, rate_hz)
    val_records = check_recordings(val_records, channels, rate_hz)
    normalizer = Normalizer(cfg.data.normalize, nonneg_split=cfg.data.nonneg)
    normalizer.fit([r.data for r in train_records], channels=channels)
    phone_set = phone_inventory(train_records) if cfg.loss.phone_head else []
    if cfg.loss.phone_head and not phone_set:
        raise DataError("loss.phone_head is on but the training recordings carry no phone labels")
    train = build_set(train_records, normalizer, phone_set)
    val = build_set(val_records, normalizer, phone_set)
    net = build_net(cfg.method, normalizer.n_out, cfg.net, n_phones=len(phone_set))
    _init_gestures(net, cfg, train, normalizer)
    net.to(device)
    model = wrap_ddp(net, dist, device)

    decoder_params = list(net.decoder.parameters())
    other = [p for n, p in net.named_parameters() if not n.startswith("decoder.")]
    opt = build_optimizer(
        [{"params": other, "weight_decay": cfg.optim.weight_decay}, {"params": decoder_params, "weight_decay": 0.0}],
        cfg.optim.name, lr=cfg.optim.lr,
    )  # fmt: skip
    mode = MONITORS[cfg.train.monitor]
    sched = build_scheduler(
        opt, cfg.optim.schedule, epochs=cfg.train.epochs, warmup_epochs=cfg.optim.warmup_epochs,
        step_size=cfg.optim.step_size, gamma=cfg.optim.gamma, factor=cfg.optim.factor,
        patience=cfg.optim.patience, mode=mode,
    )  # fmt: skip
    seg = cfg.data.segment_len
    n_items = cfg.data.items_per_epoch or len(train)
    items = epoch_items(len(train), n_items)
    sampler = EpochSampler(
        len(items), cfg.train.batch_size, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size
    )
    loop_cfg = LoopConfig(
        epochs=cfg.train.epochs, monitor=cfg.train.monitor, mode=mode, patience=cfg.train.patience,
        min_epochs=cfg.train.min_epochs, grad_clip=cfg.optim.grad_clip,
        checkpoint_every_steps=cfg.train.checkpoint_every_steps, progress=cfg.train.progress,
    )  # fmt: skip
    state_dir = run_dir / "state"
    resume_step = None
    if resume:
        from gesturekit.train.state import latest_training_state

        if latest_training_state(state_dir) is not None:
            resume_step = json.loads((state_dir / "latest.json").read_text())["counters"]["step"]
    logger = MetricLogger(run_dir, enabled=dist.is_main, resume_step=resume_step if resume else None)
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
        out = model(batch.x, batch.mask)
        loss, parts = objective(out, batch, cfg.loss, beta_kl=kl_weight(cfg.loss, epoch))
        if not torch.isfinite(loss):
            raise DataError(f"training diverged: non-finite loss at epoch {epoch} (lower optim.lr?)")
        trainer.backward_step(loss, "opt")
        return {k: float(v) for k, v in parts.items()}

    def validate(epoch: int) -> dict[str, float]:
        sums: dict[str, float] = {}
        frames = 0.0
        for idx in _batches(val, 8):
            b = make_batch([val.arrays[i] for i in idx], [val.phones[i] for i in idx] if val.labelled else None)
            b = b.to(device)
            out = net(b.x, b.mask)
            _, parts = objective(out, b, cfg.loss, beta_kl=cfg.loss.w_kl)
            n = float(b.mask.sum())
            frames += n
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
        totals = torch.tensor([frames] + [sums[k] for k in sorted(sums)], dtype=torch.float64)
        all_reduce_sum(totals, dist)
        metrics = {k: float(totals[i + 1] / totals[0]) for i, k in enumerate(sorted(sums))}
        _, xs = run_utterances(net, val, device)
        rec = reconstruction_metrics([r.data for r in val_records], [normalizer.inverse_transform(x) for x in xs],
                                     channels)  # fmt: skip
        metrics.update(r=rec["r"], rmse=rec["rmse"], l1=rec["l1"])
        return metrics

    def save_model(epoch: int, val_metrics: dict[str, float]) -> None:
        meta = model_meta(cfg, channels, rate_hz, normalizer, phone_set,
                          {"epoch": epoch, "val": {k: float(v) for k, v in val_metrics.items()}})  # fmt: skip
        save_checkpoint(run_dir / "model", dict(net.state_dict()), meta)

    def on_epoch_end(epoch: int, val_metrics: dict[str, float]) -> None:
        every = cfg.train.figures_every
        if every and (epoch + 1) % every == 0:
            _log_figures(net, val, val_records, normalizer, channels, rate_hz, device, logger, trainer.step)

    result = trainer.fit(train_batch, validate, on_best=save_model, on_epoch_end=on_epoch_end, resume=resume)
    metrics: dict[str, Any] = {}
    if dist.is_main:
        metrics = finalize_run(run_dir, cfg, net, train, val, train_records, val_records, normalizer,
                               channels, rate_hz, phone_set, device, logger, trainer.step)  # fmt: skip
        metrics.update(
            best_epoch=result.best_epoch,
            best_value=result.best_value,
            monitor=cfg.train.monitor,
            epochs_run=result.epochs_run,
            stopped_early=result.stopped_early,
            fit_seconds=(metrics.get("fit_seconds") or 0.0) + time.perf_counter() - t_start,
        )
        atomic_write_json(run_dir / "metrics.json", metrics)
    logger.close()
    return metrics


def _log_figures(net, val, val_records, normalizer, channels, rate_hz, device, logger, step) -> None:
    hs, xs = run_utterances(net, val, device)
    i = int(np.argmax(val.lengths))
    logger.log_figure(
        "val/reconstruction",
        figures.reconstruction_figure(
            val_records[i].data, normalizer.inverse_transform(xs[i]), channels, rate_hz, val_records[i].name
        ),
        step=step,
    )
    logger.log_figure("val/scores", figures.scores_figure(hs[i].T, rate_hz), step=step)
    w = unwrap(net).decoder.gestures().detach().cpu().numpy()
    logger.log_figure("gestures", figures.gestures_figure(w, normalizer.output_channels()), step=step)  # fmt: skip


def finalize_run(run_dir, cfg, net, train, val, train_records, val_records, normalizer, channels, rate_hz,
                 phone_set, device, logger, step) -> dict[str, Any]:  # fmt: skip
    """Reload the best model, write its figures and return its validation metrics."""
    from gesturekit.checkpoint import load_checkpoint

    tensors, meta = load_checkpoint(run_dir / "model")
    net.load_state_dict(tensors)
    hs, xs = run_utterances(net, val, device)
    rec = reconstruction_metrics(
        [r.data for r in val_records], [normalizer.inverse_transform(x) for x in xs], channels
    )
    out: dict[str, Any] = {"method": cfg.method, "split": "val", "n_val": len(val), "n_train": len(train),
                           "val_frames": int(val.lengths.sum()), **rec, **hoyer_stats(hs)}  # fmt: skip
    out["val_objective"] = meta.get("val", {})
    if phone_set:
        train_h, _ = run_utterances(net, train, device)
        out.update(linear_probe(train_h, train.phones, hs, val.phones, len(phone_set)))
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    i = int(np.argmax(val.lengths))
    pairs = [
        ("reconstruction", figures.reconstruction_figure(
            val_records[i].data, normalizer.inverse_transform(xs[i]), channels, rate_hz, f"{val_records[i].name} (val)")),
        ("scores", figures.scores_figure(hs[i].T, rate_hz, f"{val_records[i].name} (val)")),
        ("gestures", figures.gestures_figure(net.decoder.gestures().detach().cpu().numpy(), normalizer.output_channels())),
    ]  # fmt: skip
    for name, fig in pairs:
        fig.savefig(fig_dir / f"{name}.png", dpi=80)
        logger.log_figure(f"final/{name}", fig, step=step)
    return out


def resolved_config_dict(cfg: NeuralUnitsConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


__all__ = ["fit_neural", "split_recordings", "reconstruction_metrics", "save_config", "math"]
