"""Fréchet Gesture Distance with a pose auto-encoder that gesturekit trains and stores.

FGD = Fréchet distance between Gaussians fitted to the encoder features of windows of
generated vs real motion. No standard encoder exists for PATS's 2-D keypoints, so the value
depends on the encoder: its recipe (:class:`FGDRecipe`), seed and weights are fixed, and the
encoder's ``name`` (recipe, seed and the first digits of the weights' SHA-256) is written beside
every FGD value. Training is deterministic: the same recipe, seed and data give the same
weights bit for bit (one CPU thread, seeded initialisation and shuffling).

Encoder input: windows of ``window`` frames of the metric joints (root set to 0), z-scored with
the training data's per-coordinate mean/std (stored with the weights). Stored as a gesturekit
checkpoint (``NAME.safetensors`` + ``NAME.json``).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gesturekit.checkpoint import load_checkpoint, save_checkpoint
from gesturekit.cospeech.evaluation.frechet import frechet_from_features
from gesturekit.errors import DataError, FormatError
from gesturekit.runtime import torch_threads
from gesturekit.train.data import EpochSampler
from gesturekit.train.loop import LoopConfig, Trainer


@dataclass(frozen=True)
class FGDRecipe:
    """Everything that fixes the encoder: architecture, windows, optimisation, seed."""

    window: int = 32
    hop: int = 8
    channels: int = 64
    latent: int = 32
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0


class PoseAutoEncoder(nn.Module):
    """Conv auto-encoder over pose windows.

    Input ``(batch, features, window)``; ``encode`` -> ``(batch, latent)``; ``forward`` returns the
    reconstruction ``(batch, features, window)``. ``window`` must be divisible by 4.
    """

    def __init__(self, features: int, window: int, channels: int, latent: int) -> None:
        super().__init__()
        if window % 4:
            raise ValueError(f"FGD window must be divisible by 4, got {window}")
        self.window, self.channels = window, channels
        act = nn.LeakyReLU(0.2)
        self.enc = nn.Sequential(
            nn.Conv1d(features, channels, 3, padding=1), act,
            nn.Conv1d(channels, channels, 4, stride=2, padding=1), act,
            nn.Conv1d(channels, channels, 4, stride=2, padding=1), act,
        )  # fmt: skip
        self.to_latent = nn.Linear(channels * window // 4, latent)
        self.from_latent = nn.Linear(latent, channels * window // 4)
        self.dec = nn.Sequential(
            act, nn.ConvTranspose1d(channels, channels, 4, stride=2, padding=1),
            act, nn.ConvTranspose1d(channels, channels, 4, stride=2, padding=1),
            act, nn.Conv1d(channels, features, 3, padding=1),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.enc(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(self.encode(x)).view(len(x), self.channels, self.window // 4)
        return self.dec(h)


def _prepare(seqs: Sequence[np.ndarray], joints: np.ndarray, roots: np.ndarray) -> list[np.ndarray]:
    out = []
    for s in seqs:
        x = np.array(s, dtype=np.float64, copy=True)
        x[:, roots] = 0.0
        out.append(x[:, joints].reshape(len(x), -1))
    return out


def _windows(flat: Sequence[np.ndarray], window: int, hop: int) -> np.ndarray:
    """All windows ``(N, window, F)`` of every sequence (hop ``hop``; shorter sequences give none)."""
    parts = [
        np.lib.stride_tricks.sliding_window_view(x, window, axis=0)[::hop].transpose(0, 2, 1)
        for x in flat
        if len(x) >= window
    ]
    if not parts:
        return np.zeros((0, window, flat[0].shape[1] if len(flat) else 0))
    return np.concatenate(parts, axis=0)


@dataclass
class FGDEncoder:
    model: PoseAutoEncoder
    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    joints: np.ndarray
    roots: np.ndarray
    recipe: FGDRecipe
    trained_on: str
    final_loss: float

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for k, v in sorted(self.model.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
        h.update(self.mean.tobytes())
        h.update(self.std.tobytes())
        return h.hexdigest()

    @property
    def name(self) -> str:
        r = self.recipe
        return f"gk-poseae-w{r.window}-z{r.latent}-seed{r.seed}-{self.sha256[:12]}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "recipe": asdict(self.recipe),
            "seed": self.recipe.seed,
            "weights_sha256": self.sha256,
            "trained_on": self.trained_on,
            "final_loss": self.final_loss,
        }

    def features(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Encoder features ``(N_windows, latent)`` of every window of ``seqs`` (each ``(T, J, D)``)."""
        flat = [(x - self.mean) / self.std for x in _prepare(seqs, self.joints, self.roots)]
        win = _windows(flat, self.recipe.window, self.recipe.hop)
        if len(win) == 0:
            return np.zeros((0, self.recipe.latent))
        with torch.no_grad(), torch_threads(1):
            x = torch.from_numpy(win.transpose(0, 2, 1).astype(np.float32))
            return self.model.encode(x).double().numpy()

    def fgd(self, gen: Sequence[np.ndarray], gt: Sequence[np.ndarray]) -> float:
        fg, fr = self.features(gen), self.features(gt)
        if len(fg) < 2 or len(fr) < 2:
            return float("nan")
        return frechet_from_features(fg, fr)

    def save(self, path: str | Path) -> Path:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors["mean"] = torch.from_numpy(self.mean.astype(np.float64))
        tensors["std"] = torch.from_numpy(self.std.astype(np.float64))
        meta = self.describe() | {
            "kind": "gesturekit-fgd-encoder",
            "features": int(self.mean.shape[0]),
            "joints": self.joints.tolist(),
            "roots": self.roots.tolist(),
        }
        return save_checkpoint(path, tensors, meta)

    @classmethod
    def load(cls, path: str | Path) -> FGDEncoder:
        tensors, meta = load_checkpoint(path)
        if meta.get("kind") != "gesturekit-fgd-encoder":
            raise FormatError(path, "not a gesturekit FGD encoder checkpoint")
        recipe = FGDRecipe(**meta["recipe"])
        model = PoseAutoEncoder(int(meta["features"]), recipe.window, recipe.channels, recipe.latent)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        model.eval()
        enc = cls(
            model, tensors["mean"].numpy(), tensors["std"].numpy(), np.array(meta["joints"]),
            np.array(meta["roots"]), recipe, meta.get("trained_on", ""), float(meta.get("final_loss", np.nan)),
        )  # fmt: skip
        if enc.sha256 != meta.get("weights_sha256"):
            raise FormatError(path, "FGD encoder weights do not match their recorded SHA-256")
        return enc


