"""Configuration of neural CNMF runs (``gesturekit units fit --method ae|vae``).

Defaults live here; ``configs/units/*.yaml`` files override them (``ae_reference.yaml`` is the
reference README's configuration, ``ae_paper.yaml`` the paper-era S4 one, ``ae_mngu0.yaml`` the
configuration of the mngu0 results in the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gesturekit.units.neural.models import NetConfig


@dataclass
class DataConfig:
    normalize: str = "zscore"  # none | zscore | minmax (fitted on the training split)
    nonneg: bool = False  # split every channel into +/- parts (needed by nonneg decoders)
    segment_len: int = 0  # frames per training crop; 0: whole utterances, padded and masked
    items_per_epoch: int = 0  # crops per epoch; 0: one per training utterance
    val_fraction: float = 0.25  # held-out utterances when no --val files are given
    max_frames: int = 0  # 0: no limit; else utterances longer than this are an error


@dataclass
class InitConfig:
    kind: str = "kmeans"  # kmeans | cnmf | random
    cnmf_run: str = ""  # a fitted classic CNMF run folder (kind: cnmf)
    max_windows: int = 100_000
    iters: int = 50
    scale: float = 0.1  # the gestures start at scale x the centres (the S5 reference divides by 10)


@dataclass
class LossConfig:
    reconstruction: str = "l1"  # l1 | mse
    sparse: bool = True
    w_c: float = 10.0  # (S_c - beta_c)^2, Hoyer per frame
    beta_c: float = 0.9
    w_t: float = 100.0  # (S_t - beta_t)^2, Hoyer per gesture
    beta_t: float = 0.95
    w_Et: float = 10.0  # usage entropy over gestures
    w_Ec: float = 1.0  # usage entropy over time
    w_ctc: float = 1.0  # CTC phone head (only for labelled data with phone_head: true)
    phone_head: bool = False
    # VAE
    w_kl: float = 1.0
    kl_anneal_epochs: int = 20  # KL weight ramps linearly from 0 over these epochs
    noise_scale: float = 0.1  # Laplace scale of the likelihood p(x | h)


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0  # on the encoder (never on the gestures, spec 3.5 defect 8)
    schedule: str = "plateau"  # constant | step | exponential | cosine | plateau
    factor: float = 0.9
    patience: int = 4
    step_size: int = 5
    gamma: float = 0.9
    warmup_epochs: int = 0
    grad_clip: float = 100.0


@dataclass
class TrainConfig:
    epochs: int = 500
    batch_size: int = 8
    monitor: str = "loss"  # validation metric for the best checkpoint: loss | r | rmse | l1
    patience: int = 30
    min_epochs: int = 10
    checkpoint_every_steps: int = 0
    figures_every: int = 25  # epochs between TensorBoard figures (0: only at the end)
    progress: bool = True


@dataclass
class NeuralUnitsConfig:
    method: str = "ae"  # ae | vae
    seed: int = 12
    device: str = "cpu"
    threads: int = 0
    net: NetConfig = field(default_factory=NetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    init: InitConfig = field(default_factory=InitConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
