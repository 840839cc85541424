"""Training co-speech generators on the shared engine: config, data preparation, G/D steps, evaluation.

``fit(cfg, data, speaker, out)`` trains the model named in ``cfg.model`` on ``data`` (a packed
store, or a PATS / BEAT2 / feature-clip folder that the store cache packs once) and writes the run
folder ``out`` in the layout every gesturekit training run has (:mod:`gesturekit.train`):

- ``config.yaml`` (the resolved config), ``model.safetensors`` + ``model.json`` (the best
  generator with everything needed to use it: normalisers, pose format, clusters, window, and
  ``text_features``, the kind of text features it was trained on),
- ``state/`` (``state-<step>.safetensors`` + ``.json``, ``latest.json``, ``config.json``): the
  full training state (G, D, optimisers, schedulers, RNGs, the cc_nce memory and its RNG, the
  adversarial-weight counter), saved every epoch and every ``checkpoint_every_steps`` batches;
  ``--resume`` continues bit for bit,
- ``metrics.csv`` (``epoch, step, split, name, value``) and ``tensorboard/``, ``training.json``
  (best epoch, what the data was: store, format, split rule, text features).

Data never sits in memory as a corpus: batches are gathered by window index from the store's
memory maps (:mod:`gesturekit.cospeech.data.store_inputs`); the z-score statistics are summed one interval
at a time, the k-means clusters fitted on a seeded sample of ``cluster_windows`` training windows,
and the dev set is evaluated ``eval_batch`` windows at a time, keeping only the sums the metrics
need. Under ``torchrun`` each rank trains on its share of every epoch's windows
(:class:`~gesturekit.train.EpochSampler`) and evaluates its share of the dev windows; the sums
are added over ranks. ``precision`` (``fp32`` | ``bf16``, :mod:`gesturekit.precision`) sets the
numerics of the training steps and the dev evaluation: ``bf16`` is bfloat16 autocast with float32
weights, optimiser state and losses, on CUDA and on CPUs with bfloat16 instructions (elsewhere
fp32, with one log line); config files with the older ``amp`` key load as ``precision: fp32``.
Run folders written before this layout (``state.safetensors``, ``history.csv``, ``tb/``) still
load for sampling and generation; ``--resume`` refuses them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gesturekit.config import config_to_dict, save_config
from gesturekit.cospeech.data.store_inputs import (
    StoreInputs,
    describe,
    feature_moments,
    iter_chunks,
    open_store,
    sample_windows,
)
from gesturekit.cospeech.data.types import PoseFormat
from gesturekit.cospeech.evaluation import pose_metrics
from gesturekit.cospeech.evaluation.cluster_metrics import confusion, scores_from_confusion
from gesturekit.cospeech.models import (
    VelocityDiscriminator,
    build_model,
    canonical_name,
    config_from_options,
    is_trainable,
)
from gesturekit.cospeech.models.bundle import save_model
from gesturekit.cospeech.models.config import ModelOptions
from gesturekit.cospeech.training.clusters import PoseClusters
from gesturekit.cospeech.training.losses import LambdaSchedule, adversarial, loss_by_name
from gesturekit.errors import ConfigError, DataError
from gesturekit.features.normalize import Normalizer
from gesturekit.fsutil import atomic_write_json
from gesturekit.precision import DEFAULT_PRECISION, autocast, check_precision, resolve_precision
from gesturekit.runtime import resolve_device, seed_everything
from gesturekit.store import WindowDataset
from gesturekit.train import EpochSampler, MetricLogger, build_optimizer, build_scheduler
from gesturekit.train.data import epoch_generator
from gesturekit.train.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    distributed_device,
    distributed_run,
    wrap_ddp,
)
from gesturekit.train.loop import LoopConfig, Trainer
from gesturekit.train.state import resume_point

log = logging.getLogger("gesturekit")

#: epochs of the default schedule (``epochs: 0``) on a corpus large enough for min_steps batches
AUTO_EPOCHS = 20
#: options that may differ between an interrupted run and its resumption
RESUMABLE_CHANGES = {"epochs", "min_steps", "cache", "checkpoint_every_steps", "eval_batch"}
#: files of the run-folder layout before the shared engine (still loaded for sampling)
OLD_LAYOUT = ("state.json", "history.csv")


def energy_term(crit: nn.Module, out: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """``crit`` between the generated and the real ``(B, T, P)`` windows' spread over time (the
    standard deviation of every coordinate along T): how much it moves, not where."""
    return crit(out.std(dim=1), pose.std(dim=1))


@dataclass
class FitConfig:
    """Training options; the reference's ``train.py`` flag each mirrors is named in the README."""

    model: str = "ccnce"
    seed: int = 11212
    window: int = 64
    hop: int = 5
    batch_size: int = 32
    epochs: int = 0  # 0: 20 epochs, or more on a small corpus until min_steps batches are trained
    num_iters: int = 0  # iterations per epoch; 0 = one pass over the training windows
    min_steps: int = 1000  # with epochs 0: at least this many batches (a 60 s take has 5 per epoch)
    min_epochs: int = 10
    patience: int = 3
    early_stopping: bool = True
    dev_key: str = "L1"
    num_clusters: int = 8
    cluster_feats: list[str] = field(default_factory=lambda: ["pose", "velocity", "speed"])
    gan: bool = True
    d_schedule: str = "alternate"  # alternate: G step then D step on its output; random: the reference
    dg_iter_ratio: float = 1.0
    loss: str = "L1Loss"
    adv_loss: str = ""  # empty: same as loss (the reference)
    lambda_gan: float = 1.0
    lambda_d: float = 1.0
    lambda_step: float = 0.1
    lambda_max: float = 2.0
    lambda_interval: int = 300
    lambda_contrastive: float = 1.0
    lambda_cluster: float = 1.0
    lambda_vel: float = 1.0  # L1 between generated and real frame-to-frame velocities (normalised space)
    lambda_acc: float = 1.0  # the same on accelerations: penalises jitter the pose loss does not see
    # L1 between the generated and the real window's spread over time (per coordinate): the pose loss
    # alone predicts a conditional median, which moves less than the speaker does
    lambda_energy: float = 0.0
    optim: str = "AdamW"
    lr: float = 3e-4  # the default schedule is short (issue 16: 3e-4 beat 1e-4 on held-out BEAT2)
    weight_decay: float = 0.01
    gamma: float = 0.99
    grad_clip: float = 1.0
    precision: str = DEFAULT_PRECISION  # fp32 | bf16 (gesturekit.precision); replaces amp
    holdout: float = 0.2  # BEAT2 without train_test_split.csv: the test fraction of each take's time split
    fps: float = 15.0
    cache: str = ""  # store cache folder for raw data folders (empty: the user's cache directory)
    checkpoint_every_steps: int = 0  # also save the training state every N batches (0: each epoch)
    cluster_windows: int = 1024  # k-means pose clusters: fitted on a seeded sample of this many windows
    baseline_windows: int = 4096  # mean-pose / nearest-neighbour baselines: fitted on this many windows
    eval_batch: int = 64  # dev windows per forward pass (the dev set is evaluated chunk by chunk)
    model_options: ModelOptions = field(default_factory=ModelOptions)

    @staticmethod
    def upgrade_config(values: dict[str, Any], where: str) -> dict[str, Any]:
        """A config mapping of an older gesturekit made current: ``amp`` (bf16 autocast on CUDA
        only, float32 on the CPU) becomes ``precision: fp32`` unless ``precision`` is also set."""
        if "amp" not in values:
            return values
        values = dict(values)
        amp = values.pop("amp")
        if "precision" not in values:
            values["precision"] = "fp32"
            if amp:
                log.info("%s: config key 'amp' read as precision: fp32 (precision: bf16 for bfloat16)", where)
        return values


