"""Gesture initialisation from k-means of windows of the training data (spec 2.4, fixed).

Every frame ``t`` of every utterance gives one "super-vector": the ``width``-frame window centred
on it (the utterance zero-padded at both ends, per utterance, not across utterances), flattened
channel-major (index ``a * width + k``). Up to ``max_windows`` of them (a seeded random subset,
not the first ones) are clustered by vectorised Lloyd iterations in torch from a seeded
k-means++ start; the ``(gestures, channels * width)`` centres reshape to ``(gestures, channels,
width)`` and permute to the decoder's ``(channels, gestures, width)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gesturekit.errors import DataError


def window_vectors(x: torch.Tensor, width: int) -> torch.Tensor:
    """``(time, channels)`` -> ``(time, channels * width)``: the centred window at every frame.

    Row ``t`` reshaped to ``(channels, width)`` is ``x[t - c : t - c + width].T`` with
    ``c = (width - 1) // 2`` and zeros outside the utterance.
    """
    c = (width - 1) // 2
    xt = x.T.unsqueeze(0)  # (1, channels, time)
    padded = F.pad(xt, (c, width - 1 - c))
    win = padded.unfold(-1, width, 1)[0]  # (channels, time, width)
    return win.permute(1, 0, 2).reshape(x.shape[0], -1)


def kmeans(
    data: torch.Tensor, k: int, *, iters: int = 50, seed: int = 0, tol: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with a seeded k-means++ start: ``(centres (k, dim), labels (n,))``.

    An empty cluster is re-seeded with the point farthest from its centre.
    """
    n = data.shape[0]
    if n < k:
        raise DataError(f"k-means needs at least {k} windows, got {n}")
    g = torch.Generator().manual_seed(int(seed))
    data = data.to(torch.float32)
    centres = torch.empty(k, data.shape[1])
    centres[0] = data[torch.randint(n, (1,), generator=g)]
    d2 = torch.cdist(data, centres[:1]).square().squeeze(1)
    for i in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / n)
        idx = torch.multinomial(probs, 1, generator=g)
        centres[i] = data[idx]
        d2 = torch.minimum(d2, (data - centres[i]).square().sum(1))
    labels = torch.zeros(n, dtype=torch.long)
    for _ in range(iters):
        dist = torch.cdist(data, centres)
        labels = dist.argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, labels, data)
        counts = torch.bincount(labels, minlength=k).to(data.dtype)
        new = sums / counts.clamp_min(1)[:, None]
        empty = counts == 0
        if empty.any():
            far = dist.gather(1, labels[:, None]).squeeze(1).argsort(descending=True)
            new[empty] = data[far[: int(empty.sum())]]
        shift = (new - centres).square().sum() / centres.square().sum().clamp_min(1e-12)
        centres = new
        if shift < tol:
            break
    return centres, labels


def kmeans_gestures(
    arrays: Sequence[np.ndarray | torch.Tensor],
    gestures: int,
    width: int,
    *,
    max_windows: int = 100_000,
    iters: int = 50,
    seed: int = 0,
) -> torch.Tensor:
    """Gestures ``(channels, gestures, width)`` from k-means of the windows of ``arrays``.

    ``arrays`` are normalised ``(time, channels)`` utterances.
    """
    vecs = torch.cat([window_vectors(torch.as_tensor(a, dtype=torch.float32), width) for a in arrays])
    if vecs.shape[0] > max_windows:
        g = torch.Generator().manual_seed(int(seed) + 1)
        vecs = vecs[torch.randperm(vecs.shape[0], generator=g)[:max_windows]]
    centres, _ = kmeans(vecs, gestures, iters=iters, seed=seed)
    channels = int(torch.as_tensor(arrays[0]).shape[1])
    return centres.reshape(gestures, channels, width).permute(1, 0, 2).contiguous()
