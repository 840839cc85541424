"""The training objective of the neural CNMF, shared by training and validation.

``AE``: ``rec + w_c (S_c - beta_c)^2 + w_t (S_t - beta_t)^2 + w_Et E_t + w_Ec E_c [+ w_ctc CTC]``
(spec 2.7/8.2, masked). ``VAE``: the negative ELBO per real frame and channel with a Laplace
likelihood of scale ``noise_scale`` and the KL weighted by ``kl_weight`` (annealed in training,
1 in validation), plus the same optional sparsity and CTC terms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gesturekit.units import ops
from gesturekit.units.neural.config import LossConfig
from gesturekit.units.neural.data import Batch
from gesturekit.units.neural.losses import ctc_targets, l1_loss, mse_loss, sparsity_terms
from gesturekit.units.neural.models import AECNMF


def kl_weight(cfg: LossConfig, epoch: int) -> float:
    """Linear KL annealing: ``w_kl * min(1, (epoch + 1) / kl_anneal_epochs)``."""
    if cfg.kl_anneal_epochs <= 0:
        return cfg.w_kl
    return cfg.w_kl * min(1.0, (epoch + 1) / cfg.kl_anneal_epochs)


def objective(
    out: dict[str, torch.Tensor], batch: Batch, cfg: LossConfig, *, beta_kl: float = 1.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(loss, parts)`` for one batch; ``parts`` are detached scalars for logging."""
    x, mask = batch.x, batch.mask
    x_hat, h = out["x_hat"], out["h"]
    rec = l1_loss(x_hat, x, mask) if cfg.reconstruction == "l1" else mse_loss(x_hat, x, mask)
    parts: dict[str, torch.Tensor] = {"rec": rec}
    if "kl" in out:
        b = cfg.noise_scale
        nll = l1_loss(x_hat, x, mask) / b + math.log(2 * b)  # per real frame and channel
        n_frames = mask.sum().clamp_min(1.0)
        kl = out["kl"].sum() / n_frames / x.shape[1]  # per real frame, per channel
        loss = nll + beta_kl * kl
        parts.update(nll=nll, kl=kl, elbo=-(nll + kl) * x.shape[1])  # ELBO per frame
    else:
        loss = rec
    sp = sparsity_terms(h, mask)
    parts.update(sp)
    if cfg.sparse:
        loss = (
            loss
            + cfg.w_c * (sp["S_c"] - cfg.beta_c) ** 2
            + cfg.w_t * (sp["S_t"] - cfg.beta_t) ** 2
            + cfg.w_Et * sp["E_t"]
            + cfg.w_Ec * sp["E_c"]
        )
    if "log_probs" in out and batch.phones is not None:
        seqs = [p[p >= 0] for p in batch.phones]
        keep = [i for i, s in enumerate(seqs) if len(s) > 0]
        if keep:
            targets, t_len = ctc_targets([seqs[i] for i in keep])
            lp = out["log_probs"][:, keep]
            ctc = F.ctc_loss(
                lp,
                targets.to(lp.device),
                batch.lengths[keep].to(torch.long),
                t_len.to(lp.device),
                blank=lp.shape[-1] - 1,
                reduction="mean",
                zero_infinity=True,
            )
            parts["ctc"] = ctc
            loss = loss + cfg.w_ctc * ctc
    parts["loss"] = loss
    return loss, {k: v.detach() for k, v in parts.items()}


def compiled_step(model: torch.nn.Module, net: torch.nn.Module, batch: Batch) -> bool:
    """Whether a training step of ``model`` on ``batch`` is the objective
    :func:`~gesturekit.units.ops.compiled_ae_objective` computes (a plain :class:`AECNMF`: not the
    VAE, no phone head; ``model`` is the network itself, not a distributed wrapper) and the op
    takes it (:func:`~gesturekit.units.ops.takes_compiled_ae_objective`: the backend's conditions)."""
    if not (model is net and type(net) is AECNMF and net.phone_head is None and net.encoder.final_relu):
        return False
    return ops.takes_compiled_ae_objective(batch.x, net.encoder.layers(), net.decoder.parameters())


def training_objective(
    model: torch.nn.Module, net: torch.nn.Module, batch: Batch, cfg: LossConfig, *, beta_kl: float = 1.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``objective(model(batch.x, batch.mask), batch, cfg)`` for a training step (``model``: ``net``
    or its distributed wrapper): where :func:`compiled_step`, the same loss and gradients from
    :func:`~gesturekit.units.ops.compiled_ae_objective`."""
    if compiled_step(model, net, batch):
        dec = net.decoder  # type: ignore[union-attr]
        layers = net.encoder.layers()  # type: ignore[union-attr, operator]
        return ops.compiled_ae_objective(batch.x, batch.lengths, layers, dec.gestures(), dec.centre, cfg)
    return objective(model(batch.x, batch.mask), batch, cfg, beta_kl=beta_kl)