# ----------------------------------------------------------------------------- data


@dataclass
class Prepared:
    """The run's data: windows of the train and dev splits (memory-mapped), normalisers, clusters."""

    inputs: StoreInputs
    train: WindowDataset
    dev: WindowDataset | None  # None: the data has no dev split (no best epoch, no early stopping)
    window: int
    pose_norm: Normalizer
    audio_norm: Normalizer
    clusters: PoseClusters | None
    mean_pose: np.ndarray  # (P,) in data units

    @property
    def pose_format(self) -> PoseFormat:
        return self.inputs.pose_format

    @property
    def fps(self) -> float:
        return self.inputs.fps

    @property
    def text_features(self) -> str:
        return self.inputs.text_features


def prepare(inputs: StoreInputs, cfg: FitConfig) -> Prepared:
    """Windows, z-score normalisers (summed interval by interval) and k-means clusters (fitted on a
    seeded sample of training windows) of the store behind ``inputs``."""
    store = inputs.store
    if "train" not in store.splits:
        raise DataError("no training clips", path=store.path)
    has_dev = "dev" in store.splits
    inputs.check_token_ids(["train", "dev"] if has_dev else ["train"])
    train = inputs.dataset("train", cfg.window, cfg.hop)
    if len(train) == 0:
        raise DataError(
            f"no training clip is long enough for one window of {cfg.window} frames", path=store.path
        )
    dev = inputs.dataset("dev", cfg.window, 0) if has_dev else None
    if dev is not None and len(dev) == 0:
        log.warning("no dev clip is long enough for one window of %d frames", cfg.window)
        dev = None
    moments = feature_moments(
        inputs, inputs.dataset("train", cfg.window, cfg.hop, [inputs.pose_key, inputs.audio_key])
    )
    pose_norm = Normalizer.zscore_from_sums(*moments["pose"])
    audio_norm = Normalizer.zscore_from_sums(*moments["audio"])
    clusters = None
    if cfg.num_clusters > 0:
        ids = sample_windows(train, cfg.cluster_windows, cfg.seed)
        pose_only = inputs.dataset("train", cfg.window, cfg.hop, [inputs.pose_key])  # the same windows
        poses = [b[inputs.pose_key].numpy() for _, b in iter_chunks(pose_only, ids, 256)]
        clusters = PoseClusters(cfg.num_clusters, tuple(cfg.cluster_feats), cfg.seed)
        clusters.fit(np.concatenate(poses), inputs.pose_format.joint_of())
    mean_pose = np.asarray(pose_norm.shift, np.float64)
    return Prepared(inputs, train, dev, cfg.window, pose_norm, audio_norm, clusters, mean_pose)


