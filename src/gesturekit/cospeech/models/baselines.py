"""Sanity baselines behind the generator interface: the mean pose and the nearest neighbour.

Both are ``nn.Module`` s whose "training" is :meth:`fit` on the training windows (buffers, so
they checkpoint like any model) and whose ``forward(audio, text)`` returns ``(B, T, P)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gesturekit.cospeech.models.config import MeanPoseConfig, NearestNeighbourConfig


class MeanPose(nn.Module):
    """Predicts the training mean pose at every frame."""

    trainable = False
    reads_text = False

    def __init__(self, config: MeanPoseConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.pose_dim))

    def fit(self, audio: np.ndarray, text: np.ndarray, pose: np.ndarray) -> MeanPose:
        self.mean.copy_(torch.as_tensor(pose.reshape(-1, pose.shape[-1]).mean(0)))
        return self

    def forward(self, audio, text=None, pose=None, labels=None, epoch: int = 0):  # noqa: ANN001, ANN201
        B, T = audio.shape[:2]
        return self.mean.expand(B, T, -1).clone(), {}, {}


class NearestNeighbour(nn.Module):
    """Returns the pose window of the training window whose speech (audio + text features,
    frame-wise, z-scored) is nearest in Euclidean distance to the query's."""

    trainable = False

    def __init__(self, config: NearestNeighbourConfig) -> None:
        super().__init__()
        self.config = config
        f = config.audio_dim + config.text_dim
        self.register_buffer("keys", torch.zeros(0, config.window * f))
        self.register_buffer("poses", torch.zeros(0, config.window, config.pose_dim))
        self.register_buffer("mu", torch.zeros(f))
        self.register_buffer("sd", torch.ones(f))

    def _key(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        x = torch.cat([audio, text.to(audio.dtype)], -1)
        return ((x - self.mu) / self.sd).flatten(1)

    def fit(self, audio: np.ndarray, text: np.ndarray, pose: np.ndarray) -> NearestNeighbour:
        x = np.concatenate([audio, text], -1).reshape(-1, audio.shape[-1] + text.shape[-1])
        self.mu = torch.as_tensor(x.mean(0), dtype=torch.float32)
        self.sd = torch.as_tensor(np.where(x.std(0) > 1e-8, x.std(0), 1.0), dtype=torch.float32)
        self.keys = self._key(torch.as_tensor(audio), torch.as_tensor(text))
        self.poses = torch.as_tensor(pose, dtype=torch.float32)
        return self

    def forward(self, audio, text=None, pose=None, labels=None, epoch: int = 0):  # noqa: ANN001, ANN201
        T = audio.shape[1]
        if self.poses.shape[1] != T:  # longer input: window by window
            n = -(-T // self.poses.shape[1])
            w = self.poses.shape[1]
            pad = n * w - T
            a = torch.nn.functional.pad(audio, (0, 0, 0, pad), mode="replicate").reshape(-1, w, audio.shape[-1])
            t = torch.nn.functional.pad(text, (0, 0, 0, pad), mode="replicate").reshape(-1, w, text.shape[-1])
            out = self.forward(a, t)[0].reshape(audio.shape[0], n * w, -1)[:, :T]
            return out, {}, {}
        d = torch.cdist(self._key(audio, text), self.keys)
        return self.poses[d.argmin(1)].clone(), {}, {}