@dataclass
class _RecipeOrder(EpochSampler):
    """The recipe's batch order: epoch ``e`` takes the ``e + 1``-th permutation drawn from one
    generator seeded with the recipe's seed (the order encoders were always trained in, so a recipe
    and seed still give the same weights)."""

    _drawn: list[list[int]] = field(default_factory=list, init=False, repr=False)
    _gen: torch.Generator | None = field(default=None, init=False, repr=False)

    def _order(self, epoch: int, repeat: int) -> list[int]:
        if self._gen is None:
            self._gen = torch.Generator().manual_seed(self.seed)
        while len(self._drawn) <= epoch:
            self._drawn.append(torch.randperm(self.n_items, generator=self._gen).tolist())
        return self._drawn[epoch]


def train_fgd_encoder(
    seqs: Sequence[np.ndarray],
    joints: np.ndarray,
    roots: np.ndarray,
    recipe: FGDRecipe | None = None,
    trained_on: str = "",
) -> FGDEncoder:
    """Train the pose auto-encoder on real motion ``seqs`` (each ``(T, J, D)``), deterministically."""
    recipe = recipe or FGDRecipe()
    flat = _prepare(seqs, joints, roots)
    allf = np.concatenate(flat, axis=0)
    mean = allf.mean(axis=0)
    std = allf.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    win = _windows([(x - mean) / std for x in flat], recipe.window, recipe.hop)
    if len(win) < 2:
        raise DataError(
            f"FGD encoder: need sequences of at least {recipe.window} frames (got {len(win)} training windows)"
        )
    data = torch.from_numpy(win.transpose(0, 2, 1).astype(np.float32))
    # the shared training engine runs the epochs; its state goes to a folder dropped afterwards
    with torch_threads(1), tempfile.TemporaryDirectory(prefix="gesturekit-fgd-") as state:
        torch.manual_seed(recipe.seed)
        model = PoseAutoEncoder(data.shape[1], recipe.window, recipe.channels, recipe.latent)
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
        sampler = _RecipeOrder(len(data), recipe.batch_size, seed=recipe.seed)
        loop = LoopConfig(epochs=recipe.epochs, monitor="loss", patience=0, progress=False)
        trainer = Trainer(
            state, modules={"encoder": model}, optimizers={"encoder": opt}, sampler=sampler, config=loop
        )
        last = {"loss": 0.0}

        def train_batch(indices: list[int], epoch: int) -> dict[str, float]:
            batch = data[torch.as_tensor(indices)]
            loss = (model(batch) - batch).abs().mean()
            trainer.backward_step(loss, "encoder")
            last["loss"] = float(loss.detach())
            return last

        trainer.fit(train_batch, lambda epoch: last)
        model.eval()
    final = last["loss"]
    return FGDEncoder(model, mean, std, np.asarray(joints), np.asarray(roots), recipe, trained_on, final)