def model_arrays(
    prep: Prepared, batch: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """A gathered batch -> normalised ``(audio, text, pose)``, the pose in data units and the
    k-means labels ``(B, T)`` of that pose (None without clusters)."""
    audio, text, raw = prep.inputs.arrays(batch)
    b, t = raw.shape[:2]
    labels = prep.clusters.predict(raw) if prep.clusters is not None else None
    pose = prep.pose_norm.transform(raw.reshape(b * t, -1)).reshape(b, t, -1)
    audio = prep.audio_norm.transform(audio.reshape(b * t, -1)).reshape(b, t, -1)
    return audio, text, pose, raw, labels


def model_config(cfg: FitConfig, pose_dim: int, audio_dim: int, text_dim: int, iters_per_epoch: int) -> Any:
    """The model's config (:mod:`gesturekit.cospeech.models.config`; saved in the model bundle): the
    model options with what the data and the run decide, the curriculum in iterations."""
    iters = max(1, int(cfg.model_options.curriculum_epochs * iters_per_epoch))
    return config_from_options(
        cfg.model, cfg.model_options, pose_dim=pose_dim, text_dim=text_dim, audio_dim=audio_dim,
        num_clusters=max(cfg.num_clusters, 1), window=cfg.window, seed=cfg.seed, curriculum_iters=iters,
    )  # fmt: skip


def gan_modules(cfg: FitConfig, G: nn.Module, pose_dim: int, device: torch.device) -> tuple[dict, dict, dict]:
    """``(modules, optimizers, schedulers)``, each ``{"G": ..., "D": ...}`` (no D without ``gan``)."""
    modules: dict[str, nn.Module] = {"G": G}
    optimizers = {"G": _optimizer(cfg, [p for p in G.parameters() if p.requires_grad])}
    if cfg.gan:
        modules["D"] = VelocityDiscriminator(pose_dim).to(device)
        optimizers["D"] = _optimizer(cfg, list(modules["D"].parameters()))
    schedulers = {k: build_scheduler(o, "exponential", gamma=cfg.gamma) for k, o in optimizers.items()}
    return modules, optimizers, schedulers


# ----------------------------------------------------------------------------- evaluation

#: Dev metrics and whether lower is better (``dev_key`` picks one for the best checkpoint).
LOWER_IS_BETTER = {"L1": True, "VelL1": True, "pck": False, "spatialNorm": True, "cluster_acc": False,
                   "cluster_f1": False, "L1_units": True}  # fmt: skip


class DevMetrics:
    """Dev metrics summed chunk by chunk (and over ranks): only the sums each metric needs are kept.

    ``L1``/``VelL1`` in the normalised space the model is trained in (as the reference); PCK and
    spatialNorm on joints in data units (spatialNorm's denominator over the same frames: the
    reference's is never reset); cluster accuracy and F1 of the classifier's argmax against the
    k-means label of the ground truth, from a confusion matrix.
    """

    NAMES = ("l1", "n", "vel", "n_vel", "l1_units", "pck", "n_frames", "sn_diff", "sn_ref", "sn_n")

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.k = prep.clusters.k if prep.clusters is not None else 0
        self.sums = np.zeros(len(self.NAMES) + self.k * self.k, np.float64)
        fmt = prep.pose_format
        self.pats = fmt.kind == "pats"
        self.mean_joints = fmt.to_joints(prep.mean_pose[None])[0]
        self.has_labels = False

    def add(
        self, pred: np.ndarray, true: np.ndarray, pred_labels: np.ndarray | None, labels: np.ndarray | None
    ) -> None:
        """One chunk: ``(N, T, P)`` generated and real windows (normalised), labels ``(N, T)``."""
        n, t, p = pred.shape
        fmt = self.prep.pose_format
        s = dict(zip(self.NAMES, self.sums, strict=False))
        s["l1"] += float(np.abs(pred - true).astype(np.float64).sum())
        s["n"] += pred.size
        if t > 1:
            s["vel"] += pose_metrics.vel_l1(pred, true, np.arange(p), None) * n * (t - 1) * p
            s["n_vel"] += n * (t - 1) * p
        pu = self.prep.pose_norm.inverse_transform(pred.reshape(n * t, p))
        tu = self.prep.pose_norm.inverse_transform(true.reshape(n * t, p))
        s["l1_units"] += float(np.abs(pu - tu).astype(np.float64).sum())
        pj, tj = fmt.to_joints(pu), fmt.to_joints(tu)
        no_roots = np.zeros(0, dtype=int)  # PATS joints are already relative to the neck
        joints = np.array([j for j in fmt.model_joints if j != 0]) if self.pats else np.arange(pj.shape[1])
        if self.pats:
            s["pck"] += pose_metrics.pck([pj], [tj], joints, no_roots)["pck"] * n * t
        s["n_frames"] += n * t
        sn = pose_metrics.spatial_norm_sums([pj], [tj], joints, no_roots, [self.mean_joints])
        s["sn_diff"], s["sn_ref"], s["sn_n"] = s["sn_diff"] + sn[0], s["sn_ref"] + sn[1], s["sn_n"] + sn[2]
        self.sums[: len(self.NAMES)] = [s[k] for k in self.NAMES]
        if pred_labels is not None and labels is not None and self.k:
            self.has_labels = True
            self.sums[len(self.NAMES) :] += confusion(pred_labels, labels, self.k).ravel()

    def result(self, dist: DistInfo) -> dict[str, float]:
        totals = torch.from_numpy(np.append(self.sums, float(self.has_labels)))
        all_reduce_sum(totals, dist)
        v = totals.numpy()
        s = dict(zip(self.NAMES, v, strict=False))
        out = {"L1": s["l1"] / s["n"], "VelL1": s["vel"] / s["n_vel"] if s["n_vel"] else float("nan"),
               "L1_units": s["l1_units"] / s["n"]}  # fmt: skip
        if self.pats:
            out["pck"] = s["pck"] / s["n_frames"]
        out["spatialNorm"] = pose_metrics.spatial_norm_from_sums(
            np.array([s["sn_diff"], s["sn_ref"], s["sn_n"]])
        )
        if v[-1] > 0 and self.k:
            scores = scores_from_confusion(v[len(self.NAMES) : -1].reshape(self.k, self.k).astype(np.int64))
            out["cluster_acc"], out["cluster_f1"] = scores["cluster_accuracy"], scores["cluster_f1"]
        return {k: float(x) for k, x in out.items()}


@torch.no_grad()
def predict(
    model: nn.Module, audio: np.ndarray, text: np.ndarray, device: torch.device, precision: str = "fp32"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Generated poses ``(N, T, P)`` (normalised space) and cluster logits' argmax ``(N, T)`` or None;
    ``precision``: a resolved one (:func:`~gesturekit.precision.resolve_precision`)."""
    model.eval()
    with autocast(precision, device):
        out, _, extra = model(torch.as_tensor(audio, device=device), torch.as_tensor(text, device=device))
    lab = extra["logits"].argmax(-1).cpu().numpy() if "logits" in extra else None
    return out.float().cpu().numpy(), lab


def evaluate(model: nn.Module, prep: Prepared, device: torch.device, dist: DistInfo | None = None,
             batch: int = 64, precision: str = "fp32") -> dict[str, float]:  # fmt: skip
    """Dev metrics over every dev window, ``batch`` windows at a time; under DDP each rank takes
    every ``world``-th chunk and the sums are added over ranks."""
    dist = dist or DistInfo()
    if prep.dev is None:
        return {}
    acc = DevMetrics(prep)
    ids = np.arange(len(prep.dev))
    chunks = [ids[i : i + batch] for i in range(0, len(ids), batch)][dist.rank :: dist.world_size]
    for part in chunks:
        audio, text, pose, _, labels = model_arrays(prep, prep.dev.get_batch(part))
        prep.inputs.store.release_pages()
        pred, lab = predict(model, audio, text, device, precision)
        acc.add(pred, pose, lab, labels)
    return acc.result(dist)


# ----------------------------------------------------------------------------- training


def is_old_layout(run: Path) -> bool:
    """A run folder written by the loop before the shared engine (``state.json``, ``history.csv``)."""
    return any((run / f).exists() for f in OLD_LAYOUT) and not (run / "state" / "latest.json").exists()


def _optimizer(cfg: FitConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    wd = cfg.weight_decay if cfg.optim.lower() == "adamw" else 0.0
    return build_optimizer(params, cfg.optim, lr=cfg.lr, weight_decay=wd, momentum=0.0)


class GANSteps:
    """The generator and discriminator steps of one batch (the engine runs the loop around them)."""

    def __init__(self, cfg: FitConfig, G: nn.Module, D: nn.Module | None, Gm: nn.Module, Dm: nn.Module | None,
                 trainer: Trainer, lam: LambdaSchedule, precision: str = "fp32") -> None:  # fmt: skip
        self.cfg, self.G, self.D, self.Gm, self.Dm, self.trainer, self.lam = cfg, G, D, Gm, Dm, trainer, lam
        self.crit = loss_by_name(cfg.loss)
        self.adv_crit = loss_by_name(cfg.adv_loss or cfg.loss)
        self.precision = precision  # resolved (gesturekit.precision.resolve_precision)
        self._draws: tuple[int, torch.Tensor] | None = None

    def _autocast(self, x: torch.Tensor):  # noqa: ANN202
        return autocast(self.precision, x.device)

    def d_first(self, epoch: int, batch: int) -> bool:
        """``d_schedule: random``: whether batch ``batch`` of ``epoch`` is a D step (a function of
        (seed, epoch) alone, so a resumed epoch draws the same)."""
        if self._draws is None or self._draws[0] != epoch:
            n = self.trainer.sampler.num_batches(epoch)
            self._draws = (epoch, torch.rand(n, generator=epoch_generator(self.cfg.seed, epoch, "d_step")))
        p_d = self.cfg.dg_iter_ratio / (self.cfg.dg_iter_ratio + 1.0)
        return bool(self._draws[1][batch] < p_d)

    def g_step(self, audio, text, pose, labels, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:  # noqa: ANN001
        cfg = self.cfg
        self.G.train()
        with self._autocast(pose):  # losses in float32: the .float() casts below
            out, internal, _ = self.Gm(audio, text, pose, labels, epoch)
            rec = self.crit(out.float(), pose)
            total = rec
            logs = {"pose": float(rec.detach())}
            if cfg.lambda_vel > 0 or cfg.lambda_acc > 0:
                pred, true = out.float(), pose
                for lam_k, name in ((cfg.lambda_vel, "vel"), (cfg.lambda_acc, "acc")):
                    pred, true = pred.diff(dim=1), true.diff(dim=1)  # velocity, then acceleration
                    if lam_k > 0:
                        term = self.crit(pred, true)
                        total = total + lam_k * term
                        logs[name] = float(term.detach())
            if cfg.lambda_energy > 0:
                term = energy_term(self.crit, out.float(), pose)
                total = total + cfg.lambda_energy * term
                logs["energy"] = float(term.detach())
            if self.D is not None:
                adv = self.lam.value * cfg.lambda_gan * adversarial(self.adv_crit, self.Dm(out).float(), True)
                total = total + adv
                logs["G_gan"] = float(adv.detach())
                self.lam.tick()
            for k, v in internal.items():
                w = cfg.lambda_cluster if k == "cluster_ce" else cfg.lambda_contrastive
                total = total + w * v.float()
                logs[k] = float(v.detach())
        self.trainer.backward_step(total, "G")
        logs["G_total"] = float(total.detach())
        return out.detach(), logs

    def d_step(self, pose: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        assert self.D is not None and self.Dm is not None
        self.D.train()
        with self._autocast(pose):
            real = adversarial(self.adv_crit, self.Dm(pose).float(), True)
            fk = self.lam.value * self.cfg.lambda_d * adversarial(self.adv_crit, self.Dm(fake).float(), False)
        self.lam.tick()
        self.trainer.backward_step(real + fk, "D")
        return {"real_D": float(real.detach()), "fake_D": float(fk.detach())}

    def batch(self, audio, text, pose, labels, epoch: int) -> dict[str, float]:  # noqa: ANN001
        cfg = self.cfg
        logs: dict[str, float] = {}
        if self.D is not None and cfg.d_schedule == "random" and self.d_first(epoch, self.trainer.batch):
            with torch.no_grad(), self._autocast(pose):  # the reference: G in eval mode generates for D
                self.G.eval()
                fake = self.Gm(audio, text)[0].detach()
            logs.update(self.d_step(pose, fake))
        else:
            fake, g_logs = self.g_step(audio, text, pose, labels, epoch)
            logs.update(g_logs)
            if self.D is not None and cfg.d_schedule == "alternate":
                for _ in range(max(1, round(cfg.dg_iter_ratio))):
                    logs.update(self.d_step(pose, fake))
        return logs


def fit(cfg: FitConfig, data: str | Path, speaker: str | None, out: str | Path, *, device: str = "auto",
        resume: bool = False, cache: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Train on ``data`` into the run folder ``out`` (see the module docstring); ``cache`` (or
    ``cfg.cache``) is the store cache folder for raw data folders."""
    out = Path(out)
    if resume and is_old_layout(out):
        raise ConfigError(
            f"{out}: this run folder has the layout of gesturekit before the shared training engine "
            "(state.safetensors, history.csv), which --resume cannot continue; its model still samples and "
            "generates: train again into a new folder"
        )
    check_precision(cfg.precision)
    if cfg.d_schedule not in ("alternate", "random"):
        raise ConfigError(f"d_schedule must be 'alternate' or 'random', got {cfg.d_schedule!r}")
    key = cfg.dev_key.removeprefix("dev_")
    if key not in LOWER_IS_BETTER:
        raise ConfigError(f"dev_key {cfg.dev_key!r} is not a metric; use one of {sorted(LOWER_IS_BETTER)}")
    base = resolve_device(device)
    # the process group lives for this call; the DDP wrappers live in _fit's frame, gone before it ends
    with distributed_run(base) as dist:
        result = _fit(cfg, data, speaker, out, distributed_device(base, dist), dist, key, resume, cache)
        if dist.is_main and (out / "model.json").exists():
            from gesturekit.model_card import write_model_folder

            write_model_folder(out, data=data, speakers=speaker, result=result)  # config.json + model card
        return result


def _open_inputs(cfg: FitConfig, data: str | Path, speaker: str | None, cache: str | Path | None,
                 dist: DistInfo) -> StoreInputs:  # fmt: skip
    """Rank 0 opens (and, the first time, packs) the store; the other ranks then map the same one."""
    where = cache or cfg.cache or None
    store = open_store(data, where, speaker, cfg.holdout) if dist.is_main else None
    barrier(dist)
    if store is None:
        store = open_store(data, where, speaker, cfg.holdout)
    return StoreInputs.from_store(store, text_mode=cfg.model_options.text_mode, fps=cfg.fps, speaker=speaker)


def _fit(cfg: FitConfig, data: str | Path, speaker: str | None, out: Path, device: torch.device, dist: DistInfo,
         key: str, resume: bool, cache: str | Path | None) -> dict[str, Any]:  # fmt: skip
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    precision = resolve_precision(cfg.precision, device)
    inputs = _open_inputs(cfg, data, speaker, cache, dist)
    prep = prepare(inputs, cfg)
    about = describe(inputs)
    if dist.is_main:
        log.info("data: %s store %s (splits: %s; text: %s)", about["format"], about["store"],
                 about["split_rule"], about["text_features"])  # fmt: skip
    n_train = len(prep.train)
    iters = cfg.num_iters if cfg.num_iters > 0 else max(1, n_train // (cfg.batch_size * dist.world_size))
    epochs = cfg.epochs if cfg.epochs > 0 else max(AUTO_EPOCHS, -(-cfg.min_steps // iters))
    if cfg.epochs <= 0 and dist.is_main:
        log.info("%d batches per epoch: %d epochs (at least %d, and %d batches)", iters, epochs, AUTO_EPOCHS,
                 cfg.min_steps)  # fmt: skip
    name = canonical_name(cfg.model)
    inp = prep.inputs
    model_cfg = model_config(cfg, inp.pose_dim, inp.audio_dim, inp.text_dim, iters)
    G = build_model(name, model_cfg).to(device)
    lower = LOWER_IS_BETTER[key]
    state_dir = out / "state"
    if dist.is_main:
        save_config(cfg, out / "config.yaml")
    sizes = {
        "train_windows": n_train,
        "dev_windows": len(prep.dev) if prep.dev is not None else 0,
        "data": about,
    }
    if prep.dev is None and dist.is_main:
        log.warning("the data has no dev split: the model of the last epoch is kept, without early stopping")

    def save_best(epoch: int, val: dict[str, float]) -> None:
        extra = {"best_epoch": epoch, "dev_key": key, "best": val.get(key), "data": about}
        save_model(
            out / "model", G, name, model_cfg, clusters=prep.clusters, pose_norm=prep.pose_norm,
            audio_norm=prep.audio_norm, pose_format=prep.pose_format, fps=prep.fps, window=prep.window,
            mean_pose=prep.mean_pose, text_features=prep.text_features,
            text_mode=cfg.model_options.text_mode, text_dim=inp.text_dim, extra=extra,
        )  # fmt: skip

    if not is_trainable(G):
        ids = sample_windows(prep.train, cfg.baseline_windows, cfg.seed)
        parts = [model_arrays(prep, b)[:3] for _, b in iter_chunks(prep.train, ids, 256)]
        G.fit(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
        metrics = evaluate(G, prep, device, dist, cfg.eval_batch, precision)
        if dist.is_main:
            save_best(0, metrics)
            with MetricLogger(out) as logger:
                logger.log(metrics, step=0, epoch=0, split="val")
            summary = {"best_epoch": 0, "epochs": 0, "best": metrics.get(key), "dev_key": key, **sizes}
            atomic_write_json(out / "training.json", summary)
        return {"epochs": 0, "best_epoch": 0, "best": metrics.get(key), "dev_key": key,
                **{f"dev_{k}": v for k, v in metrics.items()}, **sizes}  # fmt: skip

    modules, optimizers, schedulers = gan_modules(cfg, G, inp.pose_dim, device)
    D = modules.get("D")
    lam = LambdaSchedule(1.0, cfg.lambda_step, cfg.lambda_max, cfg.lambda_interval)
    stateful: dict[str, Any] = {"lambda": lam}
    if getattr(G, "cc", None) is not None:
        stateful["cc"] = G.cc
    Gm = wrap_ddp(G, dist, device, find_unused_parameters=True)
    Dm = wrap_ddp(D, dist, device) if D is not None else None
    sampler = EpochSampler(n_train, cfg.batch_size, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size,
                           batches_per_epoch=iters)  # fmt: skip
    # without a dev split every epoch counts as the best so far: the last one is the run's model
    monitor, mode = (key, "min" if lower else "max") if prep.dev is not None else ("epoch", "max")
    loop_cfg = LoopConfig(
        epochs=epochs, monitor=monitor, mode=mode, grad_clip=cfg.grad_clip,
        patience=cfg.patience if cfg.early_stopping and prep.dev is not None else 0, min_epochs=cfg.min_epochs,
        checkpoint_every_steps=cfg.checkpoint_every_steps,
    )  # fmt: skip
    resume_step = resume_point(
        state_dir, config_to_dict(cfg), RESUMABLE_CHANGES, resume=resume, is_main=dist.is_main,
        upgrade=lambda before: FitConfig.upgrade_config(before, str(state_dir)),
    )  # fmt: skip
    logger = MetricLogger(out, enabled=dist.is_main, resume_step=resume_step)
    trainer = Trainer(state_dir, modules=modules, optimizers=optimizers, schedulers=schedulers, sampler=sampler,
                      config=loop_cfg, logger=logger, dist=dist, stateful=stateful)  # fmt: skip
    steps = GANSteps(cfg, G, D, Gm, Dm, trainer, lam, precision)

    def train_batch(indices: list[int], epoch: int) -> dict[str, float]:
        ids = np.asarray(indices, dtype=np.int64)
        audio, text, pose, _, labels = model_arrays(prep, prep.train.get_batch(ids))
        prep.inputs.store.release_pages()
        t = [torch.as_tensor(x, device=device) for x in (audio, text, pose)]
        lab = torch.as_tensor(labels, device=device) if labels is not None else None
        return steps.batch(t[0], t[1], t[2], lab, epoch)

    def validate(epoch: int) -> dict[str, float]:
        return (
            evaluate(G, prep, device, dist, cfg.eval_batch, precision)
            if prep.dev is not None
            else {"epoch": float(epoch)}
        )

    result = trainer.fit(train_batch, validate, on_best=save_best, resume=resume)
    logger.close()
    last = result.history[-1] if result.history and prep.dev is not None else {}
    dev = {f"dev_{k.removeprefix('val/')}": v for k, v in last.items() if k.startswith("val/")}
    if prep.dev is None:  # no dev metric: the "best" epoch is simply the last one
        result.best_value = None
    summary = {"best_epoch": result.best_epoch, "best": result.best_value, "dev_key": key,
               "epochs": result.epochs_run, "steps": result.steps, "stopped_early": result.stopped_early,
               "precision": precision, **dev, **sizes}  # fmt: skip
    if dist.is_main:
        atomic_write_json(out / "training.json", {**summary, "seconds_this_process": time.perf_counter() - t0})
        log.info("best epoch %d of %d: dev %s %.4g", result.best_epoch + 1, result.epochs_run, key,
                 result.best_value if result.best_value is not None else float("nan"))  # fmt: skip
    return summary
