"""Training co-speech generators: config, data preparation, the G/D loop, evaluation, checkpoints.

``fit(cfg, data, speaker, out)`` trains the model named in ``cfg.model`` on the clips under
``data`` and writes into the run folder ``out``:

- ``config.yaml`` (the resolved config), ``model.safetensors`` + ``model.json`` (the best
  generator with everything needed to use it: normalisers, pose format, clusters, and
  ``text_features``, the kind of text features it was trained on),
- ``state.safetensors`` + ``state.json`` (the full training state after the last epoch:
  G, D, optimisers, schedulers, RNGs, cc_nce statistics; ``--resume`` continues exactly),
- ``history.csv`` and ``tb/`` (TensorBoard), one row/point per epoch.

Each epoch draws its window order from a generator seeded by (seed, epoch, rank), so a resumed
run sees the same batches as an uninterrupted one. Mixed precision (bfloat16 autocast) is used
on CUDA when ``amp``; DDP when launched by ``torchrun`` (``WORLD_SIZE`` > 1).
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gesturekit.checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint
from gesturekit.config import config_to_dict, save_config
from gesturekit.cospeech import pose_metrics
from gesturekit.cospeech.cluster_metrics import classification_scores
from gesturekit.cospeech.clusters import PoseClusters
from gesturekit.cospeech.data import (
    TEXT_FEATURES,
    Corpus,
    PoseFormat,
    Windows,
    check_text_widths,
    load_corpus,
    make_windows,
    text_input_for,
)
from gesturekit.cospeech.losses import LambdaSchedule, adversarial, loss_by_name
from gesturekit.cospeech.models import VelocityDiscriminator, build_model, canonical_name, is_trainable
from gesturekit.cospeech.models.layers import TEXT_MODES, WORDPIECE_VOCAB
from gesturekit.cospeech.state import flatten_state, unflatten_state
from gesturekit.errors import ConfigError, DataError
from gesturekit.features.normalize import Normalizer
from gesturekit.fsutil import atomic_write_text
from gesturekit.runtime import resolve_device, seed_everything

log = logging.getLogger("gesturekit")


@dataclass
class ModelOptions:
    """Generator options (see :class:`~gesturekit.cospeech.models.generators.CCNCEGenerator`).

    The defaults are gesturekit's fast form of the paper's model: a 1-D audio encoder,
    128 latent channels, 2-layer cluster classifier, 2-layer cluster decoders of 64 channels
    (the reference: 2-D audio encoder, 256, 6, 4 x 256; the ``ccnce_fullwidth`` preset).
    """

    d: int = 128
    audio_encoder: str = "conv1d"
    classifier_layers: int = 2
    decoder_layers: int = 2
    decoder_width: int = 64
    text_mode: str = "features"
    use_text: bool = True
    curriculum: bool = True
    curriculum_epochs: float = 5.0
    noise: float = 0.1
    unet_bypass_epochs: int = 0
    fusion_ff: int = 2
    dropout: float = 0.0
    freq_pool: str = "first"
    cc_form: str = "corrected"
    cc_temperature: float = 0.1
    cc_memory: int = 20
    cc_max_clusters: int = 64
    cc_stat_epoch: int = 2
    cc_keys: str = "stored"
    cc_similarity: str = "dot"
    cc_positives: str = "pose"  # "labels": cluster cc_nce's windows by k-means label agreement
    cc_threshold_std: float = 1.0  # cc_nce threshold tau = mean + this x std (the reference: 1)
    dtw: bool = False
    moco_queue: int = 4096
    moco_momentum: float = 0.99
    moco_temperature: float = 0.1
    patch_temperature: float = 0.07
    causal: bool = False  # left-padded convs only, no U-Net/attention: streamable (cospeech.streaming)
    lookahead: int = 0  # frames of audio a causal model sees past each pose frame


@dataclass
class FitConfig:
    """Training options; the reference's ``train.py`` flag each mirrors is named in the README."""

    model: str = "ccnce"
    seed: int = 11212
    window: int = 64
    hop: int = 5
    batch_size: int = 32
    epochs: int = 20
    num_iters: int = 0  # iterations per epoch; 0 = one pass over the training windows
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
    optim: str = "AdamW"
    lr: float = 1e-4
    weight_decay: float = 0.01
    gamma: float = 0.99
    grad_clip: float = 1.0
    amp: bool = True
    holdout: float = 0.2
    fps: float = 15.0
    model_options: ModelOptions = field(default_factory=ModelOptions)


