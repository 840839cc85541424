"""Configuration of neural CNMF runs (``gesturekit units fit --method ae|vae``).

:class:`NeuralUnitsConfig` extends the options every unit method shares
(:class:`~gesturekit.units.methods.UnitFitConfig`: ``gestures``, ``width``, ``epochs``, ``seed``,
``normalize``, ``nonneg_split``, ``val_fraction``, ...) with sections for the network (``net``:
the model's own :class:`~gesturekit.units.neural.models.NetConfig`, saved with its weights), data
feeding, gesture initialisation, loss, optimiser and training loop. Defaults live here;
presets (``gesturekit/configs/units/*.yaml``, ``--config NAME``) override them.

The defaults are the settings that work on real EMA: on the mngu0 samples (6 training, 2
held-out utterances) ``--method ae`` reconstructs the held-out files at mean channel r 0.93 and
``--method vae`` at 0.88: 40 gestures of 41 frames, 64 crops of 400 frames per epoch, 60 epochs,
Adam at 3e-3, Hoyer targets 0.8 with weights 1 and 10, usage entropies at weight 1, and (VAE) a
KL weight of 0.01. The reference's S4 settings, the earlier defaults (whole utterances, targets
0.9 / 0.95 at weights 10 / 100, 300 epochs at 1e-3), reached r 0.44-0.57 there; they stay
available as the preset ``ae_reference_s4``. Other presets: ``ae_reference`` (the reference
README's configuration), ``ae_paper`` (the paper-era S4 run), ``ae_mngu0`` / ``vae_mngu0`` (the
defaults, spelled out: the README's comparison table) and ``ae_nonneg``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from gesturekit.errors import ConfigError
from gesturekit.units.methods import UnitFitConfig
from gesturekit.units.neural.models import NetConfig


@dataclass
class DataConfig:
    segment_len: int = 400  # frames per training crop; 0: whole utterances, padded and masked
    items_per_epoch: int = 64  # crops (or utterances) per epoch; 0: one per training utterance


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
    w_c: float = 1.0  # (S_c - beta_c)^2, Hoyer per frame
    beta_c: float = 0.8
    w_t: float = 10.0  # (S_t - beta_t)^2, Hoyer per gesture
    beta_t: float = 0.8
    w_Et: float = 1.0  # usage entropy over gestures
    w_Ec: float = 1.0  # usage entropy over time
    w_ctc: float = 1.0  # CTC phone head
    w_kl: float = 0.01  # VAE: KL weight after annealing
    kl_anneal_epochs: int = 20  # VAE: the KL weight ramps linearly from 0 over these epochs
    noise_scale: float = 0.1  # VAE: Laplace scale of the likelihood p(x | h)


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 3e-3
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
    patience: int = 15  # epochs without improvement before stopping (<= 0: never)
    min_epochs: int = 10
    checkpoint_every_steps: int = 0  # also save the training state every N steps (0: per epoch)
    figures_every: int = 20  # epochs between TensorBoard figures (0: none during training)
    progress: bool = True


@dataclass
class NeuralUnitsConfig(UnitFitConfig):
    method: str = "ae"  # ae | vae
    epochs: int = 60
    normalize: str = "zscore"
    nonneg_split: str = "false"  # true for the non-negative decoders on signed data
    val_fraction: float = 0.25  # neural methods need held-out files for validation
    net: NetConfig = field(default_factory=NetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    init: InitConfig = field(default_factory=InitConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopOptions = field(default_factory=LoopOptions)

    def __post_init__(self) -> None:
        # one place for the shape: the shared top-level options fill the network's first two fields
        for name in ("gestures", "width"):
            top, inner = getattr(self, name), getattr(self.net, name)
            if inner not in (top, getattr(NetConfig, name)):
                raise ConfigError(
                    f"config key 'net.{name}' ({inner}) disagrees with '{name}' ({top}): set '{name}' "
                    f"(--{name}), which every unit method shares"
                )
        self.net = self.net_config()

    def net_config(self) -> NetConfig:
        """The network's config: the ``net`` section with the top-level ``gestures`` and ``width``."""
        return dataclasses.replace(self.net, gestures=self.gestures, width=self.width)
