"""Masked losses and statistics of the neural CNMF (spec 2.7), all differentiable.

Every function takes ``mask`` ``(batch, 1, time)`` (1 = real frame) and ignores padding: a padded
frame enters no mean, no sparseness and no entropy. Hoyer sparseness of a vector ``v`` of length
``n`` is ``(sqrt(n) - |v|_1 / |v|_2) / (sqrt(n) - 1)`` (1 = one non-zero, 0 = flat), with
``1e-6`` added to both norms as in the reference.
"""

from __future__ import annotations

import math

import torch

from gesturekit.units import ops
from gesturekit.units.ops import EPS


def full(mask: torch.Tensor) -> bool:
    """True when ``mask`` has no padded frame (every masked sum is then a plain sum)."""
    return bool(mask.min() > 0)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` ``(batch, C, time)`` over real frames and all ``C``."""
    if full(mask):
        return values.mean()
    m = mask.expand_as(values)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def l1_loss(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return masked_mean((x_hat - x).abs(), mask)


def mse_loss(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return masked_mean((x_hat - x).square(), mask)


def hoyer_from_norms(n: torch.Tensor | float, l1: torch.Tensor, sq: torch.Tensor) -> torch.Tensor:
    """Hoyer sparseness from the sum ``l1`` and the sum of squares ``sq`` of vectors of length ``n``."""
    l2 = (sq + EPS**2).sqrt()  # finite gradient at h = 0; ~ |h|_2 + 1e-6
    rn = math.sqrt(n) if isinstance(n, (int, float)) else n.sqrt()
    return (rn - (l1 + EPS) / l2) / (rn - 1)


def hoyer_per_frame(h: torch.Tensor) -> torch.Tensor:
    """``s_c``: sparseness over gestures at each frame, ``(batch, gestures, time)`` -> ``(batch, time)``.

    ``h`` are scores, non-negative by construction (ReLU / log-normal), so ``|h|_1 = sum h``.
    """
    return hoyer_from_norms(h.shape[1], h.sum(1), h.square().sum(1))


def hoyer_per_gesture(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``s_t``: sparseness of each gesture over the real frames -> ``(batch, gestures)``."""
    n = mask.sum(-1).clamp_min(2.0)  # (batch, 1)
    hm = h if full(mask) else h * mask
    return hoyer_from_norms(n, hm.sum(-1), hm.square().sum(-1))


def sparsity_terms(h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """``S_c``, ``S_t`` (mean Hoyer per frame / per gesture) and the usage terms ``E_c``, ``E_t``.

    ``E_t`` = mean over batch of ``mean_g p log p`` with ``p_g`` proportional to ``1 - s_t + 1e-5``
    (negative usage entropy / G; minimising it spreads use over gestures); ``E_c`` likewise over
    the real frames of each utterance.
    """
    m = mask[:, 0]  # (batch, time)
    l1c, sqc, l1t, sqt = ops.score_norms(h, None if full(mask) else mask)
    s_c = hoyer_from_norms(h.shape[1], l1c, sqc)
    s_t = hoyer_from_norms(mask.sum(-1).clamp_min(2.0), l1t, sqt)
    n_frames = m.sum(-1).clamp_min(1.0)
    S_c = ((s_c * m).sum(-1) / n_frames).mean()
    S_t = s_t.mean()
    p_t = (1 - s_t).clamp_min(0) + 1e-5
    p_t = p_t / p_t.sum(-1, keepdim=True)
    E_t = (p_t * p_t.log()).mean(-1).mean()
    p_c = ((1 - s_c).clamp_min(0) + 1e-5) * m
    p_c = p_c / p_c.sum(-1, keepdim=True).clamp_min(EPS)
    E_c = ((p_c * p_c.clamp_min(1e-30).log()).sum(-1) / n_frames).mean()
    return {"S_c": S_c, "S_t": S_t, "E_t": E_t, "E_c": E_c}


def active_per_frame(h: torch.Tensor, mask: torch.Tensor, rel_threshold: float = 0.01) -> torch.Tensor:
    """Mean number of gestures per real frame above ``rel_threshold`` x the frame's largest score."""
    peak = h.amax(1, keepdim=True)
    active = ((h > rel_threshold * peak) & (peak > 0)).sum(1).to(torch.float32)  # (batch, time)
    m = mask[:, 0]
    return (active * m).sum() / m.sum().clamp_min(1.0)


def ctc_targets(phone_ids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """De-duplicated phone sequences (consecutive repeats merged) -> ``(concatenated, lengths)``."""
    seqs = [torch.unique_consecutive(p) if p.numel() else p for p in phone_ids]
    return torch.cat(seqs).to(torch.long), torch.tensor([len(s) for s in seqs], dtype=torch.long)