# ----------------------------------------------------------------------------- data


@dataclass
class Prepared:
    train: Windows
    dev: Windows
    pose_norm: Normalizer
    audio_norm: Normalizer
    clusters: PoseClusters | None
    pose_format: PoseFormat
    fps: float
    mean_pose: np.ndarray  # (P,) in data units
    text_features: str = "unknown"  # the corpus's kind (data.TEXT_FEATURES); recorded in the model


def _normalise(w: Windows, pose_norm: Normalizer, audio_norm: Normalizer) -> Windows:
    N, T = w.pose.shape[:2]
    pose = pose_norm.transform(w.pose.reshape(N * T, -1)).reshape(N, T, -1)
    audio = audio_norm.transform(w.audio.reshape(N * T, -1)).reshape(N, T, -1)
    return Windows(audio, w.text, pose, w.clip, w.start, w.labels)


def prepare(corpus: Corpus, cfg: FitConfig) -> Prepared:
    train_clips, dev_clips = corpus.split("train"), corpus.split("dev")
    if not train_clips:
        raise DataError("no training clips", path=corpus.source)
    if not dev_clips:
        raise DataError("no dev clips (needed for the best checkpoint and early stopping)", path=corpus.source)
    check_text_widths(train_clips + dev_clips, corpus.source)
    _check_token_ids(corpus, cfg.model_options.text_mode)
    pose_norm = Normalizer("zscore").fit([c.pose for c in train_clips])
    audio_norm = Normalizer("zscore").fit([c.audio for c in train_clips])
    train = make_windows(train_clips, cfg.window, cfg.hop)
    dev = make_windows(dev_clips, cfg.window, 0)
    clusters = None
    if cfg.num_clusters > 0:
        clusters = PoseClusters(cfg.num_clusters, tuple(cfg.cluster_feats), cfg.seed)
        clusters.fit(train.pose, corpus.pose_format.joint_of())
        train.labels, dev.labels = clusters.predict(train.pose), clusters.predict(dev.pose)
    mean_pose = np.concatenate([c.pose for c in train_clips]).mean(0)
    return Prepared(
        _normalise(train, pose_norm, audio_norm), _normalise(dev, pose_norm, audio_norm), pose_norm, audio_norm,
        clusters, corpus.pose_format, corpus.fps, mean_pose, corpus.text_features,
    )  # fmt: skip


def _check_token_ids(corpus: Corpus, text_mode: str) -> None:
    """A token-embedding model (``text_mode: tokens``) needs clips of WordPiece ids in range."""
    if text_mode not in TEXT_MODES:
        raise ConfigError(f"model_options.text_mode must be one of {list(TEXT_MODES)}, got {text_mode!r}")
    ids = corpus.text_features == "token-ids"
    if text_mode == "tokens" and not ids:
        raise DataError(
            f"model_options.text_mode 'tokens' needs clips of WordPiece token ids (load the corpus with "
            f"text='token-ids'); these hold {TEXT_FEATURES[corpus.text_features]}", path=corpus.source or None,
        )  # fmt: skip
    if text_mode == "features" and ids:
        raise DataError(
            "these clips hold token ids, which only model_options.text_mode 'tokens' takes",
            path=corpus.source or None,
        )
    if ids:
        for c in corpus.clips:
            t = c.text[:, 0]
            if len(t) and (t.min() < 0 or t.max() >= WORDPIECE_VOCAB or np.any(t != np.round(t))):
                raise DataError(
                    f"clip {c.clip_id}: text/tokens holds values that are not WordPiece ids "
                    f"(0..{WORDPIECE_VOCAB - 1})",
                    path=corpus.source or None,
                )


def model_kwargs(cfg: FitConfig, prep: Prepared, iters_per_epoch: int) -> dict[str, Any]:
    mo = config_to_dict(cfg.model_options)
    mo["curriculum_iters"] = max(1, int(mo.pop("curriculum_epochs") * iters_per_epoch))
    return dict(
        mo, pose_dim=prep.train.pose.shape[-1], text_dim=prep.train.text.shape[-1],
        audio_dim=prep.train.audio.shape[-1], num_clusters=max(cfg.num_clusters, 1), window=cfg.window,
        seed=cfg.seed,
    )  # fmt: skip


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def predict_windows(
    model: nn.Module, w: Windows, device: torch.device, batch: int = 64
) -> tuple[np.ndarray, np.ndarray | None]:
    """Generated poses ``(N, T, P)`` (normalised space) and cluster logits' argmax ``(N, T)`` or None."""
    model.eval()
    preds, labs = [], []
    for i in range(0, len(w), batch):
        a = torch.as_tensor(w.audio[i : i + batch], device=device)
        t = torch.as_tensor(w.text[i : i + batch], device=device)
        out, _, extra = model(a, t)
        preds.append(out.float().cpu().numpy())
        if "logits" in extra:
            labs.append(extra["logits"].argmax(-1).cpu().numpy())
    return np.concatenate(preds), (np.concatenate(labs) if labs else None)


