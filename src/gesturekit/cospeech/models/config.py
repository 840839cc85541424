"""One config dataclass per model: what its constructor takes, and what its bundle saves.

- :class:`ModelOptions`: the options a user sets, the ``model_options`` section of a training
  config (the presets in ``gesturekit/configs``). Its defaults are the ones ``cospeech fit`` uses.
- :class:`CCNCEConfig` (``ccnce``, ``ccnce-moco``, ``ccnce-patchwise``, ``mix``): the options plus
  what the data and the run decide (pose, text and audio widths, clusters, window, seed), the
  contrastive form (from the model's name) and the curriculum length in iterations.
- :class:`Speech2GestureConfig`: the pose width, and of the options ``d`` and ``dropout``.
- :class:`MeanPoseConfig`: the pose width. :class:`NearestNeighbourConfig`: the pose, audio and
  text widths and the window (none of the options).

A model is built from its config alone (``CCNCEGenerator(CCNCEConfig(...))``, nanoGPT's
``GPT(GPTConfig)``), and the bundle saves that config beside the weights
(:mod:`gesturekit.cospeech.models.bundle`). A key the config does not have is a
:class:`~gesturekit.errors.ConfigError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelOptions:
    """Generator options (see :class:`~gesturekit.cospeech.models.generators.CCNCEGenerator`).

    The defaults are gesturekit's fast form of the paper's model: a 1-D audio encoder,
    64 latent channels, 2-layer cluster classifier, 2-layer cluster decoders of 64 channels
    (the reference: 2-D audio encoder, 256, 6, 4 x 256; the ``ccnce_fullwidth`` preset).
    ``speech2gesture`` reads only ``d`` and ``dropout``; the baselines read none; ``text_mode``
    also tells training which text key of the store to read.
    """

    d: int = 64  # 64 did as well as 128 on held-out BEAT2 takes (docs/beat2-folds.md), at half the cost
    audio_encoder: str = "conv1d"
    classifier_layers: int = 2
    decoder_layers: int = 2
    decoder_width: int = 64
    text_mode: str = "features"
    use_text: bool = True
    curriculum: bool = True
    curriculum_epochs: float = 5.0  # training turns it into CCNCEConfig.curriculum_iters
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
    causal: bool = False  # left-padded convs only, no U-Net/attention: streamable (inference.streaming)
    lookahead: int = 0  # frames of audio a causal model sees past each pose frame
    # Gaussian low-pass (sigma, frames) on the generated poses, in training and generation; 0: none.
    # Real gesture has little energy near the Nyquist rate; the decoder alone emits jitter there.
    output_smoothing: float = 0.0


@dataclass
class CCNCEConfig(ModelOptions):
    """Everything a :class:`~gesturekit.cospeech.models.generators.CCNCEGenerator` is built from.

    The :class:`ModelOptions` (same defaults), and what training fills in from the data and the run.
    """

    pose_dim: int = field(kw_only=True)
    text_dim: int = field(default=768, kw_only=True)
    audio_dim: int = field(default=64, kw_only=True)
    num_clusters: int = field(default=8, kw_only=True)
    window: int = field(default=64, kw_only=True)
    seed: int = field(default=0, kw_only=True)
    contrastive: str = field(default="ccnce", kw_only=True)  # set by the model's name
    curriculum_iters: int = field(default=500, kw_only=True)  # training: curriculum_epochs x iterations


@dataclass
class Speech2GestureConfig:
    """:class:`~gesturekit.cospeech.models.generators.Speech2GestureGenerator`: audio-only."""

    pose_dim: int
    d: int = 128
    dropout: float = 0.0


@dataclass
class MeanPoseConfig:
    """:class:`~gesturekit.cospeech.models.baselines.MeanPose`."""

    pose_dim: int


@dataclass
class NearestNeighbourConfig:
    """:class:`~gesturekit.cospeech.models.baselines.NearestNeighbour`."""

    pose_dim: int
    audio_dim: int = 64
    text_dim: int = 768
    window: int = 64


#: Bundles saved before the configs (``model.json`` without ``config_class``) hold the constructor's
#: keyword arguments of that time; keys they lack take that constructor's defaults, which differed
#: from the options' for these (CCNCE family: the reference's widths).
LEGACY_DEFAULTS: dict[type, dict[str, object]] = {
    CCNCEConfig: {"d": 256, "audio_encoder": "conv2d", "classifier_layers": 6, "decoder_layers": 4,
                  "decoder_width": 0},
    Speech2GestureConfig: {"d": 256},
}  # fmt: skip


__all__ = [
    "LEGACY_DEFAULTS", "CCNCEConfig", "MeanPoseConfig", "ModelOptions", "NearestNeighbourConfig",
    "Speech2GestureConfig",
]  # fmt: skip
