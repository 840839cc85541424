"""Configuration of neural CNMF runs (``gesturekit units fit --method ae|vae``).

:class:`NeuralUnitsConfig` extends the options every unit method shares
(:class:`~gesturekit.units.methods.UnitFitConfig`: ``gestures``, ``width``, ``epochs``, ``seed``,
``normalize``, ``nonneg_split``, ``val_fraction``, ...) with sections for the network, data
feeding, gesture initialisation, loss, optimiser and training loop. Defaults live here;
the presets ``configs/units`` (``--config NAME``) override them (``ae_reference.yaml``: the reference README's
configuration; ``ae_paper.yaml``: the paper-era S4 one; ``ae_mngu0.yaml`` / ``ae_nonneg.yaml`` /
``vae_mngu0.yaml``: the runs of the README's comparison table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gesturekit.units.methods import UnitFitConfig
from gesturekit.units.neural.models import NetConfig


@dataclass
class ArchConfig:
    """Network options beyond ``gestures`` / ``width`` (see :class:`NetConfig`)."""

    hidden: int = 0  # encoder channels; 0: the number of input channels (the reference)
    kernels: list[int] = field(default_factory=lambda: [15, 3, 3])
    decoder: str = "signed"  # signed (semi-NMF) | softplus | exp (non-negative gestures)
    prior_rate: float = 1.0  # VAE: rate of the exponential prior on each score
    phone_head: bool = False  # CTC phone recogniser on the scores (labelled data only)
    phone_hidden: int = 128
    phone_layers: int = 2


@dataclass
class DataConfig:
    segment_len: int = 0  # frames per training crop; 0: whole utterances, padded and masked
    items_per_epoch: int = 0  # crops (or utterances) per epoch; 0: one per training utterance


@dataclass
class InitConfig:
    kind: str = "kmeans"  # kmeans | cnmf | random
    cnmf_run: str = ""  # a fitted classic CNMF run folder (kind: cnmf), same gestures/width/channels
    max_windows: int = 100_000
    iters: int = 50
    scale: float = 0.1  # gestures start at scale x the centres (the S5 reference divides by 10)


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
    w_ctc: float = 1.0  # CTC phone head
    w_kl: float = 1.0  # VAE: KL weight after annealing
    kl_anneal_epochs: int = 20  # VAE: the KL weight ramps linearly from 0 over these epochs
    noise_scale: float = 0.1  # VAE: Laplace scale of the likelihood p(x | h)


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0  # on the encoder only (never on the gestures: spec 3.5 defect 8)
    schedule: str = "plateau"  # constant | step | exponential | cosine | plateau
    factor: float = 0.9
    patience: int = 4
    step_size: int = 5
    gamma: float = 0.9
    warmup_epochs: int = 0
    grad_clip: float = 100.0


@dataclass
class LoopOptions:
    batch_size: int = 8
    monitor: str = "loss"  # validation metric of the best checkpoint: loss | r | rmse | l1 | elbo
    patience: int = 30  # epochs without improvement before stopping (<= 0: never)
    min_epochs: int = 10
    checkpoint_every_steps: int = 0  # also save the training state every N steps (0: per epoch)
    figures_every: int = 25  # epochs between TensorBoard figures (0: none during training)
    progress: bool = True


@dataclass
class NeuralUnitsConfig(UnitFitConfig):
    method: str = "ae"  # ae | vae
    epochs: int = 300
    normalize: str = "zscore"
    nonneg_split: str = "false"  # true for the non-negative decoders on signed data
    val_fraction: float = 0.25  # neural methods need held-out files for validation
    net: ArchConfig = field(default_factory=ArchConfig)
    data: DataConfig = field(default_factory=DataConfig)
    init: InitConfig = field(default_factory=InitConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopOptions = field(default_factory=LoopOptions)

    def net_config(self) -> NetConfig:
        return NetConfig(
            gestures=self.gestures,
            width=self.width,
            hidden=self.net.hidden,
            kernels=list(self.net.kernels),
            decoder=self.net.decoder,
            prior_rate=self.net.prior_rate,
            phone_hidden=self.net.phone_hidden,
            phone_layers=self.net.phone_layers,
        )