#: Dev metrics and whether lower is better (``dev_key`` picks one for the best checkpoint).
LOWER_IS_BETTER = {"L1": True, "VelL1": True, "pck": False, "spatialNorm": True, "cluster_acc": False,
                   "cluster_f1": False, "L1_units": True}  # fmt: skip


def window_metrics(pred: np.ndarray, true: np.ndarray, labels: tuple[np.ndarray, np.ndarray, int] | None,
                   prep: Prepared) -> dict[str, float]:  # fmt: skip
    """Dev metrics of ``(N, T, P)`` normalised windows, through the evaluation's own metric code.

    ``L1``/``VelL1`` in the normalised space the model is trained in (as the reference); PCK and
    spatialNorm on joints in data units (spatialNorm's denominator over the same frames: the
    reference's is never reset); cluster accuracy and F1 of the classifier's argmax ``labels``
    ``(predicted, true, k)`` against the k-means label of the ground truth.
    """
    N, T, P = pred.shape
    every = np.arange(P)
    out = {"L1": float(np.abs(pred - true).mean()), "VelL1": pose_metrics.vel_l1(pred, true, every, None)}
    fmt = prep.pose_format
    pu = prep.pose_norm.inverse_transform(pred.reshape(N * T, P))
    tu = prep.pose_norm.inverse_transform(true.reshape(N * T, P))
    out["L1_units"] = float(np.abs(pu - tu).mean())
    pj, tj, mj = fmt.to_joints(pu), fmt.to_joints(tu), fmt.to_joints(prep.mean_pose[None])[0]
    no_roots = np.zeros(0, dtype=int)  # PATS joints are already relative to the neck
    joints = np.array([j for j in fmt.model_joints if j != 0]) if fmt.kind == "pats" else np.arange(pj.shape[1])
    if fmt.kind == "pats":
        out["pck"] = pose_metrics.pck([pj], [tj], joints, no_roots)["pck"]
    out["spatialNorm"] = pose_metrics.spatial_norm([pj], [tj], joints, no_roots, [mj])
    if labels is not None:
        scores = classification_scores(labels[0].ravel(), labels[1].ravel(), labels[2])
        out["cluster_acc"], out["cluster_f1"] = scores["cluster_accuracy"], scores["cluster_f1"]
    return out


def evaluate(model: nn.Module, w: Windows, prep: Prepared, device: torch.device) -> dict[str, float]:
    """Metrics over every window of ``w`` (normalised windows with labels)."""
    pred, lab = predict_windows(model, w, device)
    labels = None
    if lab is not None and w.labels is not None and prep.clusters is not None:
        labels = (lab, w.labels, prep.clusters.k)
    return window_metrics(pred, w.pose, labels, prep)


# ----------------------------------------------------------------------------- model bundle


def save_model(
    path: Path, model: nn.Module, name: str, kwargs: dict[str, Any], prep: Prepared, extra: dict
) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if prep.clusters is not None:
        tensors.update({f"clusters.{k}": torch.from_numpy(v) for k, v in prep.clusters.arrays().items()})
    meta = {
        "kind": "gesturekit-cospeech-model", "model": name, "kwargs": kwargs,
        "pose_norm": prep.pose_norm.to_dict(), "audio_norm": prep.audio_norm.to_dict(),
        "pose_format": prep.pose_format.to_dict(), "fps": prep.fps, "window": int(prep.train.pose.shape[1]),
        "mean_pose": prep.mean_pose.tolist(), "clusters": prep.clusters.to_dict() if prep.clusters else None,
        "text_features": prep.text_features, **extra,
    }  # fmt: skip
    save_checkpoint(path, tensors, meta)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(model in eval mode, meta)`` from a run folder or a ``model`` checkpoint path.

    ``meta["text_features"]`` names the text features the model was trained on
    (:data:`~gesturekit.cospeech.data.TEXT_FEATURES`); ``"unknown"`` for bundles saved before
    gesturekit recorded it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model"
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != "gesturekit-cospeech-model":
        raise DataError("not a gesturekit co-speech model checkpoint", path=path)
    model = build_model(meta["model"], **meta["kwargs"])
    sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    for k, v in sd.items():  # baselines have data-sized buffers
        cur = model.state_dict().get(k)
        if cur is not None and cur.shape != v.shape:
            parent, _, leaf = k.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, torch.empty_like(v))
    model.load_state_dict(sd)
    meta.setdefault("text_features", "unknown")
    meta["cluster_arrays"] = {
        k[len("clusters.") :]: v.numpy() for k, v in tensors.items() if k.startswith("clusters.")
    }
    return model.to(device).eval(), meta


