"""Generators: the CC-NCE model (with its contrastive variants) and Speech2Gesture.

Every generator maps ``audio`` ``(B, T, F)`` log-mel frames at pose rate and ``text``
``(B, T, D)`` frame-aligned word features (or ``(B, T)`` token ids) to poses ``(B, T, P)``
(normalised space) and returns ``(poses, losses, extras)``: ``losses`` the internal loss
terms (cluster cross-entropy, contrastive) by name, ``extras`` the cluster logits
``(B, T, K)`` and the latent ``z`` ``(B, C, T)``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gesturekit.cospeech.models.config import CCNCEConfig, Speech2GestureConfig
from gesturekit.cospeech.models.contrastive import ClusteredContrast, MoCoQueue, momentum_update, patch_nce
from gesturekit.cospeech.models.layers import (
    AudioEncoder2D,
    CausalTCN,
    ClusterClassifier,
    ConvNormRelu,
    GaussianSmoothing,
    MixtureDecoder,
    PoseEncoder,
    SpeechTextEncoder,
    UNet1D,
)
from gesturekit.errors import ConfigError
from gesturekit.precision import float32

CONTRASTIVE = ("ccnce", "none", "moco", "patchwise")


class CCNCEGenerator(nn.Module):
    """CC-NCE generator (reference ``JointLateClusterSoftContrastiveGlobalDTW_G`` and variants),
    built from its :class:`~gesturekit.cospeech.models.config.CCNCEConfig`.

    speech/text encoder (or, under the curriculum, the pose encoder) -> contrastive module
    around a 1-D U-Net -> cluster classifier -> mixture of K cluster decoders.
    ``contrastive``: "ccnce" (clustered cross-modal NCE), "none" (the mixture model without a
    contrastive term and without the pose curriculum, reference
    ``JointLateClusterSoftTransformer12_G``), "moco" (two noisy views, momentum U-Net, queue),
    "patchwise" (PatchNCE between the speech latent and the re-encoded generated pose).
    """

    def __init__(self, config: CCNCEConfig) -> None:
        super().__init__()
        c = self.config = config
        if c.contrastive not in CONTRASTIVE:
            raise ConfigError(f"contrastive must be one of {list(CONTRASTIVE)}, got {c.contrastive!r}")
        if c.pose_dim < 1:
            raise ConfigError(f"pose_dim must be >= 1, got {c.pose_dim}")
        if c.causal and (c.use_text or c.contrastive == "patchwise"):
            raise ConfigError(
                "a causal model (causal: true) takes audio only (use_text: false; the word-fusion attention "
                "runs over whole windows) and no patchwise contrast (its patches are strided); got "
                f"use_text={c.use_text}, contrastive={c.contrastive!r}"
            )
        if c.output_smoothing < 0 or (c.output_smoothing and c.causal):
            raise ConfigError(
                "output_smoothing (a Gaussian sigma in frames) must be >= 0, and 0 for a causal model (the "
                f"filter looks ahead); got {c.output_smoothing} with causal={c.causal}"
            )
        if c.lookahead < 0 or (c.lookahead and not c.causal):
            raise ConfigError(f"lookahead (frames) must be >= 0 and needs causal: true, got {c.lookahead}")
        # causal: every layer on the inference path sees frames <= t + lookahead only (no U-Net, no
        # attention); the poses of frame t are final once audio frame t + lookahead is in.
        self.causal, self.lookahead, self.streaming = c.causal, c.lookahead, False
        audio_encoder = "causal1d" if c.causal else c.audio_encoder
        d, dropout = c.d, c.dropout
        self.pose_dim, self.num_clusters, self.d, self.window = c.pose_dim, c.num_clusters, d, c.window
        self.contrastive = c.contrastive
        self.reads_text = c.use_text  # False: the text input is ignored
        self.speech = SpeechTextEncoder(
            c.text_dim, d, c.text_mode, c.use_text, c.fusion_ff, 2, dropout, c.freq_pool, audio_encoder,
            c.audio_dim,
        )  # fmt: skip
        self.curriculum = c.curriculum and c.contrastive != "none"
        self.pose_encoder = (
            PoseEncoder(c.pose_dim, d, dropout) if self.curriculum or c.contrastive == "patchwise" else None
        )
        self.register_buffer("curriculum_step", torch.zeros((), dtype=torch.long))
        self.curriculum_iters = max(1, c.curriculum_iters)
        self.noise = c.noise
        self.unet_bypass_epochs = c.unet_bypass_epochs
        self.unet = CausalTCN(d, 5, dropout) if c.causal else UNet1D(d, 5, dropout)
        self.classifier = ClusterClassifier(d, c.num_clusters, dropout, c.classifier_layers, c.causal)
        self.decoder = MixtureDecoder(
            d, c.pose_dim, c.num_clusters, dropout, c.decoder_layers, c.decoder_width, c.causal
        )
        self.smooth = GaussianSmoothing(c.output_smoothing) if c.output_smoothing > 0 else None
        self.cc = (
            ClusteredContrast(
                c.cc_form,
                c.cc_temperature,
                c.cc_memory,
                c.cc_max_clusters,
                c.cc_stat_epoch,
                c.dtw,
                keys=c.cc_keys,
                seed=c.seed,
                similarity=c.cc_similarity,
                positives=c.cc_positives,
                threshold_std=c.cc_threshold_std,
                num_clusters=c.num_clusters,
            )
            if c.contrastive == "ccnce"
            else None
        )
        if c.contrastive == "moco":
            self.unet_k = copy.deepcopy(self.unet)
            for p in self.unet_k.parameters():
                p.requires_grad_(False)
            self.queue = MoCoQueue(c.moco_queue, c.window, d)
            self.moco_m, self.moco_t = c.moco_momentum, c.moco_temperature
        if c.contrastive == "patchwise":
            self.pre = nn.Conv1d(d, d, 1)
            self.patch_mlps = nn.ModuleList([self._patch_mlp(d) for _ in range(3)])
            self.patch_t = c.patch_temperature

    @staticmethod
    def _patch_mlp(d: int) -> nn.Module:
        convs = [ConvNormRelu(d, d, downsample=True) for _ in range(3)]
        return nn.Sequential(*convs, nn.Flatten(), nn.Linear(d, d))

    # -- pieces -------------------------------------------------------------------------------
    def curriculum_threshold(self) -> float:
        return min(1.0, float(self.curriculum_step) / self.curriculum_iters)

    def encode(self, audio: torch.Tensor, text: torch.Tensor | None, pose: torch.Tensor | None) -> torch.Tensor:
        """``(B, C, T)`` latent: the speech/text encoder, or under the curriculum the pose encoder."""
        if self.training and self.curriculum and pose is not None:
            thr = self.curriculum_threshold()
            self.curriculum_step += 1
            if float(torch.rand(())) > thr:
                return self.pose_encoder(pose)
        if self.lookahead and not self.streaming:  # a stream feeds frames already lookahead ahead
            audio = lookahead_shift(audio, self.lookahead)
        return self.speech(audio, text, self.window)

    def _unit(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.unet(x), dim=1)

    def forward(
        self,
        audio: torch.Tensor,
        text: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        epoch: int = 0,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        h = self.encode(audio, text, pose)
        losses: dict[str, torch.Tensor] = {}
        train = self.training and pose is not None
        levels = None
        if self.contrastive == "none":
            z = self.unet(h)
        elif self.contrastive == "ccnce":
            if not train:
                z = self._unit(h)
            else:
                q = h + self.noise * torch.randn_like(h)
                if epoch < self.unet_bypass_epochs:
                    z = q
                else:
                    z = self._unit(q)
                    stored = z if self.cc.keys == "stored" else q
                    with float32(z):  # similarities / temperature and the memory bank: float32 (bf16 runs)
                        losses["cc_nce"] = self.cc(
                            z.float().transpose(1, 2), stored.detach().float().transpose(1, 2), pose, epoch,
                            encode=lambda s: self._unit(s.transpose(1, 2)).transpose(1, 2), labels=labels,
                        )  # fmt: skip
        elif self.contrastive == "moco":
            if not train:
                z = self._unit(h)
            else:
                q1 = h + self.noise * torch.randn_like(h)
                q2 = h + self.noise * torch.randn_like(h)
                z, z2 = self._unit(q1), self._unit(q2)
                with torch.no_grad():
                    momentum_update(self.unet, self.unet_k, self.moco_m)
                    k1 = F.normalize(self.unet_k(q1), dim=1).transpose(1, 2)
                    k2 = F.normalize(self.unet_k(q2), dim=1).transpose(1, 2)
                if k1.shape[1] == self.queue.queue.shape[1]:
                    k1, k2 = k1.float(), k2.float()
                    with float32(z):
                        losses["moco"] = self.queue.loss(
                            z.float().transpose(1, 2), k2, self.moco_t
                        ) + self.queue.loss(z2.float().transpose(1, 2), k1, self.moco_t)
                    self.queue.enqueue(k1)
                    self.queue.enqueue(k2)
        else:  # patchwise
            z, levels = self.unet(self.pre(h), return_levels=True)
        logits = self.classifier(z).float()
        weights = logits.softmax(-1)  # float32: the mixture of the cluster decoders is float32 (bf16 runs)
        out = self.decoder(z, weights)
        if self.smooth is not None:
            out = self.smooth(out)
        if labels is not None:
            losses["cluster_ce"] = F.cross_entropy(logits.reshape(-1, self.num_clusters), labels.reshape(-1))
        if self.contrastive == "patchwise" and train:
            losses["patch_nce"] = self._patch_loss(levels, out)
        return out, losses, {"logits": logits, "z": z}

    def _patch_loss(self, keys: list[torch.Tensor], generated: torch.Tensor) -> torch.Tensor:
        _, queries = self.unet(self.pre(self.pose_encoder(generated)), return_levels=True)
        total = generated.new_zeros(())
        used = 0
        for k, q in zip(keys, queries, strict=True):
            T = k.shape[-1]
            if T - 8 <= 5:
                continue
            starts = torch.randperm(len(range(0, T - 8, 5)))[:5] * 5
            idx = starts[:, None] + torch.arange(8)
            mlp = self.patch_mlps[min(used, len(self.patch_mlps) - 1)]
            pq, pk = _patches(q, idx, mlp), _patches(k, idx, mlp)
            with float32(pq):
                total = total + patch_nce(pq.float(), pk.float(), self.patch_t)
            used += 1
        return total


def lookahead_shift(audio: torch.Tensor, frames: int) -> torch.Tensor:
    """``(B, T, F)`` -> the same frames advanced by ``frames`` (frame t gets frame t + frames), the
    last frame repeated past the end (as generation pads a recording), so that a causal network
    on the result sees ``frames`` frames ahead."""
    ahead = audio[:, frames:]
    pad = audio[:, -1:].expand(-1, audio.shape[1] - ahead.shape[1], -1)
    return torch.cat([ahead, pad], 1)


def _patches(x: torch.Tensor, idx: torch.Tensor, mlp: nn.Module) -> torch.Tensor:
    """``(B, C, T)`` features, ``(n, 8)`` frame indices -> ``(B, n, C)`` patch embeddings."""
    B, C = x.shape[:2]
    p = x[:, :, idx].permute(0, 2, 1, 3).reshape(-1, C, idx.shape[1])
    return mlp(p).view(B, -1, C)


class Speech2GestureGenerator(nn.Module):
    """Speech2Gesture baseline: audio-only 2-D conv encoder -> 1-D U-Net -> conv decoder.

    ``(B, T, F)`` audio (text ignored) -> ``(B, T, P)``; no internal losses.
    """

    reads_text = False

    def __init__(self, config: Speech2GestureConfig) -> None:
        super().__init__()
        self.config = config
        d, dropout = config.d, config.dropout
        self.pose_dim = config.pose_dim
        self.audio = AudioEncoder2D(d, dropout)
        self.unet = UNet1D(d, 5, dropout)
        self.decoder = nn.Sequential(
            *[ConvNormRelu(d, d, p=dropout) for _ in range(4)], nn.Conv1d(d, config.pose_dim, 1)
        )

    def forward(self, audio, text=None, pose=None, labels=None, epoch: int = 0):  # noqa: ANN001, ANN201
        z = self.unet(self.audio(audio))
        return self.decoder(z).transpose(1, 2), {}, {"z": z}