# ----------------------------------------------------------------------------- training


def _dist() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _make_optim(cfg: FitConfig, params) -> torch.optim.Optimizer:  # noqa: ANN001
    cls = getattr(torch.optim, cfg.optim, None)
    if cls is None:
        raise ConfigError(f"unknown optimiser {cfg.optim!r}; give a torch.optim class name such as AdamW")
    kw: dict[str, Any] = {"lr": cfg.lr}
    if cfg.optim in ("AdamW", "Adam", "SGD"):
        kw["weight_decay"] = cfg.weight_decay if cfg.optim == "AdamW" else 0.0
    return cls(params, **kw)


class Trainer:
    """The G/D training loop for one run (see the module docstring)."""

    def __init__(self, cfg: FitConfig, prep: Prepared, out: Path, device: torch.device) -> None:
        self.cfg, self.prep, self.out, self.device = cfg, prep, out, device
        self.world, self.rank, _ = _dist()
        n = len(prep.train)
        bs = cfg.batch_size
        self.iters = cfg.num_iters if cfg.num_iters > 0 else max(1, n // (bs * self.world))
        self.name = canonical_name(cfg.model)
        self.kwargs = model_kwargs(cfg, prep, self.iters)
        self.G = build_model(self.name, **self.kwargs).to(device)
        self.trainable = is_trainable(self.G)
        self.crit = loss_by_name(cfg.loss)
        self.adv_crit = loss_by_name(cfg.adv_loss or cfg.loss)
        self.gan = cfg.gan and self.trainable
        self.D = VelocityDiscriminator(self.kwargs["pose_dim"]).to(device) if self.gan else None
        self.lam = LambdaSchedule(1.0, cfg.lambda_step, cfg.lambda_max, cfg.lambda_interval)
        if self.trainable:
            self.optG = _make_optim(cfg, [p for p in self.G.parameters() if p.requires_grad])
            self.schG = torch.optim.lr_scheduler.ExponentialLR(self.optG, cfg.gamma)
        if self.D is not None:
            self.optD = _make_optim(cfg, self.D.parameters())
            self.schD = torch.optim.lr_scheduler.ExponentialLR(self.optD, cfg.gamma)
        self.Gm, self.Dm = self.G, self.D
        if self.world > 1 and self.trainable:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.Gm = DDP(self.G, device_ids=ids, find_unused_parameters=True)
            if self.D is not None:
                self.Dm = DDP(self.D, device_ids=ids)
        self.epoch = 0
        self.best: float | None = None
        self.best_epoch = -1
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []
        self.amp = cfg.amp and device.type == "cuda"
        key = cfg.dev_key.removeprefix("dev_")
        if key not in LOWER_IS_BETTER:
            raise ConfigError(f"dev_key {cfg.dev_key!r} is not a metric; use one of {sorted(LOWER_IS_BETTER)}")
        self.dev_key, self.lower = key, LOWER_IS_BETTER[key]

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "G": self.G.state_dict(), "epoch": self.epoch, "best": self.best, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "history": self.history, "lambda_count": self.lam.count,
            "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state()[1],
            "numpy_pos": int(np.random.get_state()[2]), "python_rng": list(random.getstate()[1]),
        }  # fmt: skip
        if self.device.type == "cuda":
            st["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.trainable:
            st["optG"], st["schG"] = self.optG.state_dict(), self.schG.state_dict()
        if self.D is not None:
            st["D"], st["optD"], st["schD"] = (
                self.D.state_dict(),
                self.optD.state_dict(),
                self.schD.state_dict(),
            )
        cc = getattr(self.G, "cc", None)
        if cc is not None:
            st["cc"] = cc.state_dict()
            st["cc_rng"] = cc.rng.bit_generator.state
        return st

    def save_state(self) -> None:
        skel, tensors = flatten_state(self.state(), "s")
        save_checkpoint(self.out / "state", tensors, {"kind": "gesturekit-cospeech-state", "state": skel})

    def load_state(self) -> None:
        tensors, meta = load_checkpoint(self.out / "state")
        st = unflatten_state(meta["state"], tensors)
        self.G.load_state_dict(st["G"])
        self.epoch, self.best, self.best_epoch = st["epoch"], st["best"], st["best_epoch"]
        self.bad_epochs, self.history, self.lam.count = st["bad_epochs"], st["history"], st["lambda_count"]
        torch.set_rng_state(st["torch_rng"])
        np.random.set_state(("MT19937", st["numpy_rng"], st["numpy_pos"], 0, 0.0))
        random.setstate((3, tuple(st["python_rng"]), None))
        if "cuda_rng" in st and self.device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda_rng"], self.device)
        if self.trainable:
            self.optG.load_state_dict(st["optG"])
            self.schG.load_state_dict(st["schG"])
        if self.D is not None:
            self.D.load_state_dict(st["D"])
            self.optD.load_state_dict(st["optD"])
            self.schD.load_state_dict(st["schD"])
        cc = getattr(self.G, "cc", None)
        if cc is not None:
            cc.load_state_dict(st["cc"])
            cc.rng.bit_generator.state = st["cc_rng"]

    # -- steps ---------------------------------------------------------------------------------
    def _batch(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        w = self.prep.train
        dev = self.device
        lab = torch.as_tensor(w.labels[idx], device=dev) if w.labels is not None else None
        return (torch.as_tensor(w.audio[idx], device=dev), torch.as_tensor(w.text[idx], device=dev),
                torch.as_tensor(w.pose[idx], device=dev), lab)  # fmt: skip

    def _autocast(self):  # noqa: ANN202
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp)

    def g_step(self, audio, text, pose, labels, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:  # noqa: ANN001
        cfg = self.cfg
        self.G.train()
        with self._autocast():
            out, internal, _ = self.Gm(audio, text, pose, labels, epoch)
            rec = self.crit(out.float(), pose)
            total = rec
            logs = {"pose": float(rec.detach())}
            if self.gan:
                adv = self.lam.value * cfg.lambda_gan * adversarial(self.adv_crit, self.Dm(out).float(), True)
                total = total + adv
                logs["G_gan"] = float(adv.detach())
                self.lam.tick()
            for k, v in internal.items():
                w = cfg.lambda_cluster if k == "cluster_ce" else cfg.lambda_contrastive
                total = total + w * v.float()
                logs[k] = float(v.detach())
        self.optG.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.G.parameters(), cfg.grad_clip)
        self.optG.step()
        logs["G_total"] = float(total.detach())
        return out.detach(), logs

    def d_step(self, pose: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        assert self.D is not None and self.Dm is not None
        self.D.train()
        with self._autocast():
            real = adversarial(self.adv_crit, self.Dm(pose).float(), True)
            fk = self.lam.value * self.cfg.lambda_d * adversarial(self.adv_crit, self.Dm(fake).float(), False)
        self.lam.tick()
        self.optD.zero_grad(set_to_none=True)
        (real + fk).backward()
        if self.cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.D.parameters(), self.cfg.grad_clip)
        self.optD.step()
        return {"real_D": float(real.detach()), "fake_D": float(fk.detach())}

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        n = len(self.prep.train)
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch * 101 + self.rank)
        need = self.iters * cfg.batch_size
        order = torch.cat([torch.randperm(n, generator=gen) for _ in range(-(-need // n))])[:need].numpy()
        p_d = cfg.dg_iter_ratio / (cfg.dg_iter_ratio + 1.0)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for it in range(self.iters):
            audio, text, pose, labels = self._batch(order[it * cfg.batch_size : (it + 1) * cfg.batch_size])
            logs: dict[str, float] = {}
            if self.gan and cfg.d_schedule == "random" and float(torch.rand((), generator=gen)) < p_d:
                with torch.no_grad():  # the reference: G in eval mode generates for the D step
                    self.G.eval()
                    fake = self.Gm(audio, text)[0].detach()
                logs.update(self.d_step(pose, fake))
            else:
                fake, g_logs = self.g_step(audio, text, pose, labels, epoch)
                logs.update(g_logs)
                if self.gan and cfg.d_schedule == "alternate":
                    for _ in range(max(1, round(cfg.dg_iter_ratio))):
                        logs.update(self.d_step(pose, fake))
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
        if self.trainable:
            self.schG.step()
            if self.D is not None:
                self.schD.step()
        return {f"train_{k}": sums[k] / counts[k] for k in sums}

    def fit_baseline(self) -> None:
        w = self.prep.train
        self.G.fit(w.audio, w.text, w.pose)

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        writer = None
        if self.rank == 0:
            try:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(str(self.out / "tb"))
            except ImportError:  # tensorboard is optional
                writer = None
        if not self.trainable:
            self.fit_baseline()
            metrics = {
                f"dev_{k}": v for k, v in evaluate(self.G, self.prep.dev, self.prep, self.device).items()
            }
            self.history.append({"epoch": 0, **metrics})
            self.best, self.best_epoch = metrics[f"dev_{self.dev_key}"], 0
            self._save_best()
            self._write_history()
            return {"epochs": 0, "best_epoch": 0, "best": self.best, "dev_key": self.dev_key, **metrics}
        start = self.epoch
        for epoch in range(start, cfg.epochs):
            logs = self.train_epoch(epoch)
            self.epoch = epoch + 1
            if self.world > 1:
                torch.distributed.barrier()
            if self.rank == 0:
                metrics = {
                    f"dev_{k}": v for k, v in evaluate(self.G, self.prep.dev, self.prep, self.device).items()
                }
                row = {"epoch": epoch, **logs, **metrics, "lr": self.optG.param_groups[0]["lr"]}
                self.history.append(row)
                val = metrics[f"dev_{self.dev_key}"]
                better = self.best is None or (val < self.best if self.lower else val > self.best)
                if better:
                    self.best, self.best_epoch, self.bad_epochs = val, epoch, 0
                    self._save_best()
                elif epoch + 1 > cfg.min_epochs:
                    self.bad_epochs += 1
                if writer is not None:
                    for k, v in row.items():
                        if k != "epoch":
                            writer.add_scalar(k.replace("_", "/", 1), v, epoch)
                    writer.flush()
                log.info(
                    "epoch %d: %s", epoch, " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
                )
                self._write_history()
                self.save_state()
            stop = torch.tensor(int(cfg.early_stopping and self.bad_epochs >= cfg.patience))
            if self.world > 1:
                torch.distributed.broadcast(stop, 0)
            if int(stop):
                log.info("early stopping after epoch %d (best epoch %d)", epoch, self.best_epoch)
                break
        if writer is not None:
            writer.close()
        last = self.history[-1] if self.history else {}
        return {"epochs": self.epoch, "best_epoch": self.best_epoch, "best": self.best, "dev_key": self.dev_key,
                **{k: v for k, v in last.items() if k.startswith("dev_")}}  # fmt: skip

    def _save_best(self) -> None:
        save_model(self.out / "model", self.G, self.name, self.kwargs, self.prep,
                   {"best_epoch": self.best_epoch, "dev_key": self.dev_key, "best": self.best})  # fmt: skip

    def _write_history(self) -> None:
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        lines = [",".join(keys)] + [",".join(str(row.get(k, "")) for k in keys) for row in self.history]
        atomic_write_text(self.out / "history.csv", "\n".join(lines) + "\n")


def fit(cfg: FitConfig, data: str | Path, speaker: str | None, out: Path, *, device: str = "auto",
        resume: bool = False, corpus: Corpus | None = None) -> dict[str, Any]:  # fmt: skip
    """Train on ``data`` (or an already loaded ``corpus``) into the run folder ``out``."""
    world, rank, local = _dist()
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend)
        dev = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    else:
        dev = resolve_device(device)
    seed_everything(cfg.seed)
    if corpus is None:
        text = text_input_for(cfg.model_options.text_mode)
        corpus = load_corpus(data, speaker, holdout=cfg.holdout, fps=cfg.fps, text=text)
    prep = prepare(corpus, cfg)
    if rank == 0:
        save_config(cfg, out / "config.yaml")
    trainer = Trainer(cfg, prep, out, dev)
    if resume and checkpoint_exists(out / "state"):
        trainer.load_state()
        log.info("resuming after epoch %d", trainer.epoch - 1)
    result = trainer.run()
    result["train_windows"], result["dev_windows"] = len(prep.train), len(prep.dev)
    return result
